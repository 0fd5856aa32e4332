"""Attack benchmark: success after the PNG round trip, PSNR, L-inf, steps and time.

    python bench/attack_bench.py --n 40 --seed 0 [--upscale] [--centroid-weight W] [--budget perceptual]

Each image from ../shared/imagenet-samples gets a seeded random target (never its own
class); guiapp's attack runs at its defaults through `attack_file`, which saves the PNG,
re-reads it and classifies it through the standard PIL preprocessing. `--upscale` first
resizes each image so its long side is 1600 px (about 1600x1200), and attacks that.
"""

from __future__ import annotations

import argparse
import io
import json
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
from PIL import Image

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from guiapp.core import attack_file, load_model, make_config  # noqa: E402
from guiapp.core.predict import classify_pil  # noqa: E402

from common import DEFAULT_IMAGES, machine, pct, sample_images  # noqa: E402


def extra_checks(png: Path, target: int, model, second) -> dict:
    """Does the target survive JPEG-75, and does it transfer to another model?"""
    img = Image.open(png).convert("RGB")
    buf = io.BytesIO()
    img.save(buf, format="JPEG", quality=75)
    jpeg = Image.open(io.BytesIO(buf.getvalue()))
    return {
        "jpeg75_target": int(classify_pil(model, jpeg).argmax()) == target,
        "lite2_target": int(classify_pil(second, img).argmax()) == target,
    }


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--images", type=Path, default=DEFAULT_IMAGES)
    ap.add_argument("--n", type=int, default=40)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--upscale", action="store_true", help="attack images resized to a 1600-px long side")
    ap.add_argument("--centroid-weight", type=float, default=make_config("default").centroid_weight)
    ap.add_argument("--budget", default="linf", choices=("linf", "perceptual"),
                    help="the white-box budget: one L-inf box, or brightness-only noise shaped by texture")
    ap.add_argument("--steps", type=int, default=None, help="cap on gradient steps (default: the mode's)")
    ap.add_argument("--device", default="auto")
    ap.add_argument("--json", type=Path, help="write per-image rows here")
    ap.add_argument("--extras", action="store_true",
                    help="also check the saved PNGs after JPEG-75 and on EfficientNet-Lite2 (transfer)")
    args = ap.parse_args()

    model = load_model("efficientnet-lite0", args.device)
    second = load_model("efficientnet-lite2", args.device) if args.extras else None
    config = make_config("default", centroid_weight=args.centroid_weight, budget=args.budget, max_steps=args.steps)
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        for k, (path, true_class, target) in enumerate(sample_images(args.images, args.n, args.seed)):
            src = path
            if args.upscale:
                img = Image.open(path).convert("RGB")
                scale = 1600 / max(img.size)
                img = img.resize((round(img.width * scale), round(img.height * scale)), Image.BICUBIC)
                src = Path(tmp) / f"{path.stem}.png"
                img.save(src)
            start = time.perf_counter()
            r = attack_file(src, target, Path(tmp) / f"adv_{k}.png", model=model, config=config)
            wall = time.perf_counter() - start
            row = {**r.to_dict(), "wall_seconds": wall, "true_class": true_class}
            if args.extras and r.output:
                row.update(extra_checks(Path(r.output), target, model, second))
            rows.append(row)
            print(
                f"{k + 1:3d}/{args.n} {path.name[:38]:38s} -> {r.target_name[:22]:22s} "
                f"{'ok ' if r.success else 'FAIL'} psnr {r.psnr:5.1f} linf {r.linf:3.0f} "
                f"steps {r.steps:3d} {r.seconds:5.2f}s {r.width}x{r.height}",
                flush=True,
            )
    ok = [r for r in rows if r["success"]]
    psnr = [r["psnr"] for r in rows]
    print()
    print(f"machine: {machine()}, device {model.device}")
    print(f"images: {len(rows)} ({'upscaled to 1600 px long side' if args.upscale else 'native size'}), "
          f"seed {args.seed}, "
          f"centroid weight {args.centroid_weight:g}")
    print(f"success (PNG round trip, PIL path): {len(ok)}/{len(rows)} = {len(ok) / len(rows):.1%}")
    print(f"PSNR dB: median {np.median(psnr):.1f}, min {min(psnr):.1f}, p10 {pct(psnr, 10):.1f}")
    print(f"L-inf /255: median {np.median([r['linf'] for r in rows]):.0f}; "
          f"SSIM median {np.median([r['ssim'] for r in rows]):.4f}; "
          f"CIEDE2000 median {np.median([r['ciede2000'] for r in rows]):.2f}; "
          f"HaarPSI median {np.median([r['haarpsi'] for r in rows]):.4f} (budget {args.budget})")
    print(f"steps: median {np.median([r['steps'] for r in rows]):.0f}, max {max(r['steps'] for r in rows)}")
    print(f"seconds/image (attack loop): median {np.median([r['seconds'] for r in rows]):.2f}, "
          f"p90 {pct([r['seconds'] for r in rows], 90):.2f}; with load+save+re-check: "
          f"median {np.median([r['wall_seconds'] for r in rows]):.2f}")
    if args.extras:
        for key in ("jpeg75_target", "lite2_target"):
            print(f"{key}: {np.mean([r[key] for r in rows]):.1%} of all images keep the target")
    if args.json:
        args.json.write_text(json.dumps(rows, indent=1))


if __name__ == "__main__":
    main()
