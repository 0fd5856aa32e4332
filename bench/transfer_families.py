"""Quiet transfer with surrogates of other architecture families (../shared/models).

    python bench/transfer_families.py --n 20 [--rows default,all,loo]

How much does a second family buy at the quiet budget? Each row crafts the quiet transfer
default (make_config("transfer")) on held-back pairs (bench/common.py) with other
surrogates, through the public pipeline (attack_file), and asks judges that took no part:

- default: EfficientNet-Lite0 + Lite1 (the shipped surrogates), judged by Lite2 and by each
  shared model (MobileNetV2, ShuffleNet v1, SqueezeNet 1.0);
- all: the default surrogates + the three shared models, judged by Lite2;
- loo-NAME: the default surrogates + two shared models, judged by the one left out.

Every row runs without the centroid term (centroids=None): it reads EfficientNet stage
statistics that the other families do not have, so the rows compare like with like (the
quiet default with the term: docs/BENCHMARKS.md, *Quiet transfer*). Judges classify the
saved PNG through their standard preprocessing (their card's crop) and their own runtime
(onnxruntime for the ONNX file). Prints success per judge, the quality figures, CPU
seconds per image, and paired wins/losses against the default row.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from common import DEFAULT_IMAGES, half_pairs, machine, sign_test  # noqa: E402

MODELS = (DEFAULT_IMAGES.parent / "models").resolve()  # models are named by their resolved paths
SHIPPED = ("efficientnet-lite0", "efficientnet-lite1")
SHARED = {"mobilenet_v2": "mobilenet_v2.pt", "shufflenet_v1": "shufflenet_v1.onnx",
          "squeezenet1_0": "squeezenet1_0.pt"}
LITE2 = "efficientnet-lite2"


def rows(wanted: list[str]) -> dict[str, tuple[tuple[str, ...], tuple[str, ...]]]:
    """row -> (surrogates, judges)."""
    shared = {k: str(MODELS / v) for k, v in SHARED.items()}
    out: dict[str, tuple[tuple[str, ...], tuple[str, ...]]] = {}
    if "default" in wanted:
        out["default"] = (SHIPPED, (LITE2, *shared.values()))
    if "all" in wanted:
        out["all"] = ((*SHIPPED, *shared.values()), (LITE2,))
    if "loo" in wanted:
        for left, path in shared.items():
            out[f"loo-{left}"] = ((*SHIPPED, *(p for k, p in shared.items() if k != left)), (path,))
    return out


def short(name: str) -> str:
    return Path(name).stem if "/" in name else name


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--n", type=int, default=20)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--rows", default="default,all,loo")
    ap.add_argument("--iterations", type=int, default=None, help="default: the quiet preset's own")
    args = ap.parse_args()
    from guiapp.core import attack_file
    from guiapp.core.attacks import make_config

    if not MODELS.is_dir():
        raise SystemExit(f"no {MODELS}: this benchmark needs the shared model files")
    pairs = half_pairs("held", args.n, seed=args.seed)
    print(f"# quiet transfer, {args.n} held-back pairs (seed {args.seed}), {machine()}", flush=True)
    hits: dict[tuple[str, str], list[bool]] = {}
    for row, (surrogates, judges) in rows(args.rows.split(",")).items():
        extra = {"iterations": args.iterations} if args.iterations else {}
        config = make_config("transfer", surrogates=surrogates, **extra)
        psnr, ssim, ciede, cpu = [], [], [], []
        with tempfile.TemporaryDirectory() as tmp:
            for image, _, target in pairs:
                start = time.process_time()
                report = attack_file(image, target, Path(tmp) / f"{image.stem}.png", config=config, device="cpu",
                                     judges=judges, centroids=None)
                cpu.append(time.process_time() - start)
                psnr.append(report.psnr)
                ssim.append(report.ssim)
                ciede.append(report.ciede2000)
                for judge in judges:
                    verdict = report.judges[judge]
                    hits.setdefault((row, short(judge)), []).append(bool(verdict["success"]))
        verdicts = ", ".join(f"{short(j)} {sum(hits[(row, short(j))])}/{len(pairs)}" for j in judges)
        print(f"{row:22s} surrogates {'+'.join(short(s) for s in surrogates)}: {verdicts}; PSNR {np.median(psnr):.1f}"
              f" SSIM {np.median(ssim):.3f} CIEDE2000 {np.median(ciede):.2f}, {np.median(cpu):.0f} CPU s/image",
              flush=True)
    for (row, judge), wins in sorted(hits.items()):
        base = hits.get(("default", judge))
        if row != "default" and base:
            won = sum(a and not b for a, b in zip(wins, base, strict=True))
            lost = sum(b and not a for a, b in zip(wins, base, strict=True))
            p = sign_test(won, lost)
            print(f"paired vs default, judge {judge}, row {row}: +{won} / -{lost} (sign test p {p:.3f})")


if __name__ == "__main__":
    main()
