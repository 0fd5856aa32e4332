"""Sharpness-aware fine-tuning of a surrogate, for the issue-20 screen `sasd`
(docs/research/transfer_screens.py): does a flatter surrogate transfer more at the quiet budget?

SASD (Wu et al., CVPR 2024) distils a pretrained model into itself with the SAM optimiser
(Foret et al. 2021) on ImageNet's training set: a surrogate in a flat region of its loss
transfers targeted noise better. Our surrogates are batch-norm-folded and deterministic,
so a student distilled from an identical teacher gets no gradient; as SASD's own teacher
was, the student is fitted with SAM to the true labels, and the distillation term (KL to the
frozen original, temperature 1) keeps it near the model it was. The data is what we have
offline: the tuning half of ../shared/imagenet-samples (one photo per even class) without
the photos of the first --exclude tuning pairs (the screen's), in random resized crops
(a quarter of the area or more) and mirrored at random. The held-back half is never read.

    python docs/research/sasd_finetune.py --model efficientnet-lite0 --steps 600 --out /tmp/sasd/lite0.pt

Prints the loss and, every 100 steps, the student's top-1 agreement with the original on
fixed crops of held-out tuning photos (the 24 excluded ones) and its accuracy there.
"""

from __future__ import annotations

import argparse
import copy
import sys
import time
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

# docs/research/ -> the repository, and bench/ for common.py and transfer.py
sys.path.insert(0, str(Path(__file__).resolve().parents[2]))
sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "bench"))

from guiapp.core.attacks import make_config  # noqa: E402
from guiapp.core.attacks.transfer import load_surrogates  # noqa: E402
from guiapp.core.imageio import load_image  # noqa: E402
from guiapp.core.preprocess import to_model_crop  # noqa: E402

from common import all_files, half_pairs  # noqa: E402


def photo(path: Path, short: int) -> torch.Tensor:
    """(1, 3, H, W) in [0, 1], the shorter side `short` (decoded once, kept in memory)."""
    rgb = torch.from_numpy(load_image(path).rgb).permute(2, 0, 1)[None].float() / 255
    h, w = rgb.shape[-2:]
    scale = short / min(h, w)
    return F.interpolate(rgb, size=(round(h * scale), round(w * scale)), mode="bilinear", antialias=True,
                         align_corners=False)


def random_view(x: torch.Tensor, side: int, gen: torch.Generator) -> torch.Tensor:
    h, w = x.shape[-2:]
    area = float(torch.empty(1).uniform_(0.25, 1.0, generator=gen)) * h * w
    ratio = float(torch.empty(1).uniform_(3 / 4, 4 / 3, generator=gen))
    ch, cw = min(h, round((area / ratio) ** 0.5)), min(w, round((area * ratio) ** 0.5))
    top = int(torch.randint(0, h - ch + 1, (1,), generator=gen))
    left = int(torch.randint(0, w - cw + 1, (1,), generator=gen))
    view = F.interpolate(x[..., top:top + ch, left:left + cw], size=(side, side), mode="bilinear",
                         antialias=True, align_corners=False)
    return view.flip(-1) if float(torch.rand(1, generator=gen)) < 0.5 else view


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--model", default="efficientnet-lite0")
    ap.add_argument("--steps", type=int, default=600)
    ap.add_argument("--batch", type=int, default=10)
    ap.add_argument("--lr", type=float, default=0.001,
                    help="SGD's first step (cosine to 0); 0.01 wrecks the folded model within 3 steps")
    ap.add_argument("--rho", type=float, default=0.05, help="SAM's neighbourhood radius")
    ap.add_argument("--kd", type=float, default=1.0, help="weight of the KL to the original")
    ap.add_argument("--exclude", type=int, default=24, help="the first N tuning pairs' photos are not trained on")
    ap.add_argument("--out", type=Path, required=True)
    args = ap.parse_args()
    torch.manual_seed(0)
    torch.set_num_threads(1)
    config = make_config("transfer", surrogates=(args.model,))
    student = load_surrogates(config, "cpu")[0]
    teacher = copy.deepcopy(student)
    spec = student.spec
    held_out = {p.name for p, _, _ in half_pairs("tune", args.exclude)}
    files = all_files()
    train = [(p, i) for i, p in enumerate(files) if i % 2 == 0 and p.name not in held_out]
    check = [(p, i) for i, p in enumerate(files) if p.name in held_out]
    print(f"{args.model}: {len(train)} training photos, {len(check)} held out", flush=True)
    photos = [photo(p, spec.resize) for p, _ in train]
    labels = torch.tensor([i for _, i in train])
    check_x = torch.cat([to_model_crop(photo(p, spec.resize), spec) for p, _ in check])
    check_y = torch.tensor([i for _, i in check])
    with torch.no_grad():
        check_teacher = teacher.logits(check_x).argmax(-1)
    params = list({id(p): p for net in (student.feature_net, student.head_net)
                   for p in net.parameters()}.values())
    for p in params:
        p.requires_grad_(True)
    gen = torch.Generator().manual_seed(0)
    rng = np.random.default_rng(0)

    def loss_on(x: torch.Tensor, y: torch.Tensor, soft: torch.Tensor) -> torch.Tensor:
        logits = student.logits(x)
        kd = F.kl_div(F.log_softmax(logits, -1), soft, reduction="batchmean")
        return F.cross_entropy(logits, y) + args.kd * kd

    started = time.time()
    for step in range(1, args.steps + 1):
        lr = args.lr * 0.5 * (1 + np.cos(np.pi * (step - 1) / args.steps))
        pick = rng.choice(len(photos), args.batch, replace=False)
        x = torch.cat([random_view(photos[i], spec.crop, gen) for i in pick])
        y = labels[pick]
        with torch.no_grad():
            soft = teacher.logits(x).softmax(-1)
        # SAM: the gradient at the worst point of a rho-ball around the weights
        loss = loss_on(x, y, soft)
        grads = torch.autograd.grad(loss, params)
        norm = torch.sqrt(sum((g * g).sum() for g in grads)) + 1e-12
        with torch.no_grad():
            shifts = [args.rho * g / norm for g in grads]
            for p, e in zip(params, shifts, strict=True):
                p.add_(e)
        grads = torch.autograd.grad(loss_on(x, y, soft), params)
        with torch.no_grad():
            for p, e, g in zip(params, shifts, grads, strict=True):
                p.sub_(e)
                p.sub_(lr * g)
        if step % 20 == 0:
            print(f"step {step} loss {loss.item():.3f} lr {lr:.4f} {time.time() - started:.0f} s", flush=True)
        if step % 100 == 0 or step == args.steps:
            with torch.no_grad():
                top = student.logits(check_x).argmax(-1)
            print(f"  held out: agrees with the original {(top == check_teacher).float().mean():.2f}, "
                  f"accuracy {(top == check_y).float().mean():.2f} (original "
                  f"{(check_teacher == check_y).float().mean():.2f})", flush=True)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    torch.save({k: v.detach().clone() for k, v in student.feature_net.state_dict().items()}
               | {f"head.{k}": v.detach().clone() for k, v in student.head_net.state_dict().items()}, args.out)
    print(f"saved {args.out}")


if __name__ == "__main__":
    main()
