"""Is the shipped quiet transfer the one the research harness measured?

The quiet default was chosen with a research harness (exp-quiet branch, bench/quiet/:
its held-back rows are quoted in docs/BENCHMARKS.md). This script runs the shipped
TransferAttack (guiapp.core.attacks, default config) on the harness's pairs and compares
its 8-bit output with the PNG the harness saved for the same pair, byte for byte.

    python docs/research/quiet_equivalence.py HARNESS_IMG_DIR [--n 2] [--iterations 150]

HARNESS_IMG_DIR: the harness's out/img/held/quiet folder (PNG per pair, named by the
photo's stem); the pairs (photo, target) come from bench/common.py.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np
import torch

# docs/research/ -> the repository, and bench/ for common.py and transfer.py
sys.path.insert(0, str(Path(__file__).resolve().parents[2]))
sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "bench"))

from guiapp.core.attacks import TransferAttack, make_config  # noqa: E402
from guiapp.core.attacks.centroid_terms import surrogate_centroids  # noqa: E402
from guiapp.core.attacks.transfer import load_surrogates  # noqa: E402
from guiapp.core.imageio import load_image  # noqa: E402

from common import half_pairs  # noqa: E402


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("harness", type=Path)
    ap.add_argument("--n", type=int, default=2)
    ap.add_argument("--half", default="held")
    args = ap.parse_args()
    torch.set_num_threads(1)
    config = make_config("transfer")
    surrogates = load_surrogates(config, "cpu")
    cents = surrogate_centroids(surrogates, config.centroid_layers_needed, None)
    same = 0
    for path, _true, target in half_pairs(args.half, args.n):
        theirs = load_image(args.harness / f"{path.stem}.png").rgb
        t0 = time.process_time()
        attack = TransferAttack(surrogates, load_image(path).rgb, target, config, cents)
        for _ in attack.steps():
            pass
        ours = attack.result.adversarial
        diff = np.abs(ours.astype(int) - theirs.astype(int))
        same += int(not diff.any())
        print(f"{path.name[:40]:40s} identical {not diff.any()!s:5} max diff {diff.max()} "
              f"differing {np.count_nonzero(diff)} of {diff.size}  ({time.process_time() - t0:.1f} s CPU)", flush=True)
    print(f"identical: {same} of {args.n}")


if __name__ == "__main__":
    main()
