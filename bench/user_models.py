"""Users' own models: the classifiers of ../shared/models (other families, as TorchScript,
torch.export and ONNX files with cards) through guiapp.

    python bench/user_models.py check              # top-1/top-5 vs the models' README
    python bench/user_models.py whitebox --n 20    # the default attack on held-back photos

`check` runs `guiapp-cli models check FILE --images ../shared/imagenet-samples --json` for
each file and compares with the figure ../shared/models/README.md gives (the bar: within
1.5 points). `whitebox` attacks N held-back pairs (bench/common.py's held half, seeded
random targets) with the default mode through the Python API, then classifies each saved
PNG *outside guiapp*: the card's preprocessing written here with PIL and numpy, and the
file's own runtime (onnxruntime for .onnx, torch.jit / torch.export for the others), so
"classified as the target" does not rest on guiapp's own loader.
"""

from __future__ import annotations

import argparse
import json
import re
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
from PIL import Image

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from common import DEFAULT_IMAGES, half_pairs, machine, pct  # noqa: E402

MODELS = (DEFAULT_IMAGES.parent / "models").resolve()  # models are named by their resolved paths
FILES = ("mobilenet_v2.onnx", "mobilenet_v2.pt", "mobilenet_v2.pt2", "shufflenet_v1.onnx", "squeezenet1_0.pt")


def readme_figures() -> dict[str, tuple[float, float]]:
    """file -> (top-1, top-5) from the models' README table."""
    figures = {}
    for line in (MODELS / "README.md").read_text().splitlines():
        found = re.search(r"\|\s*([\d.]+)% / ([\d.]+)%\s*\|", line)
        if line.startswith("|") and found:
            for name in re.findall(r"[\w.]+\.(?:onnx|pt2|pt)\b", line.split("|")[1]):
                figures[name] = (float(found.group(1)), float(found.group(2)))
    return figures


def cmd_check(args: argparse.Namespace) -> None:
    cli = Path(sys.executable).with_name("guiapp-cli")
    figures = readme_figures()
    print(f"# models check on {DEFAULT_IMAGES} ({machine()})")
    print(f"{'file':22s} {'top-1':>7s} {'README':>7s} {'diff':>6s} {'top-5':>7s} {'README':>7s} {'s':>5s}")
    for name in args.files:
        start = time.perf_counter()
        out = subprocess.run([str(cli), "models", "check", str(MODELS / name), "--images", str(DEFAULT_IMAGES),
                              "--json", "--device", "cpu"], capture_output=True, text=True)
        seconds = time.perf_counter() - start
        try:
            result = json.loads(out.stdout[out.stdout.index("{"):])
        except ValueError:
            print(f"{name:22s} failed (exit {out.returncode}): {out.stderr.strip()[-300:]}")
            continue
        top1, top5 = 100 * result["top1"], 100 * result["top5"]
        ref1, ref5 = figures.get(name, (float("nan"), float("nan")))
        print(f"{name:22s} {top1:6.1f}% {ref1:6.1f}% {top1 - ref1:+6.1f} {top5:6.1f}% {ref5:6.1f}% {seconds:5.0f}"
              f"  ({result['images']} images)", flush=True)


class OwnRuntime:
    """A model file run by its own runtime on the card's preprocessing, written here
    independently of guiapp (PIL resize + centre crop, pixel range, mean/std, channel order)."""

    def __init__(self, path: Path) -> None:
        card = json.loads(path.with_suffix(".json").read_text())
        self.card = card
        self.labels = (path.parent / card["labels"]).read_text().splitlines()
        if path.suffix == ".onnx":
            import onnxruntime

            session = onnxruntime.InferenceSession(str(path), providers=["CPUExecutionProvider"])
            name = session.get_inputs()[0].name
            self.run = lambda x: session.run(None, {name: x})[0]
        else:
            import torch

            net = torch.export.load(str(path)).module() if path.suffix == ".pt2" else torch.jit.load(str(path))

            def run(x: np.ndarray) -> np.ndarray:
                with torch.no_grad():
                    return net(torch.from_numpy(x)).numpy()

            self.run = run

    def top1(self, image_path: Path) -> int:
        card = self.card
        image = Image.open(image_path).convert("RGB")
        w, h = image.size
        short = card["resize"]
        size = (short, int(short * h / w)) if w <= h else (int(short * w / h), short)
        image = image.resize(size, Image.Resampling.BILINEAR)
        left, top = int(round((size[0] - card["crop"]) / 2)), int(round((size[1] - card["crop"]) / 2))
        pixels = np.asarray(image.crop((left, top, left + card["crop"], top + card["crop"])), dtype=np.float32)
        low, high = card["pixel_range"]
        pixels = pixels / 255 * (high - low) + low
        if card["channel_order"] == "BGR":
            pixels = pixels[..., ::-1]
        x = (pixels - np.array(card["mean"], np.float32)) / np.array(card["std"], np.float32)
        return int(self.run(np.ascontiguousarray(x.transpose(2, 0, 1)[None], dtype=np.float32)).argmax())


def cmd_whitebox(args: argparse.Namespace) -> None:
    from guiapp.core import attack_file, load_model

    pairs = half_pairs("held", args.n, seed=args.seed)
    print(f"# default mode, {args.n} held-back pairs (seed {args.seed}), {machine()}")
    for name in args.files:
        path = MODELS / name
        model = load_model(str(path), "cpu")
        own = OwnRuntime(path)
        reached, agreed, psnrs, seconds = 0, 0, [], []
        with tempfile.TemporaryDirectory() as tmp:
            for image, _, target in pairs:
                out = Path(tmp) / f"{image.stem}.png"
                report = attack_file(image, target, out, model=model, device="cpu")
                runtime_top1 = own.top1(out)
                reached += report.success
                agreed += runtime_top1 == target
                seconds.append(report.seconds)
                if report.success:
                    psnrs.append(report.psnr)
                if args.verbose:
                    print(f"  {image.name:40s} {'ok' if report.success else 'FAILED':6s} {report.psnr:5.1f} dB "
                          f"{report.steps:3d} steps, own runtime: {own.labels[runtime_top1][:30]}", flush=True)
        print(f"{name:22s} reached {reached}/{len(pairs)}, own runtime sees the target {agreed}/{len(pairs)}, "
              f"PSNR median {pct(psnrs, 50):.1f} dB (p10 {pct(psnrs, 10):.1f}), {np.median(seconds):.1f} s/image",
              flush=True)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    sub = ap.add_subparsers(dest="command", required=True)
    c = sub.add_parser("check", help="top-1/top-5 on the 1000 samples vs the README")
    c.add_argument("--files", nargs="+", default=list(FILES))
    c.set_defaults(func=cmd_check)
    w = sub.add_parser("whitebox", help="the default attack on held-back photos, judged by each file's runtime")
    w.add_argument("--n", type=int, default=20)
    w.add_argument("--seed", type=int, default=0)
    w.add_argument("--files", nargs="+", default=["mobilenet_v2.onnx", "shufflenet_v1.onnx", "squeezenet1_0.pt"])
    w.add_argument("--verbose", action="store_true")
    w.set_defaults(func=cmd_whitebox)
    args = ap.parse_args()
    if not MODELS.is_dir():
        raise SystemExit(f"no {MODELS}: this benchmark needs the shared model files")
    args.func(args)


if __name__ == "__main__":
    main()
