"""The memory check: an attack that would not fit is refused before it starts (issue 11, item 4)."""

import numpy as np
import pytest
import torch
from PIL import Image

from guiapp.core import memory
from guiapp.core.attacks import AttackConfig, RobustConfig, TransferConfig
from guiapp.core.errors import MemoryLimitError
from guiapp.core.imageio import image_from_pil
from guiapp.core.pipeline import attack_file, check_fits, memory_estimate, plan_attack

DEFAULT = memory_estimate(AttackConfig())


def test_estimate_grows_with_pixels_and_mode():
    small, middle, big = DEFAULT(1000, 1000), DEFAULT(2000, 2000), DEFAULT(4000, 4000)
    assert big - middle == 4 * (middle - small)  # linear in pixels at one shape (the resized view is the same)
    # The measurement: a 62-megapixel attack peaked at 10.9 GB. The estimate must not be lower.
    assert DEFAULT(9100, 6800) >= 10.9e9 - 0.8e9  # minus the process itself
    assert memory_estimate(RobustConfig())(2000, 2000) > DEFAULT(2000, 2000)
    # Transfer with its two default surrogates, measured: 1612 MiB more at 4 MP (423 B/px).
    assert memory_estimate(TransferConfig())(2309, 1732) >= 1612 * 2**20
    three = TransferConfig(surrogates=("efficientnet-lite0", "efficientnet-lite1", "efficientnet-lite2"))
    assert memory_estimate(three)(2000, 2000) > memory_estimate(TransferConfig())(2000, 2000)


def test_meminfo_is_read_on_linux():
    available, where = memory.available_bytes("cpu")
    assert where == "RAM" and available is not None and available > 10 * 2**20


def _pretend_available(monkeypatch, nbytes):
    monkeypatch.setattr(memory, "_meminfo_available", lambda: nbytes)


def test_refusal_says_estimate_available_and_what_to_do(monkeypatch):
    _pretend_available(monkeypatch, 2 * 2**30)
    with pytest.raises(MemoryLimitError) as info:
        check_fits(AttackConfig(), 8000, 6000, "cpu")
    msg = str(info.value)
    needed = DEFAULT(8000, 6000) / 2**30
    assert f"needs about {needed:.1f} GiB of RAM" in msg and "only 2.0 GiB is available" in msg
    assert "Downscale the image to at most" in msg and "--max-pixels" in msg
    # The suggested size (8000x6000 scaled down) really fits, and not much more would.
    fit = memory.largest_fitting_pixels(2 * 2**30, DEFAULT, 8000, 6000)
    w, h = int((fit * 4 / 3) ** 0.5), int((fit * 3 / 4) ** 0.5)
    assert DEFAULT(w, h) * memory.HEADROOM <= 2 * 2**30 < DEFAULT(w + 40, h + 30) * memory.HEADROOM
    assert f"Downscale the image to at most {w}x" in msg or f"at most {w + 1}x" in msg
    # A smaller image passes.
    assert check_fits(AttackConfig(), 1000, 1000, "cpu").fits


def test_check_can_be_switched_off(monkeypatch):
    _pretend_available(monkeypatch, 2**20)
    monkeypatch.setenv("GUIAPP_MEMORY_CHECK", "off")
    assert not check_fits(AttackConfig(), 4000, 3000, "cpu").fits  # reported, not raised


def test_unknown_availability_does_not_refuse(monkeypatch):
    _pretend_available(monkeypatch, None)
    assert check_fits(RobustConfig(), 8000, 8000, "cpu").fits


def test_cuda_uses_free_gpu_memory(monkeypatch):
    monkeypatch.setattr(torch.cuda, "mem_get_info", lambda dev=None: (1 * 2**30, 80 * 2**30))
    monkeypatch.setattr(torch.cuda, "memory_reserved", lambda dev=None: 0)
    monkeypatch.setattr(torch.cuda, "memory_allocated", lambda dev=None: 0)
    with pytest.raises(MemoryLimitError, match=r"GPU memory \(cuda:0\).*or use the CPU"):
        check_fits(AttackConfig(), 6000, 4000, torch.device("cuda:0"))


def test_the_plan_refuses_before_any_step(model, monkeypatch):
    # The GUI plans its attacks through the pipeline: it gets the check too, once.
    _pretend_available(monkeypatch, 64 * 2**20)
    image = image_from_pil(Image.fromarray(np.zeros((600, 800, 3), np.uint8)))
    with pytest.raises(MemoryLimitError, match="a default attack on this 800x600 image"):
        plan_attack(image, 1, model=model)


def test_attack_file_refuses_before_attacking(model, tmp_path, monkeypatch):
    Image.new("RGB", (800, 600), (120, 80, 40)).save(tmp_path / "in.png")
    _pretend_available(monkeypatch, 64 * 2**20)
    monkeypatch.setattr("guiapp.core.pipeline.AttackRun", _must_not_run)
    with pytest.raises(MemoryLimitError, match="800x600"):
        attack_file(tmp_path / "in.png", "goldfish", tmp_path / "out.png", model=model)
    assert not (tmp_path / "out.png").exists()


def _must_not_run(*args, **kwargs):
    raise AssertionError("the attack started although the check should have refused it")


# -- thin strips: the models' resized view (issue 23, item 1) ------------------------------

MIB = 2**20


def test_a_strip_is_estimated_at_the_size_the_model_processes():
    from guiapp.core.memory import Footprint, predict_bytes
    from guiapp.core.preprocess import PM1

    strip = Footprint.of(60000, 32, [PM1])
    assert strip.resized == (480000 * 256,)  # the short side upscaled to 256
    assert Footprint.of(32, 60000, [PM1]).resized == strip.resized
    # Measured peaks (bench/hardening.py, docs/BENCHMARKS.md) lie under the estimates.
    assert DEFAULT(60000, 32) >= 3013 * MIB and DEFAULT(20000, 32) >= 1073 * MIB
    assert memory_estimate(RobustConfig())(20000, 32) >= 1170 * MIB
    assert memory_estimate(TransferConfig())(40000, 32) >= 2350 * MIB
    assert predict_bytes(strip) >= 564 * MIB and predict_bytes(Footprint.of(8000, 6000, [PM1])) >= 825 * MIB
    # Scaling a strip changes its own pixels' part only: the resized view is the same.
    assert DEFAULT(120000, 64) - DEFAULT(60000, 32) == 175 * (120000 * 64 - 60000 * 32)
    # A pixel count without a shape (the app's Preferences ask "N megapixels") is a square.
    assert DEFAULT(4_000_000, 1) == DEFAULT(2000, 2000)


def test_a_strip_says_crop_not_downscale(monkeypatch):
    _pretend_available(monkeypatch, 2 * 2**30)
    with pytest.raises(MemoryLimitError, match="downscaling does not help: crop it") as info:
        check_fits(AttackConfig(), 60000, 32, "cpu")
    assert "Downscale" not in str(info.value)


def _no_decoding(monkeypatch):
    from PIL import ImageFile

    def tripwire(self, *args, **kwargs):
        raise AssertionError("decoded although the header was enough to refuse")

    monkeypatch.setattr(ImageFile.ImageFile, "load", tripwire)


@pytest.mark.parametrize("command", ["predict", "attack"])
def test_cli_refuses_a_strip_before_decoding_it(command, tmp_path, monkeypatch, capsys, model):
    from guiapp.cli import main

    from _imagefiles import strip_png

    strip = tmp_path / "strip.png"
    strip.write_bytes(strip_png(60000, 32))
    assert strip.stat().st_size < 20_000
    _pretend_available(monkeypatch, 512 * MIB)
    _no_decoding(monkeypatch)
    argv = [command, str(strip), "--device", "cpu"] + (["-t", "goldfish", "-q"] if command == "attack" else [])
    assert main(argv) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "60000x32" in err[0] and "crop it" in err[0], err
    assert not list(tmp_path.glob("*adv*"))


def test_batch_gives_a_strip_an_error_row_before_decoding(tmp_path, monkeypatch, model):
    import json

    from guiapp.cli import main

    from _imagefiles import strip_png

    (tmp_path / "in").mkdir()
    (tmp_path / "in" / "strip.png").write_bytes(strip_png(60000, 32))
    _pretend_available(monkeypatch, 512 * MIB)
    _no_decoding(monkeypatch)
    rc = main(["batch", str(tmp_path / "in"), "--out", str(tmp_path / "out"), "-t", "goldfish", "--workers", "1",
               "--device", "cpu"])
    rows = json.loads((tmp_path / "out" / "report.json").read_text())["rows"]
    assert rc == 1 and rows[0]["status"] == "error" and "crop it" in rows[0]["error"]
