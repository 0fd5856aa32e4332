"""The picture in docs/BENCHMARKS.md: one image, its transfer results at each budget.

    python bench/transfer.py --eps 16 --iterations 100 --save-images --out bench/out/transfer-100
    python bench/transfer.py --eps 8 --iterations 100 --save-images --out bench/out/transfer-100
    python bench/transfer_figure.py --out bench/out/transfer-100 --image n01530575_brambling

Reads the PNGs that --save-images kept and the rows' verdicts (.jsonl), and writes the
original, each budget's adversarial image and a crop at 100% side by side, captioned with
what EfficientNet-Lite2 (the judge) saw and the PSNR.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from PIL import Image, ImageDraw

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from guiapp.core.imageio import load_image  # noqa: E402
from guiapp.core.labels import imagenet_labels  # noqa: E402

from common import DEFAULT_IMAGES  # noqa: E402

PANEL = 300  # width of each panel, px
CAPTION = 34


def verdict(out: Path, row: str, eps: str, name: str) -> dict:
    for line in (out / f"{row}-eps{eps}.jsonl").read_text().splitlines():
        r = json.loads(line)
        if r["file"] == name:
            return r
    raise SystemExit(f"{name} is not in {row}-eps{eps}.jsonl")


def panel(img: Image.Image, lines: list[str]) -> Image.Image:
    img = img.resize((PANEL, round(img.height * PANEL / img.width)), Image.LANCZOS)
    canvas = Image.new("RGB", (PANEL, img.height + CAPTION), "white")
    canvas.paste(img, (0, 0))
    draw = ImageDraw.Draw(canvas)
    for i, text in enumerate(lines):
        draw.text((4, img.height + 3 + 15 * i), text, fill="black")
    return canvas


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--out", type=Path, default=Path("bench/out/transfer-100"))
    ap.add_argument("--images", type=Path, default=DEFAULT_IMAGES)
    ap.add_argument("--image", required=True, help="file stem, e.g. n01530575_brambling")
    ap.add_argument("--row", default="ours")
    ap.add_argument("--budgets", default="16,8")
    ap.add_argument("-o", "--output", type=Path, default=Path("docs/img/transfer.png"))
    args = ap.parse_args()

    labels = imagenet_labels()
    source = next(args.images.glob(f"{args.image}.*"))
    budgets = args.budgets.split(",")
    rows = {eps: verdict(args.out, args.row, eps, source.name) for eps in budgets}
    original = Image.fromarray(load_image(source).rgb)
    box = (original.width // 2 - 50, original.height // 2 - 50, original.width // 2 + 50, original.height // 2 + 50)
    panels = [panel(original, ["original", f"class: {labels[rows[budgets[0]]['true']].name}"])]
    crops = [original.crop(box)]
    for eps, r in rows.items():
        adv = Image.open(args.out / "images" / f"{args.row}-eps{eps}" / f"{args.image}.png").convert("RGB")
        judged = labels[r["judge_top1"]].name
        panels.append(panel(adv, [f"{eps}/255: PSNR {r['psnr']:.1f} dB, target {labels[r['target']].name}",
                                  f"Lite2 sees: {judged} ({'fooled' if r['judge_success'] else 'not fooled'})"]))
        crops.append(adv.crop(box))
    strip = Image.new("RGB", (PANEL * len(crops), PANEL), "white")
    for i, c in enumerate(crops):
        strip.paste(c.resize((PANEL, PANEL), Image.NEAREST), (i * PANEL, 0))
    height = max(p.height for p in panels)
    figure = Image.new("RGB", (PANEL * len(panels), height + PANEL + 18), "white")
    for i, p in enumerate(panels):
        figure.paste(p, (i * PANEL, 0))
    ImageDraw.Draw(figure).text((4, height + 2), "centre 100x100 px, enlarged 3x (nearest neighbour)", fill="black")
    figure.paste(strip, (0, height + 18))
    args.output.parent.mkdir(parents=True, exist_ok=True)
    figure.save(args.output)
    print(f"wrote {args.output} ({figure.width}x{figure.height})")


if __name__ == "__main__":
    main()
