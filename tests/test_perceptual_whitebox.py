"""The perceptual budget in the white-box modes (`--budget perceptual`): brightness-only
noise weighted by texture, eps still the largest change of any pixel."""

from __future__ import annotations

import json

import numpy as np
import pytest
from PIL import Image

from guiapp.cli import main
from guiapp.core.attacks import TargetedAttack, make_config
from guiapp.core.perceptual_budget import SHAPE_MAX, equal_ssim_shape


def test_the_shape_is_rms_1_capped_and_low_on_flat_areas():
    rng = np.random.default_rng(0)
    img = np.full((48, 96, 3), 128, np.uint8)
    img[:, 48:] = rng.integers(0, 256, (48, 48, 1), dtype=np.uint8)
    shape = equal_ssim_shape(img)
    assert float(shape.pow(2).mean().sqrt()) == pytest.approx(1.0, rel=0.05)  # (the cap trims a little)
    assert float(shape.max()) <= SHAPE_MAX
    assert float(shape[..., :, 5:40].mean()) < 0.25 * float(shape[..., :, 56:].mean())


def test_whitebox_perceptual_noise_is_brightness_only_and_within_eps(model, cat_path):
    image = np.asarray(Image.open(cat_path).convert("RGB"))
    attack = TargetedAttack(model, image, 1, make_config("default", budget="perceptual", eps=6, max_steps=12))
    for _ in attack.steps():
        pass
    d = attack.result.adversarial.astype(int) - image.astype(int)
    inside = ((image > 20) & (image < 235)).all(2)
    assert np.abs(d).max() <= 6 and np.abs(d[inside]).max() > 0
    assert (d.max(2) - d.min(2))[inside].max() <= 1  # R, G and B moved together (8-bit rounding aside)


def test_cli_whitebox_perceptual_reaches_the_target_with_less_colour_change(cat_path, tmp_path, capsys):
    """README: `guiapp-cli attack photo.jpg -t goldfish --budget perceptual`."""
    reports = {}
    for budget in ("linf", "perceptual"):
        out = tmp_path / f"{budget}.png"
        assert main(["attack", str(cat_path), "-t", "goldfish", "--budget", budget, "--json", "--device", "cpu",
                     "-o", str(out)]) == 0
        reports[budget] = json.loads(capsys.readouterr().out)
    assert reports["perceptual"]["success"] and reports["perceptual"]["ciede2000"] < reports["linf"]["ciede2000"]
