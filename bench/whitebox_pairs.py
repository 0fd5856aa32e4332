"""The white-box attack on a fixed set of photos and targets, one CLI run each: the rows to
pair between two checkouts (run it in each, then compare line by line).

    python bench/whitebox_pairs.py [--n 12] [--steps 60] [--flat]

The first N ImageNet samples (../shared/imagenet-samples, sorted) and the shipped
resources/samples photos, each with the target (97 i + 13) mod 1000; `--flat` adds the
hardest grey cases, a pure black and a pure white 224x224 picture (target goldfish). Prints
per photo: reached, steps, PSNR of the saved PNG; then the totals.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
from pathlib import Path

from PIL import Image

ROOT = Path(__file__).resolve().parents[1]
SHARED = ROOT.parent / "shared" / "imagenet-samples"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--n", type=int, default=12)
    ap.add_argument("--steps", type=int, default=60)
    ap.add_argument("--flat", action="store_true")
    ap.add_argument("--skip-samples", action="store_true", help="leave out the shipped resources/samples photos")
    args = ap.parse_args()
    cli = Path(sys.executable).with_name("guiapp-cli")
    with tempfile.TemporaryDirectory() as tmp:
        photos = [(p, str((i * 97 + 13) % 1000)) for i, p in enumerate(
            sorted(SHARED.glob("n*.JPEG"))[: args.n]
            + ([] if args.skip_samples else sorted((ROOT / "resources" / "samples").glob("*.jpg"))))]
        if args.flat:
            for name, level in (("black", 0), ("white", 255)):
                path = Path(tmp) / f"{name}.png"
                Image.new("RGB", (224, 224), (level,) * 3).save(path)
                photos.append((path, "goldfish"))
        reached, psnrs = 0, []
        for path, target in photos:
            out = subprocess.run([str(cli), "attack", str(path), "-t", target, "-o", str(Path(tmp) / "o.png"),
                                  "--json", "--device", "cpu", "--steps", str(args.steps)],
                                 capture_output=True, text=True)
            if not out.stdout.strip():
                raise SystemExit(f"{path.name}: guiapp-cli printed no report (exit {out.returncode}): "
                                 f"{out.stderr.strip()[-500:]}")
            report = json.loads(out.stdout)
            reached += report["success"]
            if report["success"]:
                psnrs.append(report["psnr"])
            print(f"{path.name:40s} {'reached' if report['success'] else 'FAILED ':7s} {report['steps']:4d} steps  "
                  f"{report['psnr']:6.2f} dB", flush=True)
        mean = sum(psnrs) / len(psnrs) if psnrs else float("nan")
        print(f"reached {reached}/{len(photos)}, mean PSNR of those {mean:.2f} dB")


if __name__ == "__main__":
    main()
