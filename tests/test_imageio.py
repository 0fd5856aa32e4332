import os
import stat

import numpy as np
import pytest
from PIL import Image

from guiapp.core.errors import ImageLoadError, OutputError
from guiapp.core.imageio import load_image, read_png_metadata, save_png


def _photo(rng, w=64, h=48):
    return rng.integers(0, 256, (h, w, 3), dtype=np.uint8)


def test_rgba_keeps_alpha(tmp_path, rng):
    rgba = np.dstack([_photo(rng), rng.integers(0, 256, (48, 64), dtype=np.uint8)])
    Image.fromarray(rgba, "RGBA").save(tmp_path / "a.png")
    img = load_image(tmp_path / "a.png")
    assert img.rgb.shape == (48, 64, 3) and np.array_equal(img.alpha, rgba[..., 3])
    out = save_png(tmp_path / "out.png", img.rgb, img.alpha)
    back = np.array(Image.open(out))
    assert back.shape == (48, 64, 4) and np.array_equal(back, rgba)


@pytest.mark.parametrize("mode", ["L", "P", "CMYK", "LA"])
def test_odd_modes_become_rgb(tmp_path, rng, mode):
    src = Image.fromarray(_photo(rng)).convert(mode)
    path = tmp_path / ("x.tif" if mode == "CMYK" else "x.png")
    src.save(path)
    img = load_image(path)
    assert img.rgb.dtype == np.uint8 and img.rgb.shape == (48, 64, 3)
    assert img.source_mode == mode
    assert np.array_equal(img.rgb, np.array(src.convert("RGB")))


def test_sixteen_bit_is_scaled_not_clipped(tmp_path):
    ramp = (np.linspace(0, 65535, 64 * 48).reshape(48, 64)).astype(np.uint16)
    Image.fromarray(ramp).save(tmp_path / "g16.png")
    img = load_image(tmp_path / "g16.png")
    assert img.rgb.max() == 255 and img.rgb.min() == 0
    assert 120 <= img.rgb[24, 32, 0] <= 135  # mid-grey stays mid-grey


def test_exif_orientation_is_applied(tmp_path, rng):
    arr = _photo(rng, 80, 40)
    exif = Image.Exif()
    exif[0x0112] = 6  # rotate 90 CW on display
    Image.fromarray(arr).save(tmp_path / "r.jpg", exif=exif, quality=95)
    img = load_image(tmp_path / "r.jpg")
    assert img.rgb.shape[:2] == (80, 40)


def test_not_an_image(tmp_path):
    (tmp_path / "notes.png").write_text("hello")
    with pytest.raises(ImageLoadError, match="not an image"):
        load_image(tmp_path / "notes.png")


def test_truncated_jpeg(tmp_path, cat_path):
    data = cat_path.read_bytes()
    (tmp_path / "cut.jpg").write_bytes(data[: len(data) // 2])
    with pytest.raises(ImageLoadError, match="truncated or corrupt"):
        load_image(tmp_path / "cut.jpg")


def test_bomb_and_tiny_refused_before_decoding(tmp_path):
    Image.new("RGB", (4000, 3000)).save(tmp_path / "big.png")
    with pytest.raises(ImageLoadError, match="megapixels"):
        load_image(tmp_path / "big.png", max_pixels=1_000_000)
    Image.new("RGB", (10, 10)).save(tmp_path / "tiny.png")
    with pytest.raises(ImageLoadError, match="too small"):
        load_image(tmp_path / "tiny.png")


def test_missing_file_and_folder(tmp_path):
    with pytest.raises(ImageLoadError, match="no such file"):
        load_image(tmp_path / "nope.jpg")
    with pytest.raises(ImageLoadError, match="folder"):
        load_image(tmp_path)


def test_save_refuses_input_and_non_png(tmp_path, rng):
    src = tmp_path / "in.png"
    Image.fromarray(_photo(rng)).save(src)
    before = src.read_bytes()
    with pytest.raises(OutputError, match="overwrite the input"):
        save_png(src, _photo(rng), protect=[src])
    with pytest.raises(OutputError, match=".png"):
        save_png(tmp_path / "x.jpg", _photo(rng))
    assert src.read_bytes() == before


def test_save_is_atomic_and_carries_metadata(tmp_path, rng):
    out = save_png(tmp_path / "sub" / "o.png", _photo(rng), metadata={"target": "1 goldfish"})
    assert read_png_metadata(out) == {"target": "1 goldfish"}
    assert [p.name for p in out.parent.iterdir()] == ["o.png"]  # no temp files left


@pytest.mark.skipif(os.geteuid() == 0, reason="root ignores directory permissions")
def test_read_only_folder_is_a_clear_error(tmp_path, rng):
    ro = tmp_path / "ro"
    ro.mkdir()
    ro.chmod(stat.S_IRUSR | stat.S_IXUSR)
    try:
        with pytest.raises(OutputError, match="permission denied"):
            save_png(ro / "o.png", _photo(rng))
    finally:
        ro.chmod(stat.S_IRWXU)


def test_full_disk_is_a_clear_error(tmp_path, rng, monkeypatch):
    import errno

    def full(*args, **kwargs):
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(Image.Image, "save", full)
    with pytest.raises(OutputError, match="no space left"):
        save_png(tmp_path / "o.png", _photo(rng))
    assert list(tmp_path.iterdir()) == []


def test_unwritable_folder_is_a_clear_error(tmp_path, rng, monkeypatch):
    # Root (as in CI) bypasses chmod, so simulate what a read-only folder raises.
    import tempfile

    def denied(*args, **kwargs):
        raise PermissionError(13, "Permission denied")

    monkeypatch.setattr(tempfile, "NamedTemporaryFile", denied)
    with pytest.raises(OutputError, match="permission denied"):
        save_png(tmp_path / "o.png", _photo(rng))
