import os

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

from pathlib import Path

import numpy as np
import pytest

from guiapp.core.threads import apply_threads

apply_threads()  # as every entry point does: 1 thread unless GUIAPP_THREADS says otherwise

SAMPLES = Path(__file__).resolve().parents[1] / "resources" / "samples"


def pytest_xdist_auto_num_workers(config: pytest.Config) -> int:
    """`-n auto` (pyproject's addopts): one worker per core this process may use, at most 4
    (each worker imports torch and Qt and may start servers, Ray or attack workers: beyond
    four the memory grows faster than the time falls)."""
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1
    return max(1, min(4, cores))


@pytest.fixture(scope="session")
def model():
    from guiapp.core import load_model

    return load_model("efficientnet-lite0", "cpu")


@pytest.fixture(scope="session")
def cat_path() -> Path:
    return SAMPLES / "chelsea_cat.jpg"


@pytest.fixture(scope="session")
def coffee_path() -> Path:
    return SAMPLES / "coffee.jpg"


@pytest.fixture
def rng():
    return np.random.default_rng(0)
