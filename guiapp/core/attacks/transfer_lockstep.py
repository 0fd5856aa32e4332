"""The transfer loop for one image or several in step, with the surrogates' passes batched.

A transfer attack spends its time in the surrogates' forward and backward passes, one
small input per surrogate and iteration. On a GPU one such pass leaves the device mostly
idle, so several images are better run in step: every iteration each image draws its own
views (from its own generator, in the same order as alone), the inputs of one surrogate
go through it as one batch, the per-image losses are summed (so each image's gradient is
its own), and each image takes its own step. The views are cut and resized to the
surrogate's input per image, at the photo's own resolution, so photos of any size share a
batch; only inputs of one shape are stacked (input diversity pads some to a larger size),
and an input with centroid mixup (its own feature shift) runs alone.

The model's per-sample results do not depend on the batch (eval mode, no batch
statistics), so an image's PNG is the same whether it ran alone or in a group:
tests/test_transfer_lockstep.py checks this on the CPU. A single attack
(`TransferAttack.steps`) is this loop with a group of one.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

import torch

from ..models import Classifier
from ..stop_points import stop_point
from .base import StepRecord

if TYPE_CHECKING:
    from .transfer import TransferAttack


@dataclass(frozen=True)
class SurrogateInput:
    """One image's input to one surrogate in one iteration."""

    tensor: torch.Tensor  # (1, 3, h, w), normalised for the surrogate
    mix: dict | None  # centroid mixup for this pass (then it runs alone), or None


@dataclass(frozen=True)
class SurrogateOutput:
    logits: torch.Tensor  # (1, classes), float32
    taps: dict[str, torch.Tensor]  # layer -> (1, channels) pooled statistics, float32


def forward_surrogates(model: Classifier, inputs: Sequence[SurrogateInput], taps: tuple[str, ...],
                       autocast: torch.dtype | None) -> list[SurrogateOutput]:
    """`model`'s outputs for several images' inputs, in order: inputs of one shape and
    without mixup as one batch, the others alone. `autocast`: the dtype of the passes
    (None: float32)."""
    groups: dict[object, list[int]] = {}
    for i, inp in enumerate(inputs):
        key = ("alone", i) if inp.mix is not None else tuple(inp.tensor.shape)
        groups.setdefault(key, []).append(i)
    outputs: list[SurrogateOutput | None] = [None] * len(inputs)
    for members in groups.values():
        stop_point()
        batch = torch.cat([inputs[i].tensor for i in members]) if len(members) > 1 else inputs[members[0]].tensor
        mix = inputs[members[0]].mix
        with torch.autocast(model.device.type, dtype=autocast or torch.float32, enabled=autocast is not None):
            if taps or mix is not None:
                feats, tapped = model.features_with_taps(batch, taps, mix)
            else:
                feats, tapped = model.features(batch), {}
            logits = model.head(feats)
        for row, i in enumerate(members):
            outputs[i] = SurrogateOutput(logits[row:row + 1].float(),
                                         {k: v[row:row + 1].float() for k, v in tapped.items()})
    return [o for o in outputs if o is not None]


def lockstep(attacks: Sequence[TransferAttack]) -> Iterator[tuple[int, StepRecord]]:
    """Run transfer attacks in step; yields (index of the attack, its record) for every
    step of every attack, then each attack's shrink records; each attack's `result` is set
    at the end. A cancelled attack leaves the group at its last step; the others go on.
    The attacks must share their surrogates (the same loaded models) and settings."""
    if not attacks:
        return
    first = attacks[0]
    for other in attacks[1:]:
        if [id(m) for m in other.surrogates] != [id(m) for m in first.surrogates]:
            raise ValueError("attacks run in step must share their surrogate models")
        if other.config != first.config:
            raise ValueError("attacks run in step must share their settings (seeds included)")
    states = [a._begin() for a in attacks]
    taps = first._taps_wanted(states[0].terms)
    active = list(range(len(attacks)))
    for step in range(1, first.config.iterations + 1):
        active = [i for i in active if not attacks[i].cancelled]
        if not active:
            break
        inputs = {}
        for i in active:
            state = states[i]
            x_adv = state.budget.adversarial(state.x, state.z)
            inputs[i] = attacks[i]._inputs(x_adv, state.gen, state.sources)
        outputs: dict[int, list[SurrogateOutput]] = {i: [] for i in active}
        for j, model in enumerate(first.surrogates):
            for i, out in zip(active, forward_surrogates(model, [inputs[i][j] for i in active], taps,
                                                         first._autocast), strict=True):
                outputs[i].append(out)
        parts = {i: attacks[i]._loss_of(outputs[i], states[i].terms, states[i].sources) for i in active}
        total = torch.stack([parts[i][0] for i in active]).sum()
        grads = torch.autograd.grad(total, [states[i].z for i in active])
        stop_point()
        for i, grad in zip(active, grads, strict=True):
            yield i, attacks[i]._advance(states[i], step, grad, parts[i])
    for i, attack in enumerate(attacks):
        for record in attack._end(states[i]):
            yield i, record
