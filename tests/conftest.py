import os

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

from pathlib import Path

import numpy as np
import pytest

from guiapp.core.threads import apply_threads

apply_threads()  # as every entry point does: 1 thread unless GUIAPP_THREADS says otherwise

SAMPLES = Path(__file__).resolve().parents[1] / "resources" / "samples"


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
