"""Where the quiet default fails: on the surrogates first, and on which photos.

    python docs/research/quiet_failures.py docs/transfer/quiet/held/quiet.jsonl

Reads bench/transfer.py rows (one JSON object per pair: file, crop_ok, full_ok,
surrogates_ok) and prints (1) Lite2's success given the surrogates' verdict, (2) success by
quartile of the photo's texture: the median absolute Laplacian of its grey image after a
0.7 px Gaussian blur (the photos are read from --images by file name).
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import numpy as np
from PIL import Image
from scipy import ndimage

# docs/research/ -> the repository, and bench/ for common.py and transfer.py
sys.path.insert(0, str(Path(__file__).resolve().parents[2]))
sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "bench"))

from common import DEFAULT_IMAGES as IMAGES  # noqa: E402
from common import all_files  # noqa: E402


def texture(path: Path) -> float:
    grey = np.asarray(Image.open(path).convert("L"), dtype=np.float32)
    return float(np.median(np.abs(ndimage.laplace(ndimage.gaussian_filter(grey, 0.7)))))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("rows", type=Path)
    ap.add_argument("--images", type=Path, default=IMAGES)
    args = ap.parse_args()
    rows = [json.loads(line) for line in args.rows.read_text().splitlines() if line.strip()]
    crop = np.array([r["crop_ok"] for r in rows])
    whole = np.array([r["full_ok"] for r in rows])
    surr = np.array([r["surrogates_ok"] for r in rows])
    print(f"{len(rows)} pairs: surrogates fooled on {surr.sum()}; Lite2 crop {crop.sum()} "
          f"({(crop & surr).sum()} of them where the surrogates were, {(crop & ~surr).sum()} where they were not)")
    files = {p.name: p for p in all_files(args.images)}
    tex = np.array([texture(files[r["file"]]) for r in rows])
    bins = np.digitize(tex, np.quantile(tex, [0.25, 0.5, 0.75]))
    for b, name in enumerate(("flattest", "second", "third", "most textured")):
        m = bins == b
        print(f"texture quartile {b + 1} ({name}, {m.sum()} pairs): crop {crop[m].mean():.0%}, "
              f"whole photo {whole[m].mean():.0%}, surrogates {surr[m].mean():.0%}")


if __name__ == "__main__":
    main()
