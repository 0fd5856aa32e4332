"""Screen the robust mode on a few held-out photos: steps, wall and CPU seconds, PSNR, and
which real purifier settings (file and view level) remove the target.

    python docs/research/robust_screen.py --n 5 --start 40
    python docs/research/robust_screen.py --n 5 --start 40 --options '{"refine_steps": 4}'
    python docs/research/robust_screen.py --n 10 --start 7 --options '{"precision": "float32"}' \\
        --options-b '{"precision": "auto"}'           # paired, alternating per photo
    python docs/research/robust_screen.py --n 2 --start 40 --check rescale,jpeg,bitdepth,median,ffdnet \\
        --options '{"defences": "rescale,jpeg,bitdepth,median,ffdnet"}'

Held out: photos of ../shared/imagenet-samples that `guiapp-cli evaluate --n 100 --seed 0`
does not pick, every 97th from --start. The target is evaluate's seeded random target.
CPU seconds (one torch thread) are what the attack would take alone on the machine; wall
seconds depend on what else runs. Used for the screens in docs/EVALUATION.md.
"""

from __future__ import annotations

import argparse
import json
import os
import time
from pathlib import Path

import numpy as np

from guiapp.core import load_model
from guiapp.core.attacks import make_config
from guiapp.core.defences import parse_defences
from guiapp.core.defences.survival import survival
from guiapp.core.imageio import load_image
from guiapp.core.labels import random_target
from guiapp.core.metrics import psnr_from_mse
from guiapp.core.pipeline import AttackRun, plan_attack
from guiapp.core.threads import apply_threads

SAMPLES = Path(__file__).resolve().parents[3] / "shared" / "imagenet-samples"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--images", type=Path, default=Path(os.environ.get("SAMPLES", SAMPLES)))
    ap.add_argument("--n", type=int, default=5)
    ap.add_argument("--start", type=int, default=1)
    ap.add_argument("--options", default="{}", help="robust-mode options as JSON")
    ap.add_argument("--options-b", default=None,
                    help="a second set of options: each photo is attacked with both, in alternating order "
                         "(a paired comparison under the same load)")
    ap.add_argument("--check", default="rescale,jpeg,bitdepth,median", help="purifiers checked afterwards")
    args = ap.parse_args()
    apply_threads()
    model = load_model("efficientnet-lite0", "cpu")
    files = sorted(f for f in os.listdir(args.images) if f.endswith(".JPEG"))
    picks = set(np.random.default_rng(0).choice(len(files), size=100, replace=False).tolist())
    held = [f for i, f in enumerate(files) if i not in picks][args.start::97][: args.n]
    check = parse_defences(args.check)
    held_counts: dict[str, int] = {}
    settings = [("A", args.options)] + ([("B", args.options_b)] if args.options_b else [])
    runs = [(f, settings[::-1] if k % 2 else settings) for k, f in enumerate(held)]
    for f, label, options in ((f, label, o) for f, order in runs for label, o in order):
        img = load_image(args.images / f)
        config = make_config("robust", **json.loads(options))
        plan = plan_attack(img, lambda p, f=f: random_target(f, 0, p.index, 1000), config=config, model=model,
                           centroids=None)
        run = AttackRun(plan)
        wall, cpu = time.time(), time.process_time()
        for _ in run.steps():
            pass
        wall, cpu = time.time() - wall, time.process_time() - cpu
        r = run.result
        psnr = psnr_from_mse(float(np.mean((r.adversarial.astype(float) - img.rgb) ** 2)))
        found = survival(model, r.adversarial, plan.target, check) if r.success else {}
        for k, v in found.items():
            held_counts[k] = held_counts.get(k, 0) + v
        tag = f"{label} " if args.options_b else ""
        print(f"{tag}{f[:30]:30s} {img.rgb.shape[1]}x{img.rgb.shape[0]} ok={r.success} steps={r.steps} {wall:5.1f}s "
              f"cpu={cpu:5.1f}s psnr={psnr:5.1f} fail={[k for k, v in found.items() if not v]}", flush=True)
    print(json.dumps(held_counts))


if __name__ == "__main__":
    main()
