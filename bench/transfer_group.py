"""Transfer attacks in groups (batch --group): images per second, and the same PNGs.

    python bench/transfer_group.py --n 8 --groups 1,4,8 --iterations 30
    python bench/transfer_group.py --device cuda --n 32 --groups 1,8,16,32 --iterations 150

Runs the same n photos of ../shared/imagenet-samples (seeded random targets) through the
transfer loop at the default settings (--iterations to shorten it), one at a time and in
groups of each size (guiapp.core.pipeline.run_together, what `batch --group` runs: the
transfer strategy's lockstep loop), and prints per
group size: wall seconds, images per second, the ratio to one at a time, and how many
results are byte-identical to the one-at-a-time results. Model loading and planning (the
clean photos' classification) are not timed.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from guiapp.core import AttackRun, make_config, plan_attack  # noqa: E402
from guiapp.core.device import autocast_dtype, describe_device, pick_device  # noqa: E402
from guiapp.core.imageio import load_image  # noqa: E402
from guiapp.core.pipeline import run_together  # noqa: E402

from common import DEFAULT_IMAGES, machine, sample_images  # noqa: E402


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--images", type=Path, default=DEFAULT_IMAGES)
    ap.add_argument("--n", type=int, default=8)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--groups", default="1,4,8")
    ap.add_argument("--iterations", type=int, default=None, help="default: the transfer default")
    ap.add_argument("--device", default="auto")
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--precision", default="auto")
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    device = pick_device(args.device)
    config = make_config("transfer", precision=args.precision, iterations=args.iterations)
    pairs = sample_images(args.images, args.n, args.seed)
    # Plans are made once (surrogates loaded, each photo classified); each run builds fresh loops.
    plans = [plan_attack(load_image(path), target, config=config, device=str(device)) for path, _, target in pairs]
    sizes = sorted({plan.image.rgb.shape[:2] for plan in plans})
    print(f"# {machine()}; device {describe_device(device)}; {args.n} photos ({len(sizes)} sizes), "
          f"{config.iterations} iterations, autocast {autocast_dtype(config.precision, device)}", flush=True)

    def run(group: int) -> tuple[float, list[np.ndarray]]:
        results: list[np.ndarray] = []
        if device.type == "cuda":
            torch.cuda.synchronize()
        start = time.perf_counter()
        for first in range(0, len(pairs), group):
            runs = [AttackRun(plan) for plan in plans[first:first + group]]
            for _ in run_together(runs):
                pass
            results += [r.result.adversarial for r in runs]
        if device.type == "cuda":
            torch.cuda.synchronize()
        return time.perf_counter() - start, results

    groups = [int(g) for g in args.groups.split(",")]
    base_seconds, base = run(1) if 1 in groups else (float("nan"), [])
    print("| group | seconds | images/s | vs one at a time | identical PNGs |")
    print("|---:|---:|---:|---:|---:|")
    for group in groups:
        seconds, results = (base_seconds, base) if group == 1 else run(group)
        same = sum(np.array_equal(a, b) for a, b in zip(base, results, strict=False))
        print(f"| {group} | {seconds:.1f} | {len(pairs) / seconds:.3f} | {base_seconds / seconds:.2f}x | "
              f"{same}/{len(base)} |", flush=True)


if __name__ == "__main__":
    main()
