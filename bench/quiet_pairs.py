"""The fixed split and the seeded (image, target) pairs of the quiet-transfer study.

TUNING half: class index even; HELD-BACK half: class index odd (index = position of the
file in the sorted folder = its ImageNet class). Every setting is chosen on tuning pairs
only; the held-back pairs are run once, at the end.
"""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np

IMAGES = Path(__file__).resolve().parents[2] / "shared" / "imagenet-samples"
HALVES = {"tune": 0, "held": 1}


def all_files(folder: Path = IMAGES) -> list[Path]:
    files = sorted(p for p in folder.iterdir() if re.match(r"n\d{8}_", p.name))
    assert len(files) == 1000, len(files)
    return files


def half_pairs(half: str, n: int, seed: int = 0, folder: Path = IMAGES) -> list[tuple[Path, int, int]]:
    """n (path, true class, random target != true class) of one half, seeded; the first k of
    n pairs are the same for every n (a seeded permutation, targets drawn per position)."""
    files = all_files(folder)
    idx = [i for i in range(len(files)) if i % 2 == HALVES[half]]
    rng = np.random.default_rng([seed, HALVES[half]])  # its own stream per half
    order = rng.permutation(len(idx))
    targets = rng.integers(0, 999, size=len(idx))
    out = []
    for k in order[:n]:
        i = idx[k]
        t = int(targets[k])
        t = t + 1 if t >= i else t  # never the true class
        out.append((files[i], i, t))
    return out


if __name__ == "__main__":
    for h in HALVES:
        ps = half_pairs(h, 5)
        print(h, [(p.name, i, t) for p, i, t in ps])
