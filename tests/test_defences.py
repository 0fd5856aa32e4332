import shutil
import threading
from pathlib import Path

import numpy as np
import pytest

from guiapp.core import AttackConfig, RobustConfig, TargetedAttack
from guiapp.core import defences as D
from guiapp.core.attacks.whitebox import survives
from guiapp.core.errors import Cancelled, GuiappError
from guiapp.core.evaluation import Evaluation, fgsm_view
from guiapp.core.imageio import load_image
from guiapp.core.predict import classify_view

SAMPLES = Path(__file__).resolve().parents[1] / "resources" / "samples"


@pytest.fixture(scope="module")
def view(model):
    return D.model_view(load_image(SAMPLES / "coffee.jpg").rgb, model.spec)


def test_model_view_is_the_models_input(model, view):
    assert view.shape == (224, 224, 3) and view.dtype == np.uint8
    assert int(classify_view(model, view).argmax()) == 967  # espresso, as through the PIL path


@pytest.mark.parametrize("name", ["rescale", "jpeg", "bitdepth", "median"])
def test_shape_and_range_contract(view, name):
    out = D.DEFENCES[name](view)
    assert out.shape == view.shape and out.dtype == np.uint8
    assert out is not view and not np.array_equal(out, view)


def test_round_trips_keep_smooth_images():
    flat = np.full((64, 64, 3), 77, np.uint8)
    assert np.array_equal(D.rescale(flat), flat)
    assert np.abs(D.jpeg(flat, 75).astype(int) - 77).max() <= 1
    assert np.array_equal(D.median(flat), flat)
    assert set(np.unique(D.bitdepth(np.arange(256, dtype=np.uint8).reshape(16, 16, 1).repeat(3, 2), 1))) == {0, 255}


def test_rescale_removes_fine_noise(view):
    rng = np.random.default_rng(0)
    noisy = np.clip(view.astype(int) + rng.choice([-8, 8], view.shape), 0, 255).astype(np.uint8)
    before = np.abs(noisy.astype(int) - view).mean()
    after = np.abs(D.rescale(noisy).astype(int) - D.rescale(view)).mean()
    assert after < before / 2


@pytest.mark.slow
def test_dip_contract_progress_and_cancel():
    img = np.random.default_rng(0).integers(0, 256, (48, 48, 3), dtype=np.uint8)
    seen = []
    out = D.deep_image_prior(img, iterations=20, progress=lambda i, n, mse: seen.append(i))
    assert out.shape == img.shape and out.dtype == np.uint8 and seen == [10, 20]
    stop = threading.Event()
    stop.set()
    with pytest.raises(Cancelled):
        D.deep_image_prior(img, iterations=20, cancel=stop)


def test_parse_defences():
    chosen = D.parse_defences("rescale, jpeg:quality=50")
    assert [d.label for d in chosen] == ["rescale(factor=0.5)", "jpeg(quality=50)"]
    with pytest.raises(GuiappError, match="not available"):
        D.parse_defences("ppgn")
    with pytest.raises(GuiappError, match="unknown defence"):
        D.parse_defences("blur")
    with pytest.raises(GuiappError, match="no parameter"):
        D.parse_defences("jpeg:q=3")


def test_fgsm_lowers_true_class_confidence(model, view):
    adv = fgsm_view(model, view, 967)
    assert np.abs(adv.astype(int) - view).max() <= 16
    assert classify_view(model, adv)[967] < classify_view(model, view)[967]


def test_robust_mode_survives_jpeg_and_rescale(model):
    img = load_image(SAMPLES / "chelsea_cat.jpg").rgb
    plain = TargetedAttack(model, img, 1, AttackConfig())
    list(plain.steps())
    config = RobustConfig()
    robust = TargetedAttack(model, img, 1, config)
    list(robust.steps())
    assert robust.result.success
    real = config.defences_to_survive()
    assert [d.name for d in real] == ["rescale", "jpeg"]
    assert survives(model, robust.result.adversarial, 1, real)
    assert not survives(model, plain.result.adversarial, 1, real)  # minimal noise does not survive


@pytest.mark.slow
def test_tiny_evaluation_end_to_end_and_resume(model, tmp_path):
    imgs = tmp_path / "imgs"
    imgs.mkdir()
    shutil.copy(SAMPLES / "coffee.jpg", imgs / "n07920052_espresso.jpg")
    shutil.copy(SAMPLES / "chelsea_cat.jpg", imgs / "n02124075_Egyptian_cat.jpg")
    out = tmp_path / "out"
    ev = Evaluation(model, imgs, out, n=2, seed=0, defences=D.parse_defences("rescale,jpeg"), modes=("default",))
    stages = [p.stage for p in ev.run()]
    assert stages == ["evaluated", "evaluated"]
    md = ev.write_report("test").read_text()
    assert "| clean | 2 |" in md and "FGSM + rescale" in md and "not available" in md
    assert (out / "evaluation.csv").exists() and (out / "evaluation.png").exists()
    again = Evaluation(model, imgs, out, n=2, seed=0, defences=D.parse_defences("rescale,jpeg"), modes=("default",))
    assert [p.stage for p in again.run()] == ["done earlier", "done earlier"]
