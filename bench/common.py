"""Shared helpers for the benchmark scripts: the sample set and seeded target choice."""

from __future__ import annotations

import platform
import re
from pathlib import Path

import numpy as np
import torch

DEFAULT_IMAGES = Path(__file__).resolve().parents[2] / "shared" / "imagenet-samples"


def sample_images(folder: Path, n: int, seed: int) -> list[tuple[Path, int, int]]:
    """n (path, true class, random target != true class) triples, seeded."""
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
