"""Probes (issue 24, stop 28): can a targeted perturbation of Lite0's 224-px view survive
Deep Image Prior (400 iterations) if it is smooth? The perturbation is a GRID x GRID field
upsampled bilinearly (GRID 224: full resolution), held to PSNR_DB in L2, optimised with
Adam on a logit margin, then the real DIP of the 8-bit result is classified.

- `--mode eot`: expectation over no blur and DIP's blur stand-in at sigma 1.5 and 2.5
  (margin 5, 150 steps). Rows: smooth_dip_probe.jsonl (made with a blur one pixel
  shorter in radius than guiapp.core.defences.dip.gaussian_blur, used here).
- `--mode anchor`: DIP of the clean view is the anchor; the target must win on anchor +
  delta (margin 8) and on view + delta (margin 2), i.e. assuming DIP passes delta through
  (200 steps). Rows also say how much of delta DIP's output carries (gain: projection of
  DIP(x+d) - DIP(x) on d over |d|^2; corr: its cosine). Rows: anchor_dip_probe.jsonl.

    python docs/evaluation/screens/dip_probes.py --mode anchor --n 2 --settings '[[28, 35], [224, 35]]' --out OUT.jsonl
"""

from __future__ import annotations

import argparse
import json
import math
import sys
import time
from functools import partial
from pathlib import Path

import torch
import torch.nn.functional as F

ROOT = Path(__file__).resolve().parents[3]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))

from guiapp.core.attacks.transfer_ops import target_margin  # noqa: E402
from guiapp.core.defences.dip import deep_image_prior, gaussian_blur  # noqa: E402
from guiapp.core.imageio import load_image  # noqa: E402
from guiapp.core.metrics import psnr_from_mse  # noqa: E402
from guiapp.core.models import load_model  # noqa: E402
from guiapp.core.preprocess import image_to_tensor, normalise, tensor_to_image, to_model_crop  # noqa: E402

from common import half_pairs  # noqa: E402

MODEL = load_model("efficientnet-lite0", "cpu")


def logits(v: torch.Tensor) -> torch.Tensor:
    return MODEL.head(MODEL.features(normalise(v, MODEL.spec)))


def margin_loss(v: torch.Tensor, target: int, kappa: float) -> torch.Tensor:
    return F.relu(kappa - target_margin(logits(v), target)).sum()


def eot_loss(d: torch.Tensor, x: torch.Tensor, target: int) -> torch.Tensor:
    """The target must win on view + d, unblurred and through DIP's blur stand-in."""
    v = (x + d).clamp(0, 1)
    return sum(margin_loss(gaussian_blur(v, s) if s else v, target, 5.0) for s in (0, 1.5, 2.5))


def anchor_loss(d: torch.Tensor, x: torch.Tensor, anchor: torch.Tensor, target: int) -> torch.Tensor:
    """The target must win on DIP(view) + d (assuming DIP passes d) and on view + d."""
    return margin_loss((anchor + d).clamp(0, 1), target, 8.0) + margin_loss((x + d).clamp(0, 1), target, 2.0)


def dip(v: torch.Tensor) -> torch.Tensor:
    return image_to_tensor(deep_image_prior(tensor_to_image(v), iterations=400, device="cpu"))


def attack(x: torch.Tensor, target: int, grid: int, psnr_db: float, loss_of, steps: int) -> torch.Tensor:
    """The 8-bit view + delta after `steps` Adam steps on loss_of(delta)."""
    c = torch.zeros(1, 3, grid, grid, requires_grad=True)
    max_l2 = math.sqrt(x.numel()) * 10 ** (-psnr_db / 20)  # ||delta||_2 at that PSNR (x in [0, 1])
    opt = torch.optim.Adam([c], lr=0.01)

    def field() -> torch.Tensor:
        d = F.interpolate(c, size=x.shape[-2:], mode="bilinear", align_corners=False) if grid != x.shape[-1] else c
        return d * torch.clamp(max_l2 / (d.norm() + 1e-12), max=1.0)

    for _ in range(steps):
        loss = loss_of(field())
        opt.zero_grad()
        loss.backward()
        opt.step()
    with torch.no_grad():
        return torch.round((x + field()).clamp(0, 1) * 255) / 255


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--mode", choices=("eot", "anchor"), required=True)
    ap.add_argument("--n", type=int, default=2)
    ap.add_argument("--settings", default="[[28, 35], [224, 35]]", help="JSON list of [grid, psnr_db]")
    ap.add_argument("--out", type=Path, required=True)
    args = ap.parse_args()
    torch.set_num_threads(1)
    with args.out.open("a") as out:
        for path, _true, target in half_pairs("held", args.n):
            x = to_model_crop(image_to_tensor(load_image(path).rgb), MODEL.spec)  # the model's 224-px view
            anchor = dip(x) if args.mode == "anchor" else None
            for grid, psnr_db in json.loads(args.settings):
                start = time.process_time()
                if anchor is None:
                    adv = attack(x, target, grid, psnr_db, partial(eot_loss, x=x, target=target), steps=150)
                else:
                    adv = attack(x, target, grid, psnr_db, partial(anchor_loss, x=x, anchor=anchor, target=target),
                                 steps=200)
                purified = dip(adv)
                with torch.no_grad():
                    top = int(logits(purified).argmax())
                    row = {"file": path.name, "target": target, "grid": grid, "psnr_target": psnr_db,
                           "psnr": psnr_from_mse(float(((adv - x) * 255).pow(2).mean())),
                           "adv_ok": int(logits(adv).argmax()) == target, "dip_top1": top,
                           "dip_survives": top == target}
                    if anchor is not None:
                        d_in, d_out = adv - x, purified - anchor
                        row["delta_gain_through_dip"] = float((d_out * d_in).sum() / (d_in * d_in).sum())
                        row["delta_corr"] = float((d_out * d_in).sum() / (d_in.norm() * d_out.norm()))
                row["cpu"] = time.process_time() - start
                out.write(json.dumps(row) + "\n")
                out.flush()
                print(row, flush=True)


if __name__ == "__main__":
    main()
