"""Top-1/top-5 of a model on labelled images through its standard PIL preprocessing.

    python bench/accuracy.py [--model efficientnet-lite0] [--images ../shared/imagenet-samples]

Proves the input scaling: with the right scaling EfficientNet-Lite0 gets ~89% top-1 on
the 1000 shared samples. `--mean-std imagenet` re-runs it with ImageNet mean/std instead.
"""

from __future__ import annotations

import argparse
import dataclasses
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from PIL import Image  # noqa: E402

from guiapp.core import load_model  # noqa: E402
from guiapp.core.centroids import find_class_images  # noqa: E402
from guiapp.core.predict import classify_pil  # noqa: E402
from guiapp.core.preprocess import IMAGENET  # noqa: E402

from common import DEFAULT_IMAGES, machine  # noqa: E402


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--model", default="efficientnet-lite0")
    ap.add_argument("--images", type=Path, default=DEFAULT_IMAGES)
    ap.add_argument("--mean-std", choices=["model", "imagenet"], default="model")
    ap.add_argument("--limit", type=int, default=None, help="only the first LIMIT classes (a quick check)")
    args = ap.parse_args()
    model = load_model(args.model, "cpu")
    if args.mean_std == "imagenet":
        model = dataclasses.replace(model, spec=dataclasses.replace(model.spec, mean=IMAGENET.mean, std=IMAGENET.std))
    per_class = find_class_images(args.images, model)
    if args.limit:
        per_class = dict(sorted(per_class.items())[: args.limit])
    top1 = top5 = n = 0
    start = time.perf_counter()
    for index, paths in sorted(per_class.items()):
        for p in paths:
            probs = classify_pil(model, Image.open(p))
            best = probs.topk(5).indices.tolist()
            top1 += best[0] == index
            top5 += index in best
            n += 1
    print(f"{model.name} ({args.mean_std} scaling {model.spec.mean}/{model.spec.std}) "
          f"on {n} images of {args.images.name}: "
          f"top-1 {top1 / n:.1%}, top-5 {top5 / n:.1%} ({time.perf_counter() - start:.0f} s; {machine()})")


if __name__ == "__main__":
    main()
