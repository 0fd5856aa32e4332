import math

import numpy as np

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
