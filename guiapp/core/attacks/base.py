"""What every attack shares: the step record, the result, the running loop's interface and
the strategy that describes a mode to the pipeline and the front-ends.

An attack *mode* is an `AttackStrategy`: its config type, how it loads the models it
crafts on, what it needs in memory, how many steps it may take, how it describes itself,
and how it builds the running `AttackLoop`. Front-ends never branch on a mode: they ask
the strategy (guiapp.core.attacks.strategy_of(config)). A new mode is one new module that
defines a config, a loop (or reuses one) and a strategy, and registers it.
"""

from __future__ import annotations

import threading
from abc import ABC, abstractmethod
from collections.abc import Iterator
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, ClassVar

import numpy as np
import torch

from ..centroids import Centroids
from ..criteria import Criterion, TargetedTop1
from ..memory import Footprint
from ..models import Classifier
from ..preprocess import tensor_to_image

CentroidsArg = str | Path | Centroids | None  # "auto", a file or folder, loaded centroids, or None (off)


@dataclass(frozen=True)
class StepRecord:
    """What one step reports; plain Python values so it can cross threads as-is."""

    step: int
    phase: str  # "search", "refine", "transfer", "shrink"
    loss: float
    class_loss: float
    centroid_loss: float
    target_conf: float
    source_conf: float
    top1: int
    linf: float  # 1/255 units, of the 8-bit image
    psnr: float  # dB, of the 8-bit image
    adversarial: bool  # this step's 8-bit image meets the target in the attack's own view
    best_psnr: float  # best adversarial PSNR so far (nan before the first)


@dataclass
class AttackResult:
    adversarial: np.ndarray  # (H, W, 3) uint8
    success: bool  # passed the attack's own criterion on the 8-bit image
    cancelled: bool
    steps: int
    source: int
    target: int
    target_conf: float  # PIL-path probability of the target
    top1: int  # PIL-path top-1 of the adversarial image
    top1_conf: float
    history: list[StepRecord] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)  # what the loop chose that a user should know
    # A victim's questions and answers (query mode; None in the modes that ask nobody).
    queries: list[dict[str, Any]] | None = None
    # Each crafting model's own verdict on the 8-bit result, when several craft (transfer):
    # {"model", "top1_name", "confidence", "target_conf"}; an average is nobody's verdict.
    seen_by: list[dict[str, Any]] = field(default_factory=list)


class AttackLoop(ABC):
    """`for record in attack.steps(): ...` then `attack.result`; `cancel()` from any thread.

    The GUI worker, the CLI's progress bar, batch and the HTTP jobs all drive an attack
    through exactly this interface.
    """

    def __init__(self) -> None:
        self._cancel = threading.Event()
        self.result: AttackResult | None = None
        self._current: torch.Tensor | None = None

    @abstractmethod
    def steps(self) -> Iterator[StepRecord]:
        """Run the attack, one record per step; `result` is set when it ends."""

    def cancel(self) -> None:
        self._cancel.set()

    @property
    def cancelled(self) -> bool:
        return self._cancel.is_set()

    def current_image(self) -> np.ndarray | None:
        """The 8-bit image of the latest step, (H,W,3) uint8, for live previews.
        Call it from the thread iterating `steps()`, between steps."""
        return None if self._current is None else tensor_to_image(self._current)


def check_image_and_target(image: np.ndarray, target: int, num_classes: int) -> None:
    if image.dtype != np.uint8 or image.ndim != 3 or image.shape[2] != 3:
        raise ValueError("image must be an (H, W, 3) uint8 array")
    if not 0 <= target < num_classes:
        raise ValueError(f"target {target} outside 0..{num_classes - 1}")


@dataclass
class Prepared:
    """What a strategy made of the caller's centroid argument: the config to run (a term
    may have been switched off), the centroid data for `build`, notes for the report."""

    config: Any
    centroids: Any
    notes: list[str]
    used: bool  # does the attack use class centroids


class AttackStrategy(ABC):
    """One attack mode, as the pipeline and every front-end see it."""

    mode: ClassVar[str]  # the name users type: --mode NAME, mode=NAME
    config_type: ClassVar[type]
    summary: ClassVar[str]  # one or two lines for help texts and tooltips
    # Named option sets one switch away (name -> the options it sets; the first is the
    # config's own defaults); the front-ends offer them as --preset / `preset` / a combo box.
    presets: ClassVar[dict[str, dict[str, Any]]] = {}
    # True: crafts on the user's chosen model; False: on models of its own (the transfer
    # surrogates), and the chosen model is never loaded.
    uses_chosen_model: ClassVar[bool] = True

    # -- models ---------------------------------------------------------------------------
    def crafter_names(self, config: Any, model_name: str) -> tuple[str, ...]:
        """The models that craft the noise (and must see the target in the saved file)."""
        return (model_name,)

    @abstractmethod
    def load_crafters(self, config: Any, model: Classifier | str, device: str | torch.device | None,
                      weights: str | Path | None) -> list[Classifier]:
        """Load (or reuse) the crafting models."""

    # -- resources ------------------------------------------------------------------------
    @abstractmethod
    def estimate_bytes(self, config: Any, footprint: Footprint) -> int:
        """Peak memory the attack adds on an image: its pixels and each crafting model's
        resized view of it (guiapp.core.memory.Footprint)."""

    @abstractmethod
    def step_budget(self, config: Any) -> int:
        """The most steps a run can take (progress bars, servers' step caps)."""

    def stops_early(self, config: Any) -> bool:
        """True when a run usually ends long before its budget (it stops at success)."""
        return False

    def budget_text(self, config: Any) -> str:
        """The step budget in words, for a progress line of a run that stops early."""
        return f"at most {self.step_budget(config)} steps"

    # -- centroids ------------------------------------------------------------------------
    @abstractmethod
    def prepare_centroids(self, config: Any, crafters: list[Classifier], centroids: CentroidsArg) -> Prepared:
        """Resolve the caller's centroid argument for this mode."""

    @abstractmethod
    def centroids_fingerprint(self, config: Any, model_name: str, centroids: CentroidsArg) -> str | None:
        """Identify the centroid data a run would read (None: none), for batch resume keys."""

    # -- the run --------------------------------------------------------------------------
    @abstractmethod
    def build(self, config: Any, crafters: list[Classifier], image: np.ndarray, target: int, source: int,
              centroids: Any) -> AttackLoop:
        """The attack loop for one image (uint8 HxWx3) toward class `target`."""

    # True: `run_together` batches the models' passes across images (worth it on a GPU).
    batches_images: ClassVar[bool] = False

    def run_together(self, loops: list[AttackLoop]) -> Iterator[tuple[int, StepRecord]]:
        """Run several images' loops (same config and models); yields (index, record).
        Here one after another; a mode that can batch its models' passes overrides it."""
        for index, loop in enumerate(loops):
            for record in loop.steps():
                yield index, record

    def required_confidence(self, config: Any) -> float:
        """Target probability every crafting model must give the saved file."""
        return 0.0

    def criterion(self, config: Any, target: int) -> Criterion:
        """What every crafting model must say of the saved file for the run to succeed."""
        return TargetedTop1(target, self.required_confidence(config))

    def saved_success(self, plan: Any, result: AttackResult, crafter_probs: list[torch.Tensor],
                      targets: list[int], pixels: np.ndarray) -> bool:
        """Is the saved file (its 8-bit `pixels`) a success? Here: every crafting model's
        answer to it (through its own runtime), `targets` being the target in each one's
        labels, meets the criterion."""
        return all(self.criterion(plan.config, t).met(p) for t, p in zip(targets, crafter_probs, strict=True))

    # -- words ----------------------------------------------------------------------------
    @abstractmethod
    def describe(self, config: Any) -> str:
        """One line for status lines and reports: the mode and its main settings."""

    def failure_text(self, config: Any, steps: int, final_name: str) -> str:
        return f"target not reached in {steps} steps (saved image is {final_name})"

    def advice(self, config: Any) -> str:
        """What to change when the target was not reached (for people, in the window)."""
        return "raise the budget or the step limit"


def config_dict(config: Any) -> dict[str, Any]:
    """JSON-able settings including the mode: for reports, PNG metadata and resume checks."""
    data = asdict(config)
    data["mode"] = config.mode
    for key, value in data.items():
        if isinstance(value, tuple):
            data[key] = list(value)
    return data
