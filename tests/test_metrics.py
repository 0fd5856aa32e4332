import math

import numpy as np
import pytest

from guiapp.core.metrics import distortion, ssim


def test_identical_images():
    a = np.random.default_rng(0).integers(0, 256, (40, 50, 3), dtype=np.uint8)
    d = distortion(a, a)
    assert d.linf == 0 and d.l2 == 0 and math.isinf(d.psnr) and abs(d.ssim - 1) < 1e-6


def test_known_psnr_and_ordering():
    a = np.full((40, 50, 3), 100, np.uint8)
    b = a + 1
    d = distortion(a, b)
    assert d.linf == 1 and abs(d.psnr - 20 * math.log10(255)) < 1e-9  # MSE 1 -> 48.13 dB
    assert abs(d.l2 - math.sqrt(a.size) / 255) < 1e-9
    rng = np.random.default_rng(1)
    img = rng.integers(0, 256, (64, 64, 3), dtype=np.uint8)
    small = np.clip(img + rng.integers(-2, 3, img.shape), 0, 255).astype(np.uint8)
    large = np.clip(img + rng.integers(-40, 41, img.shape), 0, 255).astype(np.uint8)
    assert 1 > ssim(img, small) > ssim(img, large)


def test_perceptual_figures_see_what_psnr_misses():
    """Colour noise on a grey image and grey (luminance) noise of the same PSNR: CIEDE2000
    tells them apart, as a viewer would; identical images score 0 and 1."""
    from guiapp.core.metrics import distortion

    rng = np.random.default_rng(0)
    grey = np.full((64, 80, 3), 128, np.uint8)
    same = distortion(grey, grey)
    assert same.ciede2000 == 0.0 and same.haarpsi == pytest.approx(1.0, abs=1e-5)
    signs = rng.choice([-4, 4], size=(64, 80, 3))
    colour = (grey.astype(int) + signs).astype(np.uint8)
    luma = (grey.astype(int) + signs[..., :1]).astype(np.uint8)
    c, g = distortion(grey, colour), distortion(grey, luma)
    assert c.psnr == pytest.approx(g.psnr)  # the same size of change...
    assert c.ciede2000 > 1.5 * g.ciede2000  # ...but colour noise on grey is far more visible
    assert 0 < c.haarpsi < 1 and 0 < g.haarpsi < 1
    black = np.zeros((32, 32, 3), np.uint8)  # piq alone gives inf here (0 / 0)
    assert distortion(black, black).haarpsi == 1.0
    almost = black.copy()
    almost[5, 5] = 1
    assert 0 < distortion(black, almost).haarpsi <= 1.0


def test_perceptual_figures_of_large_images_are_bounded_samples(monkeypatch):
    from guiapp.core import metrics

    rng = np.random.default_rng(1)
    a = rng.integers(0, 256, (300, 400, 3), dtype=np.uint8)
    b = np.clip(a.astype(int) + rng.integers(-3, 4, a.shape), 0, 255).astype(np.uint8)
    exact = metrics.distortion(a, b)
    monkeypatch.setattr(metrics, "PERCEPTUAL_PIXELS", 30_000)  # 120 000 pixels: a 2x lattice / pooling
    sampled = metrics.distortion(a, b)
    assert sampled.ciede2000 == pytest.approx(exact.ciede2000, rel=0.02)  # a mean estimated from every 2nd pixel
    assert sampled.psnr == exact.psnr and sampled.ssim == exact.ssim  # the others stay exact


def test_flat_area_swirl_sees_coherent_swirls_not_grain():
    """A smooth sky: independent grain of +-2 levels averages out under the blur; a faint
    swirl (low-frequency luma waves of 1.5 levels) does not. PSNR ranks them the other way."""
    from guiapp.core.metrics import flat_area_swirl

    rng = np.random.default_rng(0)
    h, w = 200, 300
    sky = np.zeros((h, w, 3), np.uint8) + np.array([120, 160, 220], np.uint8)
    grain = np.clip(sky.astype(int) + rng.integers(-2, 3, (h, w, 1)), 0, 255).astype(np.uint8)
    yy, xx = np.mgrid[0:h, 0:w]
    wave = np.round(1.5 * np.sin(xx / 9.0 + np.sin(yy / 13.0) * 2))[..., None]
    swirl = np.clip(sky.astype(int) + wave, 0, 255).astype(np.uint8)
    assert flat_area_swirl(sky, grain) < 0.5 < flat_area_swirl(sky, swirl)
    assert distortion(sky, grain).psnr < distortion(sky, swirl).psnr  # PSNR prefers the swirl
    assert distortion(sky, swirl).flat_swirl == flat_area_swirl(sky, swirl)
    busy = rng.integers(0, 256, (h, w, 3)).astype(np.uint8)  # nothing flat: nothing to judge
    assert flat_area_swirl(busy, np.clip(busy.astype(int) + wave, 0, 255).astype(np.uint8)) == 0.0
