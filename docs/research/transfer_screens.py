"""Screens of transfer ideas that are not switches of the shipped loop, paired with the
transfer default on the same tuning pairs (issue 20: which idea buys transfer at the quiet
budget). Each variant patches one piece of the loop for its own attacks only:

- sgm05: Skip Gradient Method (Wu et al. 2020): the gradient through every MBConv block's
  residual branch scaled by 0.5, the skip connection's kept (forward unchanged);
- linbp4: LinBP (Guo et al. 2020): ReLU6 passes the gradient straight through (as if
  linear) from stage 4 on (forward unchanged);
- zfield: zoomed views keep the standard view's field of view (the input grows with the
  zoom, up to 1.25x: the judge's geometry) instead of cropping the zoomed photo to the
  surrogate's input size;
- srcsup: the class loss also pushes the source class's logit down (weight 0.5), since the
  judge still sees the source class on most failed pairs;
- cap10: the class loss is the target's margin over the best other class, capped at 10
  logits per surrogate and view (instead of the target's logit): views already won by
  that much give no gradient, so the steps go to the views and surrogates still unwon;
- lite1x2: the class loss weights Lite1 (the surrogate nearest the judge in size and
  input resolution) twice as much as Lite0 (2/3 and 1/3 instead of 1/2 each);
- smooth8 / smooth16: the quiet map at 34 dB instead of 33, plus a smooth luma field of
  +-3/255 on a grid of 8 (16) px cells, bilinearly interpolated over the photo: a mean
  shift under SSIM's 11 px window costs next to no SSIM, so the field can reach the flat
  regions the map leaves nearly empty (the two together land near 33 dB). The field moves
  by sign steps of 1/8 of its bound along the loop's direction (the TI-smoothed momentum)
  averaged over each cell;
- endcrop20 / endcrop50: the last 20 (50) of the 150 iterations show each surrogate only its standard
  centre crop, without input diversity: Lite2 is fooled only where both surrogates are
  (docs/research/quiet_failures.py), so the end of the run secures the surrogates' own view;
- endwide50: the opposite of endcrop50: the last 50 iterations with wider views (random
  crops with probability 0.5 down to 10% of the area, zoom up to 1.4) than the default's;
- rot10: with probability 0.5 each view is rotated by U(-10, 10) degrees about its centre
  (bilinear, the corners reflected): a geometric view the judge never applies, for noise
  that survives resampling on another grid;
- flip: with probability 0.5 each view is mirrored left-right (the models were trained
  with flips);
- cfm: Clean Feature Mixup (Byun et al. 2023): the clean photo's features are recorded
  once (each surrogate's standard view); in every attack pass each convolution / linear
  layer whose output is at most 1/4 of the input's width mixes, with probability 0.1,
  a channel-wise fraction U(0, 0.75) of those clean features into its output (resized
  to the output's grid when the view's size differs): the noise must win against the
  source's own evidence. One photo per attack, so the "other images" are the photo itself;
- ftm: Feature Tuning Mixup (Liang et al. 2025): cfm plus a learned feature perturbation on
  the same layers (1% of the output's norm), moved against the attack on the layers
  that mixed in each pass (a worst-case model augmentation);
- vnoise: each view gets fresh uniform noise of +-8/255 per pixel before input diversity
  (one sample of VMI's neighbourhood, Wang and He 2021, with no extra passes): the noise
  must work in a neighbourhood of the photo, not at one point;
- views2: every surrogate sees two independent views per iteration (the ensemble lists
  each model twice; the losses are averaged): a less noisy gradient at twice the passes,
  to tell whether the gradient's variance limits the default;
- ws93: weight scaling (the "WS" of SASD-WS, Wu et al. 2024): every convolution's
  weights times 0.93 in the surrogates the attack crafts on. Our surrogates have
  their batch norms folded into the convolutions, so scaling the folded weights and not
  their biases is exactly the paper's scaling of the weights before an eval-mode batch
  norm. The surrogates' verdict on the result is the unscaled models'.
- sasd: the surrogates fine-tuned with SAM (docs/research/sasd_finetune.py, weights from
  --sasd-dir: lite0.pt, lite1.pt); the verdict is the shipped models'. The centroids stay
  the shipped ones (fitted to the shipped features; the fine-tuned models agree with the
  shipped ones on 92% (Lite0) and 79% (Lite1) of 24 held-out photos).

    python docs/research/transfer_screens.py --n 24 --variants a,sgm05,linbp4 --out OUT.jsonl
    python docs/research/transfer_screens.py --n 24 --variants srcsup --out OUT2.jsonl   # "a" rows from OUT.jsonl

"cfg:KEY=VALUE[;KEY=VALUE]" is the default with TransferConfig fields changed (e.g.
cfg:p_full=0.5; a tuple field takes "+": cfg:centroid_layers=stage5+stage6). "a" is the
default itself. Per pair and variant: Lite2 on its crop / on the whole photo (after a PNG
round trip), the surrogates, PSNR, CPU seconds (one thread); resumable; --start splits a
run over processes. The summary (paired wins and losses against "a", from this file or
--base) ends the run.
"""

from __future__ import annotations

import argparse
import functools
import json
import math
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import replace
from pathlib import Path

import torch
import torch.nn.functional as F
from torch import nn

# docs/research/ -> the repository, and bench/ for common.py and transfer.py
sys.path.insert(0, str(Path(__file__).resolve().parents[2]))
sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "bench"))

from transfer import JUDGE, judge  # noqa: E402

from guiapp.core.attacks import (
    make_config,  # noqa: E402
    transfer_lockstep,  # noqa: E402
    transfer_views,  # noqa: E402
)
from guiapp.core.attacks import transfer as transfer_module  # noqa: E402
from guiapp.core.attacks.centroid_terms import centroid_folder, surrogate_centroids  # noqa: E402
from guiapp.core.attacks.noise_budget import PerceptualBudget  # noqa: E402
from guiapp.core.attacks.transfer import TransferAttack, load_surrogates  # noqa: E402
from guiapp.core.attacks.transfer_ops import target_margin  # noqa: E402
from guiapp.core.imageio import load_image  # noqa: E402
from guiapp.core.models import efficientnet_lite as lite  # noqa: E402
from guiapp.core.models import load_model  # noqa: E402
from guiapp.core.preprocess import PreprocessSpec, to_model_crop  # noqa: E402

from common import half_pairs, sign_test  # noqa: E402


class StraightReLU6(torch.autograd.Function):
    """ReLU6 forward, identity backward (LinBP)."""

    @staticmethod
    def forward(ctx, x):  # type: ignore[override]
        return F.relu6(x)

    @staticmethod
    def backward(ctx, grad):  # type: ignore[override]
        return grad


def block_forward(branch_grad: float = 1.0, linear_from_stage: int | None = None) -> Callable:
    """MBConvBlock.forward with the residual branch's gradient scaled and/or ReLU6 linear
    in the backward pass from a stage on (blocks carry `_stage`, set in main)."""

    def forward(self, inputs):
        linear = linear_from_stage is not None and self._stage >= linear_from_stage

        def act(t):
            return StraightReLU6.apply(t) if linear else F.relu6(t, inplace=True)

        x = inputs
        if self.expand:
            x = act(self._bn0(self._expand_conv(x)))
        x = act(self._bn1(self._depthwise_conv(x)))
        x = self._bn2(self._project_conv(x))
        if not self.residual:
            return x
        if branch_grad != 1.0:
            x = branch_grad * x + (1 - branch_grad) * x.detach()
        return x + inputs

    return forward


def field_keeping_view(x, m, p_full, p_rrc, min_area, zoom_max, gen):
    """transfer_views.surrogate_view, but a zoomed view keeps the standard view's field of
    view (its input grows with the zoom); the same random draws in the same order."""
    crop = m.spec.crop
    u = float(torch.rand(1, generator=gen))
    zoom = 1.0 if zoom_max <= 1.0 else float(torch.empty(1).uniform_(1.0, zoom_max, generator=gen))
    side = int(round(crop * zoom))
    if u < p_full:
        return F.interpolate(x, size=(side, side), mode="bilinear", antialias=True, align_corners=False)
    if u < p_full + p_rrc:
        return transfer_views.random_resized_crop(x, side, min_area, gen)
    return to_model_crop(x, PreprocessSpec(int(round(m.spec.resize * zoom)), side, m.spec.mean, m.spec.std))


_shipped_loss_of = TransferAttack._loss_of


def source_suppressing_loss_of(self, outputs, terms, source=-1):
    loss, class_loss, centroid_loss, progress = _shipped_loss_of(self, outputs, terms, source)
    if 0 <= source != self.target:
        loss = loss + 0.5 * sum(o.logits[0, source] for o in outputs) / len(outputs)
    return loss, class_loss, centroid_loss, progress


class FeatureMixer:
    """CFM (and FTM) on one surrogate by forward hooks; mixes only while `active`."""

    def __init__(self, model, tuning: bool, p: float = 0.1, upper: float = 0.75, beta: float = 0.01) -> None:
        self.model, self.tuning_on, self.p, self.upper, self.beta = model, tuning, p, upper, beta
        self.active = self.recording = False
        self.clean: dict[int, torch.Tensor] = {}
        self.tuning: dict[int, torch.Tensor] = {}
        self.tuning_grad: dict[int, torch.Tensor] = {}
        self.gen = torch.Generator()
        layers = [mod for net in (model.feature_net, model.head_net) for mod in net.modules()
                  if isinstance(mod, (nn.Conv2d, nn.Linear))]
        unique = list({id(mod): mod for mod in layers}.values())
        self.handles = [mod.register_forward_hook(self._hook(i)) for i, mod in enumerate(unique)]

    def remove(self) -> None:
        for h in self.handles:
            h.remove()

    def record(self, x01: torch.Tensor, seed: int) -> None:
        self.gen.manual_seed(seed)
        self.clean, self.tuning, self.tuning_grad = {}, {}, {}
        self.recording = True
        with torch.no_grad():
            self.model.logits(x01)
        self.recording = False

    def apply_tuning_grads(self) -> None:
        """FTM: move each layer's perturbation against the attack (its loss up) by the
        gradient it got in the last pass (captured by a tensor hook)."""
        for i, g in self.tuning_grad.items():
            self.tuning[i] = self.tuning[i] + g
        self.tuning_grad = {}

    def _hook(self, i: int):
        def hook(module, inputs, out):
            if self.recording:
                self.clean[i] = out.detach().float()
                self.tuning[i] = torch.zeros_like(self.clean[i])
                return None
            if not self.active or i not in self.clean:
                return None
            if out.dim() == 4 and out.shape[-1] > self.model.spec.crop // 4:
                return None
            mixed = float(torch.rand(1, generator=self.gen)) <= self.p
            if self.tuning_on:
                t = self.tuning[i]
                if t.shape != out.shape:
                    t = F.interpolate(t, size=out.shape[-2:], mode="bilinear", align_corners=False)
                norm_t = float(t.norm())
                if norm_t > 0:
                    out = out + (self.beta * float(out.detach().float().norm()) / (norm_t + 1e-7)) * t
                if mixed and out.requires_grad:
                    shape = self.tuning[i].shape

                    def keep(grad, i=i, shape=shape):
                        g = grad.detach().float()
                        if g.shape != shape:
                            g = F.interpolate(g, size=shape[-2:], mode="bilinear", align_corners=False)
                        self.tuning_grad[i] = g
                    out.register_hook(keep)
            if not mixed:
                return out if self.tuning_on else None
            clean = self.clean[i]
            if clean.shape != out.shape:
                clean = F.interpolate(clean, size=out.shape[-2:], mode="bilinear", align_corners=False)
            a = torch.rand(out.shape[1], generator=self.gen) * self.upper
            a = a.view(1, -1, *([1] * (out.dim() - 2))).to(out.device)
            return (1 - a) * out + a * clean
        return hook


_MIXERS: list[FeatureMixer] = []
_shipped_begin = TransferAttack._begin
_shipped_forward = transfer_lockstep.forward_surrogates


def mixing_begin(self):
    state = _shipped_begin(self)
    for mixer in _MIXERS:
        mixer.record(state.x, self.config.seed)
    return state


def mixing_forward(model, inputs, taps, autocast):
    mixers = [mx for mx in _MIXERS if mx.model is model]
    for mx in mixers:
        mx.apply_tuning_grads()
        mx.active = True
    try:
        return _shipped_forward(model, inputs, taps, autocast)
    finally:
        for mx in mixers:
            mx.active = False


_shipped_diverse = transfer_module.diverse_input


def noisy_diverse_input(crop, p, gen, scale=1.1):
    noise = (torch.rand(crop.shape, generator=gen) * 2 - 1) * (8 / 255)
    return _shipped_diverse(crop + noise.to(crop.device), p, gen, scale)


class SmoothFieldBudget(PerceptualBudget):
    """The quiet map (at `psnr`) plus a cell-wise smooth luma field of +-`field_bound`."""

    def __init__(self, image, x, *, psnr, min_ssim, cap, ti_size, cell, field_bound=3 / 255):
        super().__init__(image, x, psnr=psnr, min_ssim=min_ssim, cap=cap, ti_size=ti_size)
        self.size, self.cell, self.field_bound = x.shape[-2:], cell, field_bound
        self.field = torch.zeros(1, 1, -(-x.shape[-2] // cell), -(-x.shape[-1] // cell), device=x.device)

    def _up(self) -> torch.Tensor:
        return F.interpolate(self.field, size=self.size, mode="bilinear", align_corners=False)

    def adversarial(self, x, z):
        # (x + z) + field, not x + (z + field): the order the stored rows were made with
        # (PerceptualBudget.adversarial's clamp, the sum rounded differently).
        raw = x + z + self._up()
        return raw + (raw.clamp(0, 1) - raw).detach()

    def rgb(self, z):
        return (z + self._up()).expand(-1, 3, -1, -1)

    def step(self, z, direction, x):
        super().step(z, direction, x)
        cells = F.avg_pool2d(direction.float(), self.cell, ceil_mode=True)
        self.field -= self.field_bound / 8 * cells.sign()
        self.field.clamp_(-self.field_bound, self.field_bound)


def smooth_field_budget(cell: int):
    def budget(self, x, ti_size):
        cfg = self.config
        return SmoothFieldBudget(self.image, x, psnr=cfg.budget_psnr + 1, min_ssim=cfg.min_ssim, cap=cfg.eps,
                                 ti_size=ti_size, cell=cell)
    return budget


_shipped_inputs = TransferAttack._inputs


def late_phase(last: int, **changes):
    """TransferAttack._inputs, but the last `last` iterations draw their views with these
    TransferConfig fields changed (the attack's config is swapped for those calls only)."""

    def inputs(self, x_adv, gen, source):
        self._screen_calls = getattr(self, "_screen_calls", 0) + 1
        if self._screen_calls <= self.config.iterations - last:
            return _shipped_inputs(self, x_adv, gen, source)
        shipped = self.config
        self.config = replace(shipped, **changes)
        try:
            return _shipped_inputs(self, x_adv, gen, source)
        finally:
            self.config = shipped
    return inputs


# The standard centre crop only: no whole-photo or random views, no zoom, no DI.
CROPS_ONLY = {"p_full": 0.0, "p_rrc": 0.0, "zoom_max": 1.0, "diversity": 0.0}
STAGES = {"endcrop20": late_phase(20, **CROPS_ONLY), "endcrop50": late_phase(50, **CROPS_ONLY),
          "endwide50": late_phase(50, p_rrc=0.5, rrc_min_area=0.1, zoom_max=1.4)}


BUDGETS = {"smooth8": smooth_field_budget(8), "smooth16": smooth_field_budget(16)}
_shipped_budget = TransferAttack._budget


BLOCKS = {"sgm05": block_forward(branch_grad=0.5), "linbp4": block_forward(linear_from_stage=4)}
_shipped_view = transfer_views.surrogate_view


def rotated_view(x, m, p_full, p_rrc, min_area, zoom_max, gen):
    view = _shipped_view(x, m, p_full, p_rrc, min_area, zoom_max, gen)
    if float(torch.rand(1, generator=gen)) >= 0.5:
        return view
    angle = math.radians(float(torch.empty(1).uniform_(-10, 10, generator=gen)))
    c, s_ = math.cos(angle), math.sin(angle)
    theta = torch.tensor([[c, -s_, 0.0], [s_, c, 0.0]], dtype=view.dtype, device=view.device).unsqueeze(0)
    grid = F.affine_grid(theta, list(view.shape), align_corners=False)
    return F.grid_sample(view, grid, mode="bilinear", padding_mode="reflection", align_corners=False)


def flipped_view(x, m, p_full, p_rrc, min_area, zoom_max, gen):
    view = _shipped_view(x, m, p_full, p_rrc, min_area, zoom_max, gen)
    return view.flip(-1) if float(torch.rand(1, generator=gen)) < 0.5 else view


VIEWS = {"zfield": field_keeping_view, "rot10": rotated_view, "flip": flipped_view}
def capped_margin_loss_of(self, outputs, terms, source=-1):
    loss, class_loss, centroid_loss, progress = _shipped_loss_of(self, outputs, terms, source)
    capped = sum(-target_margin(o.logits, self.target).clamp(max=10.0).sum() for o in outputs) / len(outputs)
    return loss - class_loss + capped, capped, centroid_loss, progress


def lite1_weighted_loss_of(self, outputs, terms, source=-1):
    loss, class_loss, centroid_loss, progress = _shipped_loss_of(self, outputs, terms, source)
    weights = [2 / 3, 4 / 3]  # mean 1: Lite0, Lite1 (the default's order)
    weighted = sum(-w * o.logits[0, self.target] for w, o in zip(weights, outputs, strict=True)) / len(outputs)
    return loss - class_loss + weighted, weighted, centroid_loss, progress


LOSSES = {"srcsup": source_suppressing_loss_of, "cap10": capped_margin_loss_of, "lite1x2": lite1_weighted_loss_of}
MIXUPS = {"cfm": False, "ftm": True}  # name -> with feature tuning
INPUTS = {"vnoise": noisy_diverse_input}
COPIES = {"views2": 2}  # name -> views per surrogate and iteration
WEIGHT_SCALES = {"ws93": 0.93}
FINE_TUNED = {"sasd": Path(__file__).resolve().parent / "out" / "sasd"}  # name -> folder of weights (--sasd-dir)
VARIANTS = ("a", *BLOCKS, *VIEWS, *LOSSES, *MIXUPS, *INPUTS, *COPIES, *BUDGETS, *STAGES, *WEIGHT_SCALES,
            *FINE_TUNED)
_SURROGATES: list = []  # set in main: the models the mixers hook


@functools.cache
def fine_tuned(folder: Path, model_name: str) -> dict[str, torch.Tensor]:
    """docs/research/sasd_finetune.py's weights for a surrogate (read once per run)."""
    return torch.load(folder / f"{model_name.removeprefix('efficientnet-')}.pt")


def change_weights(name: str, m) -> None:
    """The variant's weights in surrogate m, in place: scaled convolutions or fine-tuned."""
    if name in WEIGHT_SCALES:
        convs = {id(mod): mod for net in (m.feature_net, m.head_net) for mod in net.modules()
                 if isinstance(mod, nn.Conv2d)}
        with torch.no_grad():
            for mod in convs.values():
                mod.weight.mul_(WEIGHT_SCALES[name])
        return
    tuned = fine_tuned(FINE_TUNED[name], m.name)
    m.feature_net.load_state_dict({k: v for k, v in tuned.items() if not k.startswith("head.")})
    m.head_net.load_state_dict({k.removeprefix("head."): v for k, v in tuned.items() if k.startswith("head.")})


@contextmanager
def patched(name: str) -> Iterator[None]:
    shipped_block, shipped_view = lite.MBConvBlock.forward, transfer_module.surrogate_view
    if name in BLOCKS:
        lite.MBConvBlock.forward = BLOCKS[name]  # type: ignore[method-assign]
    if name in VIEWS:
        transfer_module.surrogate_view = VIEWS[name]  # type: ignore[assignment]
    if name in LOSSES:
        TransferAttack._loss_of = LOSSES[name]  # type: ignore[method-assign]
    if name in STAGES:
        TransferAttack._inputs = STAGES[name]  # type: ignore[method-assign]
    if name in BUDGETS:
        TransferAttack._budget = BUDGETS[name]  # type: ignore[method-assign]
    if name in INPUTS:
        transfer_module.diverse_input = INPUTS[name]  # type: ignore[assignment]
    shipped_states = [(m, {k: v.clone() for k, v in m.feature_net.state_dict().items()},
                       {k: v.clone() for k, v in m.head_net.state_dict().items()})
                      for m in _SURROGATES] if name in WEIGHT_SCALES or name in FINE_TUNED else []
    for m, _, _ in shipped_states:
        change_weights(name, m)
    if name in MIXUPS:
        _MIXERS[:] = [FeatureMixer(m, tuning=MIXUPS[name]) for m in _SURROGATES]
        TransferAttack._begin = mixing_begin  # type: ignore[method-assign]
        transfer_lockstep.forward_surrogates = mixing_forward
    try:
        yield
    finally:
        for m, features, head in shipped_states:
            m.feature_net.load_state_dict(features)
            m.head_net.load_state_dict(head)
        for mixer in _MIXERS:
            mixer.remove()
        _MIXERS.clear()
        TransferAttack._begin = _shipped_begin  # type: ignore[method-assign]
        TransferAttack._budget = _shipped_budget  # type: ignore[method-assign]
        TransferAttack._inputs = _shipped_inputs  # type: ignore[method-assign]
        transfer_lockstep.forward_surrogates = _shipped_forward
        lite.MBConvBlock.forward = shipped_block  # type: ignore[method-assign]
        transfer_module.surrogate_view = shipped_view
        transfer_module.diverse_input = _shipped_diverse
        TransferAttack._loss_of = _shipped_loss_of  # type: ignore[method-assign]


def changed_config(config, name: str):
    """The default config, or for "cfg:KEY=VALUE;..." the default with those fields set."""
    if not name.startswith("cfg:"):
        return config
    fields = dict(pair.split("=", 1) for pair in name.removeprefix("cfg:").split(";"))
    return replace(config, **{k: tuple(v.split("+")) if isinstance(getattr(config, k), tuple)
                              else type(getattr(config, k))(v) for k, v in fields.items()})


def summary(rows: list[dict], base: dict[str, dict], names: list[str]) -> None:
    for name in names:
        if name == "a":
            continue
        both = [(base[r["file"]]["a"], r[name]) for r in rows if r["file"] in base and name in r]
        parts = []
        for verdict in ("judge_success", "judge_full_success", "surrogate_success"):
            a = sum(x[verdict] for x, _ in both)
            b = sum(y[verdict] for _, y in both)
            won = sum(y[verdict] and not x[verdict] for x, y in both)
            lost = sum(x[verdict] and not y[verdict] for x, y in both)
            parts.append(f"{verdict} {b} vs {a} (+{won}/-{lost}, p {sign_test(won, lost):.2f})")
        print(f"{name} on {len(both)} pairs: " + "; ".join(parts))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--n", type=int, default=24)
    ap.add_argument("--half", choices=("tune", "held"), default="tune")
    ap.add_argument("--start", type=int, default=0, help="skip the first START of the n pairs (to split a run)")
    ap.add_argument("--variants", default="a,sgm05", help=f"comma list of: {', '.join(VARIANTS)}")
    ap.add_argument("--out", type=Path, required=True)
    ap.add_argument("--base", type=Path, default=None, help="rows with the 'a' results (default: --out)")
    ap.add_argument("--sasd-dir", type=Path, default=FINE_TUNED["sasd"], help="the sasd variant's weights")
    args = ap.parse_args()
    FINE_TUNED["sasd"] = args.sasd_dir
    names = args.variants.split(",")
    unknown = {n for n in names if not n.startswith("cfg:")} - set(VARIANTS)
    if unknown:
        raise SystemExit(f"unknown variants: {', '.join(sorted(unknown))}")
    torch.set_num_threads(1)
    config = make_config("transfer")
    surrogates = load_surrogates(config, "cpu")
    _SURROGATES[:] = surrogates
    for m in surrogates:
        net = m.feature_net.net
        stage = 1
        for i, block in enumerate(net._blocks):
            block._stage = stage
            stage += i in net.stage_ends
    judge_model = load_model(JUDGE, "cpu")
    layers = sorted({layer for n in names for layer in changed_config(config, n).centroid_layers_needed})
    cents = surrogate_centroids(surrogates, tuple(layers), centroid_folder("auto"))
    done = {json.loads(line)["file"]: json.loads(line) for line in args.out.read_text().splitlines()} \
        if args.out.exists() else {}
    with args.out.open("a") as fh:
        for path, _true, target in half_pairs(args.half, args.n)[args.start:]:
            if path.name in done:
                continue
            img = load_image(path).rgb
            row: dict = {"file": path.name, "target": target}
            for name in names:
                with patched(name):
                    attack = TransferAttack(surrogates * COPIES.get(name, 1), img, target,
                                            changed_config(config, name), cents)
                    cpu = time.process_time()
                    for _ in attack.steps():
                        pass
                    cpu = time.process_time() - cpu
                # judged outside the patch: the surrogates' verdict is the shipped models'
                row[name] = {"cpu_seconds": cpu, **judge(judge_model, surrogates, img, attack.result.adversarial,
                                                         target)}
            fh.write(json.dumps(row) + "\n")
            fh.flush()
            done[path.name] = row
            print(f"{len(done)}/{args.n} {path.name[:24]:24s} " + "  ".join(
                f"{n}: crop {int(row[n]['judge_success'])} whole {int(row[n]['judge_full_success'])} "
                f"surr {int(row[n]['surrogate_success'])} {row[n]['psnr']:.1f} dB" for n in names), flush=True)
    base_file = args.base or args.out
    base = {json.loads(line)["file"]: json.loads(line) for line in base_file.read_text().splitlines()}
    summary(list(done.values()), {k: v for k, v in base.items() if "a" in v}, names)


if __name__ == "__main__":
    main()
