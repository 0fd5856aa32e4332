"""The transfer gallery of docs/BENCHMARKS.md: original | quiet (the default) | loud (16/255)
at 100% zoom, for a few held-back pairs, so a reader can judge the noise with their own eyes.

    python bench/gallery.py --n 4 --out docs/img

Each panel is the same 224 x 224 px crop (the photo's centre, no scaling) of the original
and of the two 8-bit results as saved; the caption under each strip gives the figures of
the whole photo and what EfficientNet-Lite2 (a judge no attack touches) sees in it.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
from pathlib import Path

import numpy as np
import torch
from PIL import Image, ImageDraw

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from guiapp.core import AttackRun, imagenet_labels, load_model, make_config, plan_attack  # noqa: E402
from guiapp.core.imageio import load_image  # noqa: E402
from guiapp.core.metrics import distortion  # noqa: E402
from guiapp.core.png_output import save_png  # noqa: E402
from guiapp.core.predict import classify_pil  # noqa: E402

from common import half_pairs  # noqa: E402

CROP = 224
CAPTION = 30


def centre_crop(img: np.ndarray) -> np.ndarray:
    h, w = img.shape[:2]
    top, left = (h - CROP) // 2, (w - CROP) // 2
    return img[top:top + CROP, left:left + CROP]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--n", type=int, default=4)
    ap.add_argument("--skip", type=int, default=0, help="start at this held-back pair (photos under 224 px skipped)")
    ap.add_argument("--out", type=Path, default=Path("docs/img"))
    ap.add_argument("--iterations", type=int, default=None, help="default: each preset's own")
    args = ap.parse_args()
    torch.set_num_threads(1)
    configs = {"quiet": make_config("transfer", iterations=args.iterations),
               "loud": make_config("transfer", preset="loud", iterations=args.iterations)}
    judge = load_model("efficientnet-lite2", "cpu")
    names = imagenet_labels()
    args.out.mkdir(parents=True, exist_ok=True)
    shown = 0
    for path, _true, target in half_pairs("held", 500)[args.skip:]:
        if shown == args.n:
            break
        loaded = load_image(path)
        original = loaded.rgb
        if min(original.shape[:2]) < CROP:  # a full 224-px crop at 100%: skip the few small photos
            continue
        shown += 1
        subject = path.name.split("_", 1)[1].rsplit(".", 1)[0].replace("_", " ")
        panels = [centre_crop(original)]
        captions = [(f"original ({subject[:24]})", f"target: {names[target].name[:26]}")]
        for label, config in configs.items():
            run = AttackRun(plan_attack(loaded, target, config=config, device="cpu"))  # the shipped centroids
            for _ in run.steps():
                pass
            with tempfile.TemporaryDirectory() as tmp:
                back = load_image(save_png(Path(tmp) / "a.png", run.result.adversarial)).rgb
            d = distortion(original, back)
            seen = int(classify_pil(judge, Image.fromarray(back)).argmax())
            verdict = "Lite2: fooled" if seen == target else f"Lite2 sees {names[seen].name[:22]}"
            panels.append(centre_crop(back))
            captions.append((f"{label} {d.psnr:.1f} dB SSIM {d.ssim:.2f} dE {d.ciede2000:.1f}", verdict))
            print(f"{path.name} target {names[target].name}: {captions[-1]}", flush=True)
        side = CROP
        strip = Image.new("RGB", (3 * side + 8, side + CAPTION), "white")
        draw = ImageDraw.Draw(strip)
        for i, (panel, (first, second)) in enumerate(zip(panels, captions, strict=True)):
            strip.paste(Image.fromarray(np.ascontiguousarray(panel)), (i * (side + 4), 0))
            draw.text((i * (side + 4) + 2, side + 2), first, fill="black")
            draw.text((i * (side + 4) + 2, side + 15), second, fill="black")
        out = args.out / f"gallery-{shown}.png"
        strip.save(out)
        print(f"wrote {out}", flush=True)


if __name__ == "__main__":
    main()
