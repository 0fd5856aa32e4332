"""The memory check: an attack that would not fit is refused before it starts (issue 11, item 4)."""

import numpy as np
import pytest
import torch
from PIL import Image

from guiapp.core import memory
from guiapp.core.api import attack_file
from guiapp.core.attack import TargetedAttack
from guiapp.core.errors import MemoryLimitError


def test_estimate_grows_with_pixels_and_mode():
    small = memory.estimate_attack_bytes(1000, 1000)
    big = memory.estimate_attack_bytes(4000, 4000)
    assert big - small == 15 * (small - memory.estimate_attack_bytes(0, 0))  # linear in pixels
    # The measurement: a 62-megapixel attack peaked at 10.9 GB. The estimate must not be lower.
    assert memory.estimate_attack_bytes(9100, 6800) >= 10.9e9 - 0.8e9  # minus the process itself
    # Transfer with its two default surrogates, measured: 1612 MiB more at 4 MP (423 B/px).
    assert memory.estimate_attack_bytes(2309, 1732, "transfer", 2) >= 1612 * 2**20
    assert memory.estimate_attack_bytes(2000, 2000, "transfer", 3) > memory.estimate_attack_bytes(2000, 2000, "transfer", 2)


def test_meminfo_is_read_on_linux():
    available, where = memory.available_bytes("cpu")
    assert where == "RAM" and available is not None and available > 10 * 2**20


def _pretend_available(monkeypatch, nbytes):
    monkeypatch.setattr(memory, "_meminfo_available", lambda: nbytes)


def test_refusal_says_estimate_available_and_what_to_do(monkeypatch):
    _pretend_available(monkeypatch, 2 * 2**30)
    with pytest.raises(MemoryLimitError) as info:
        memory.check_attack_memory(8000, 6000, "default", "cpu")
    msg = str(info.value)
    needed = memory.estimate_attack_bytes(8000, 6000) / 2**30
    assert f"needs about {needed:.1f} GiB of RAM" in msg and "only 2.0 GiB is available" in msg
    assert "Downscale the image to at most" in msg and "--max-pixels" in msg
    # The suggested size really fits.
    fit = memory.largest_fitting_pixels(2 * 2**30)
    assert memory.estimate_attack_bytes(fit, 1) * memory.HEADROOM <= 2 * 2**30
    assert memory.estimate_attack_bytes(fit + 10_000, 1) * memory.HEADROOM > 2 * 2**30
    # A smaller image passes.
    assert memory.check_attack_memory(1000, 1000, "default", "cpu").fits


def test_check_can_be_switched_off(monkeypatch):
    _pretend_available(monkeypatch, 2**20)
    monkeypatch.setenv("GUIAPP_MEMORY_CHECK", "off")
    assert not memory.check_attack_memory(4000, 3000, "default", "cpu").fits  # reported, not raised


def test_unknown_availability_does_not_refuse(monkeypatch):
    _pretend_available(monkeypatch, None)
    assert memory.check_attack_memory(8000, 8000, "robust", "cpu").fits


def test_cuda_uses_free_gpu_memory(monkeypatch):
    monkeypatch.setattr(torch.cuda, "mem_get_info", lambda dev=None: (1 * 2**30, 80 * 2**30))
    monkeypatch.setattr(torch.cuda, "memory_reserved", lambda dev=None: 0)
    monkeypatch.setattr(torch.cuda, "memory_allocated", lambda dev=None: 0)
    with pytest.raises(MemoryLimitError, match=r"GPU memory \(cuda:0\).*or use the CPU"):
        memory.check_attack_memory(6000, 4000, "default", torch.device("cuda:0"))


def test_targeted_attack_refuses_before_any_step(model, monkeypatch):
    # The GUI and the server build TargetedAttack directly: they get the check too.
    _pretend_available(monkeypatch, 64 * 2**20)
    with pytest.raises(MemoryLimitError):
        TargetedAttack(model, np.zeros((600, 800, 3), np.uint8), 1)


def test_attack_file_refuses_before_attacking(model, tmp_path, monkeypatch):
    Image.new("RGB", (800, 600), (120, 80, 40)).save(tmp_path / "in.png")
    _pretend_available(monkeypatch, 64 * 2**20)
    monkeypatch.setattr("guiapp.core.api.TargetedAttack", _must_not_run)
    with pytest.raises(MemoryLimitError, match="800x600"):
        attack_file(tmp_path / "in.png", "goldfish", tmp_path / "out.png", model=model)
    assert not (tmp_path / "out.png").exists()


def _must_not_run(*args, **kwargs):
    raise AssertionError("the attack started although the check should have refused it")
