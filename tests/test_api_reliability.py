"""attack_file / predict_file find bad arguments and unwritable outputs before the attack
(issue 11, items 3, 4 and 9). The attack itself is replaced by a tripwire where it must not run."""

import errno
import os
import tempfile

import numpy as np
import pytest
from PIL import Image

from guiapp.core import png_output
from guiapp.core.attacks import AttackConfig
from guiapp.core.errors import GuiappError, ImageLoadError, LabelError, OutputError
from guiapp.core.pipeline import attack_file
from guiapp.core.predict import predict_file

from _imagefiles import animated_gif


def _must_not_run(*args, **kwargs):
    raise AssertionError("the attack started although the problem was detectable before it")


@pytest.fixture
def tripwire(monkeypatch):
    monkeypatch.setattr("guiapp.core.pipeline.AttackRun", _must_not_run)


@pytest.fixture
def photo(tmp_path):
    path = tmp_path / "in.png"
    Image.fromarray(np.random.default_rng(0).integers(0, 256, (48, 64, 3), dtype=np.uint8)).save(path)
    return path


def test_output_that_is_a_folder(model, photo, tmp_path, tripwire):
    (tmp_path / "out.png").mkdir()
    with pytest.raises(OutputError, match="is a folder"):
        attack_file(photo, "goldfish", tmp_path / "out.png", model=model)


def test_read_only_file_system(model, photo, tmp_path, tripwire, monkeypatch):
    # Tests may run as root (chmod is ignored), so raise what a read-only mount raises.
    def erofs(*args, **kwargs):
        raise OSError(errno.EROFS, "Read-only file system")

    monkeypatch.setattr(tempfile, "NamedTemporaryFile", erofs)
    with pytest.raises(OutputError, match="read-only file system"):
        attack_file(photo, "goldfish", tmp_path / "o.png", model=model)


def test_permission_denied(model, photo, tmp_path, tripwire, monkeypatch):
    def denied(*args, **kwargs):
        raise PermissionError(errno.EACCES, "Permission denied")

    monkeypatch.setattr(tempfile, "NamedTemporaryFile", denied)
    with pytest.raises(OutputError, match="permission denied"):
        attack_file(photo, "goldfish", tmp_path / "o.png", model=model)


def test_full_disk(model, photo, tmp_path, tripwire, monkeypatch):
    # Many file systems report a full disk only when the data is flushed.
    def full(fd):
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(os, "fsync", full)
    with pytest.raises(OutputError, match="no space left"):
        attack_file(photo, "goldfish", tmp_path / "o.png", model=model)
    assert [p.name for p in tmp_path.iterdir()] == ["in.png"]  # the probe cleaned up after itself


def test_too_little_space_for_the_png(model, photo, tmp_path, tripwire, monkeypatch):
    real = png_output.shutil.disk_usage

    def nearly_full(path):
        return real(path)._replace(free=1000)

    monkeypatch.setattr(png_output.shutil, "disk_usage", nearly_full)
    with pytest.raises(OutputError, match=r"needs up to 0.0 MB and only 0.0 MB are free"):
        attack_file(photo, "goldfish", tmp_path / "o.png", model=model)


def test_output_folder_under_a_file(model, photo, tmp_path, tripwire):
    (tmp_path / "afile").write_text("x")
    with pytest.raises(OutputError):
        attack_file(photo, "goldfish", tmp_path / "afile" / "o.png", model=model)


@pytest.mark.parametrize("target", [3.5, 1.0, None, True, ["goldfish"], b"goldfish"])
def test_target_of_the_wrong_type_is_a_label_error(model, photo, tmp_path, tripwire, target):
    with pytest.raises(LabelError, match="target must be a class name") as info:
        attack_file(photo, target, tmp_path / "o.png", model=model)
    assert type(target).__name__ in str(info.value)


def test_numpy_integer_target_is_accepted(model, photo, tmp_path, monkeypatch):
    seen = {}

    def record(model_, image, target, *args, **kwargs):
        seen["target"] = target
        raise RuntimeError("stop here")

    monkeypatch.setattr("guiapp.core.attacks.whitebox_strategy.TargetedAttack", record)
    with pytest.raises(RuntimeError, match="stop here"):
        attack_file(photo, np.int64(1), tmp_path / "o.png", model=model)
    assert seen["target"] == 1


@pytest.mark.parametrize("kwargs,match", [
    ({"image": None}, "image must be a file path"),
    ({"image": 42}, "image must be a file path"),
    ({"output": 3}, "output must be a file path"),
    ({"model": None}, "model must be a model name"),
])
def test_other_wrong_types_are_clear(model, photo, tmp_path, tripwire, kwargs, match):
    args = {"image": photo, "target": "goldfish", "output": tmp_path / "o.png", "model": model, **kwargs}
    with pytest.raises(GuiappError, match=match):
        attack_file(args.pop("image"), args.pop("target"), args.pop("output"), **args)


def test_max_pixels_in_the_api(model, photo, tmp_path, tripwire):
    with pytest.raises(ImageLoadError,
                       match="--max-pixels N on the command line, max_pixels= in Python, or Edit > Preferences"):
        attack_file(photo, "goldfish", tmp_path / "o.png", model=model, max_pixels=1000)
    with pytest.raises(ImageLoadError, match="over the limit of 1_000"):
        predict_file(photo, model, max_pixels=1000)
    assert len(predict_file(photo, model, k=3, max_pixels=64 * 48)) == 3


def test_load_notes_reach_the_report(model, tmp_path):
    (tmp_path / "a.gif").write_bytes(animated_gif([(200, 30, 30), (30, 200, 30)], (64, 48)))
    report = attack_file(tmp_path / "a.gif", "goldfish", tmp_path / "o.png", model=model,
                         config=AttackConfig(max_steps=1))
    assert any("animated GIF" in n for n in report.notes)
