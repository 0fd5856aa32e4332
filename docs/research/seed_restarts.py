"""Would restarting the crafting with fresh randomness turn a query-mode failure? For the
tuning pairs the query mode failed (50 questions, Lite2 top 5), craft the quiet transfer
noise with several seeds and ask Lite2 (locally) what it sees in each saved PNG.

    python docs/research/seed_restarts.py --pairs ruffed_grouse,worm_fence,ballpoint,sunglass --seeds 0,1,2,3

Result (2026-12-07, BENCHMARKS.md, *Query mode*): 0 of 16 crafts fooled Lite2; each
image's answer stayed the same class across seeds.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "bench"))
from guiapp.core import attack_file  # noqa: E402
from guiapp.core.attacks import make_config  # noqa: E402
from guiapp.core.models import load_model  # noqa: E402
from guiapp.core.predict import predict_file  # noqa: E402

from common import half_pairs  # noqa: E402


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--pairs", required=True, help="comma-separated parts of the photos' names (tuning half)")
    p.add_argument("--seeds", default="0,1,2,3")
    p.add_argument("--n", type=int, default=40, help="tuning pairs to look among")
    args = p.parse_args()
    torch.set_num_threads(1)
    names = args.pairs.split(",")
    seeds = [int(s) for s in args.seeds.split(",")]
    pairs = [pair for pair in half_pairs("tune", args.n) if any(n in pair[0].name for n in names)]
    lite2 = load_model("efficientnet-lite2")
    with tempfile.TemporaryDirectory() as tmp:
        for path, _true, target in pairs:
            for seed in seeds:
                start = time.time()
                out = Path(tmp) / f"{path.stem}_{seed}.png"
                report = attack_file(path, target, out, config=make_config("transfer", seed=seed), device="cpu")
                preds = predict_file(out, lite2)
                rank = next((i for i, pred in enumerate(preds) if pred.index == target), None)
                print(f"{path.stem[10:]:24s} seed {seed}: Lite2 sees {preds[0].name[:20]:20s} "
                      f"{preds[0].confidence:.2f}, target's rank in its top 5 {rank}, {report.psnr:.1f} dB, "
                      f"{time.time() - start:.0f} s", flush=True)


if __name__ == "__main__":
    main()
