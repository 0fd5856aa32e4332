"""Transfer mode: targeted noise crafted on surrogate models, meant to fool models it never saw.

Work in progress (issue 12): the config is the public contract; the attack follows.
"""

from __future__ import annotations

from dataclasses import dataclass

TRANSFER_LOSSES = ("logit", "ce")
DEFAULT_SURROGATES = ("efficientnet-lite0", "efficientnet-lite1")


@dataclass(frozen=True, kw_only=True)
class TransferConfig:
    """Settings of one transfer attack (all switches of the known transfer machinery)."""

    eps: float = 16.0  # L-inf budget, 1/255 units
    iterations: int = 300  # gradient iterations on the surrogate ensemble
    surrogates: tuple[str, ...] = DEFAULT_SURROGATES  # model names; the judge is never among them
    loss: str = "logit"  # "logit": minus the target logit (Zhao et al. 2021); "ce": cross-entropy
    step_size: float | None = None  # 1/255 units per iteration; None: eps / 8
    momentum: float = 1.0  # MI-FGSM decay factor; 0 disables momentum
    diversity: float = 0.7  # DI: probability of a random resize-and-pad per iteration; 0 disables
    ti_kernel: int = 5  # TI: Gaussian gradient smoothing kernel (model-input pixels); 0 or 1 disables
    centroid_weight: float = 0.0  # pull intermediate features toward the target's nearest centre
    shrink: bool = True  # afterwards, shrink the noise while every surrogate stays fooled
    seed: int = 0

    @property
    def mode(self) -> str:
        return "transfer"

    def __post_init__(self) -> None:
        if isinstance(self.surrogates, list):
            object.__setattr__(self, "surrogates", tuple(self.surrogates))
        checks = [
            (0 < self.eps <= 255, "eps must be in (0, 255] (1/255 units)"),
            (self.iterations >= 1, "iterations must be at least 1"),
            (len(self.surrogates) >= 1, "give at least one surrogate model"),
            (self.loss in TRANSFER_LOSSES, f"loss must be one of {', '.join(TRANSFER_LOSSES)}"),
            (self.step_size is None or self.step_size > 0, "step_size must be > 0"),
            (self.momentum >= 0, "momentum must be >= 0"),
            (0 <= self.diversity <= 1, "diversity must be a probability in [0, 1]"),
            (self.ti_kernel >= 0, "ti_kernel must be >= 0"),
            (self.centroid_weight >= 0, "centroid_weight must be >= 0"),
        ]
        for ok, message in checks:
            if not ok:
                raise ValueError(message)

    @property
    def alpha(self) -> float:
        """Step size in 1/255 units."""
        return self.step_size if self.step_size is not None else self.eps / 8
