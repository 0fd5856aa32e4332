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
  judge still sees the source class on most failed pairs.

    python bench/transfer_screens.py --n 24 --variants a,sgm05,linbp4 --out OUT.jsonl
    python bench/transfer_screens.py --n 24 --variants srcsup --out OUT2.jsonl   # "a" rows from OUT.jsonl

"a" is the default itself. Per pair and variant: Lite2 on its crop / on the whole photo
(after a PNG round trip), the surrogates, PSNR, CPU seconds (one thread); resumable. The
summary (paired wins and losses against "a", from this file or --base) ends the run.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

import torch
import torch.nn.functional as F

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from quiet_pairs import half_pairs  # noqa: E402
from quiet_summary import sign_test  # noqa: E402
from transfer import JUDGE, judge  # noqa: E402

from guiapp.core.attacks import (
    make_config,  # noqa: E402
    transfer_views,  # noqa: E402
)
from guiapp.core.attacks import transfer as transfer_module  # noqa: E402
from guiapp.core.attacks.centroid_terms import centroid_folder, surrogate_centroids  # noqa: E402
from guiapp.core.attacks.transfer import TransferAttack, load_surrogates  # noqa: E402
from guiapp.core.imageio import load_image  # noqa: E402
from guiapp.core.models import efficientnet_lite as lite  # noqa: E402
from guiapp.core.models import load_model  # noqa: E402
from guiapp.core.preprocess import PreprocessSpec, to_model_crop  # noqa: E402


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


BLOCKS = {"sgm05": block_forward(branch_grad=0.5), "linbp4": block_forward(linear_from_stage=4)}
VIEWS = {"zfield": field_keeping_view}
LOSSES = {"srcsup": source_suppressing_loss_of}
VARIANTS = ("a", *BLOCKS, *VIEWS, *LOSSES)


@contextmanager
def patched(name: str) -> Iterator[None]:
    shipped_block, shipped_view = lite.MBConvBlock.forward, transfer_module.surrogate_view
    if name in BLOCKS:
        lite.MBConvBlock.forward = BLOCKS[name]  # type: ignore[method-assign]
    if name in VIEWS:
        transfer_module.surrogate_view = VIEWS[name]  # type: ignore[assignment]
    if name in LOSSES:
        TransferAttack._loss_of = LOSSES[name]  # type: ignore[method-assign]
    try:
        yield
    finally:
        lite.MBConvBlock.forward = shipped_block  # type: ignore[method-assign]
        transfer_module.surrogate_view = shipped_view
        TransferAttack._loss_of = _shipped_loss_of  # type: ignore[method-assign]


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
    ap.add_argument("--variants", default="a,sgm05", help=f"comma list of: {', '.join(VARIANTS)}")
    ap.add_argument("--out", type=Path, required=True)
    ap.add_argument("--base", type=Path, default=None, help="rows with the 'a' results (default: --out)")
    args = ap.parse_args()
    names = args.variants.split(",")
    unknown = set(names) - set(VARIANTS)
    if unknown:
        raise SystemExit(f"unknown variants: {', '.join(sorted(unknown))}")
    torch.set_num_threads(1)
    config = make_config("transfer")
    surrogates = load_surrogates(config, "cpu")
    for m in surrogates:
        net = m.feature_net.net
        stage = 1
        for i, block in enumerate(net._blocks):
            block._stage = stage
            stage += i in net.stage_ends
    judge_model = load_model(JUDGE, "cpu")
    cents = surrogate_centroids(surrogates, config.centroid_layers_needed, centroid_folder("auto"))
    done = {json.loads(line)["file"]: json.loads(line) for line in args.out.read_text().splitlines()} \
        if args.out.exists() else {}
    with args.out.open("a") as fh:
        for path, _true, target in half_pairs(args.half, args.n):
            if path.name in done:
                continue
            img = load_image(path).rgb
            row: dict = {"file": path.name, "target": target}
            for name in names:
                with patched(name):
                    attack = TransferAttack(surrogates, img, target, config, cents)
                    cpu = time.process_time()
                    for _ in attack.steps():
                        pass
                    row[name] = {"cpu_seconds": time.process_time() - cpu,
                                 **judge(judge_model, surrogates, img, attack.result.adversarial, target)}
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
