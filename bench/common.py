"""Shared helpers for the benchmark scripts: the sample set, the tuning / held-back split,
seeded target choice.

The split (fixed once, for the quiet-transfer study, and used since for every figure that
must come from photos no setting was chosen on): the TUNING half of ../shared/imagenet-samples
is the files whose class index is even, the HELD-BACK half those whose index is odd (index =
position of the file in the sorted folder = its ImageNet class). Settings are chosen on
tuning pairs only; published comparisons run on held-back pairs (`half_pairs("held", n)`).
"""

from __future__ import annotations

import platform
import re
from pathlib import Path

import numpy as np
import torch

DEFAULT_IMAGES = Path(__file__).resolve().parents[2] / "shared" / "imagenet-samples"
HALVES = {"tune": 0, "held": 1}


def all_files(folder: Path = DEFAULT_IMAGES) -> list[Path]:
    """The 1000 `<wnid>_*.JPEG` samples in class order."""
    files = sorted(p for p in folder.iterdir() if re.match(r"n\d{8}_", p.name)) if folder.is_dir() else []
    if len(files) != 1000:
        raise SystemExit(f"expected the 1000 <wnid>_*.JPEG ImageNet samples in {folder}, found {len(files)}")
    return files


def half_pairs(half: str, n: int, seed: int = 0, folder: Path = DEFAULT_IMAGES) -> list[tuple[Path, int, int]]:
    """n (path, true class, random target != true class) of one half ("tune" or "held"),
    seeded; the first k of n pairs are the same for every n (a seeded permutation, targets
    drawn per position)."""
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


def sample_images(folder: Path, n: int, seed: int) -> list[tuple[Path, int, int]]:
    """n (path, true class, random target != true class) triples from the whole folder
    (both halves), seeded: the sample of the older figures."""
    files = sorted(p for p in folder.iterdir() if re.match(r"n\d{8}_", p.name))
    if not files:
        raise SystemExit(f"no <wnid>_*.JPEG files in {folder}")
    rng = np.random.default_rng(seed)
    picks = sorted(rng.choice(len(files), size=min(n, len(files)), replace=False))
    out = []
    for i in picks:
        target = int(rng.integers(0, 999))
        target = target + 1 if target >= i else target  # never the true class
        out.append((files[i], int(i), target))
    return out


def machine() -> str:
    cpu = platform.processor() or platform.machine()
    return f"{platform.system()} {cpu}, {torch.get_num_threads()} torch threads, torch {torch.__version__}"


def pct(values, q) -> float:
    return float(np.percentile(values, q)) if len(values) else float("nan")


def sign_test(won: int, lost: int) -> float:
    """Two-sided exact sign test (McNemar's test) on the discordant pairs."""
    from math import comb

    n = won + lost
    if n == 0:
        return 1.0
    k = min(won, lost)
    return min(1.0, 2 * sum(comb(n, i) for i in range(k + 1)) / 2**n)
