import os
import stat
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from guiapp.core.errors import ImageLoadError, OutputError
from guiapp.core.imageio import load_image
from guiapp.core.png_output import read_png_metadata, save_png


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
    with pytest.raises(ImageLoadError, match="over the limit"):
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


# --- bit depth decides, never the values (issue 11, item 5) ---------------------------

from _imagefiles import animated_gif, encoded, multipage_tiff, png_bytes  # noqa: E402


def test_dark_sixteen_bit_png_stays_dark(tmp_path):
    # All values <= 255 in a 16-bit file: at most 255/65535 of white, i.e. black in 8 bits.
    dark = np.tile(np.arange(0, 256, 4, dtype=np.uint16), (40, 1))  # 40x64, 0..252
    (tmp_path / "dark16.png").write_bytes(png_bytes(dark, 16, 0))
    img = load_image(tmp_path / "dark16.png")
    assert img.source_mode == "I;16"
    assert img.rgb.max() == 1  # 252/65535*255 = 0.98 -> 1, not 252
    assert any("16-bit" in n for n in img.notes)


def test_full_range_sixteen_bit_png(tmp_path):
    ramp = np.tile(np.linspace(0, 65535, 64).astype(np.uint16), (40, 1))
    (tmp_path / "full16.png").write_bytes(png_bytes(ramp, 16, 0))
    img = load_image(tmp_path / "full16.png")
    assert img.rgb.min() == 0 and img.rgb.max() == 255
    expected = np.round(ramp.astype(np.float64) / 65535 * 255).astype(np.uint8)
    assert np.array_equal(img.rgb[..., 0], expected)


@pytest.mark.parametrize("color_type,channels", [(2, 3), (6, 4), (4, 2)])
def test_sixteen_bit_colour_pngs(tmp_path, color_type, channels):
    rng = np.random.default_rng(1)
    dark = rng.integers(0, 256, (40, 40, channels)).astype(np.uint16)
    if channels in (2, 4):
        dark[..., -1] = 65535  # opaque
    (tmp_path / "d.png").write_bytes(png_bytes(dark, 16, color_type))
    img = load_image(tmp_path / "d.png")
    assert img.rgb.max() <= 1 and img.alpha is None  # dark stays dark, opaque alpha dropped
    bright = (dark * 257).astype(np.uint16)
    (tmp_path / "b.png").write_bytes(png_bytes(bright, 16, color_type))
    img = load_image(tmp_path / "b.png")
    colour = bright[..., :3] if channels >= 3 else np.repeat(bright[..., :1], 3, axis=2)
    assert np.abs(img.rgb.astype(int) - (colour // 257)).max() <= 1


def test_float_tiff_is_read_as_zero_to_one(tmp_path):
    ramp = np.tile(np.linspace(0, 1, 64, dtype=np.float32), (40, 1))
    Image.fromarray(ramp, "F").save(tmp_path / "f.tif")
    img = load_image(tmp_path / "f.tif")
    assert img.source_mode == "F"
    assert np.array_equal(img.rgb[..., 0], np.round(ramp * 255).astype(np.uint8))
    assert not any("clipped" in n for n in img.notes)
    # Out-of-range values are clipped, and the user is told how many.
    Image.fromarray(ramp * 2, "F").save(tmp_path / "f2.tif")
    img = load_image(tmp_path / "f2.tif")
    assert img.rgb.max() == 255 and any("outside that range and were clipped" in n for n in img.notes)


def test_int32_tiff_is_scaled_by_its_bit_depth(tmp_path):
    # Mode I from a 32-bit signed TIFF: white is 2**31-1, so 200 is black, not light grey.
    Image.fromarray(np.full((40, 40), 200, np.int32), "I").save(tmp_path / "i32.tif")
    img = load_image(tmp_path / "i32.tif")
    assert img.source_mode == "I" and img.rgb.max() == 0
    Image.fromarray(np.full((40, 40), 2**30, np.int32), "I").save(tmp_path / "half.tif")
    assert 127 <= load_image(tmp_path / "half.tif").rgb[0, 0, 0] <= 128


def test_sixteen_bit_pgm_in_mode_i(tmp_path):
    # Pillow reads a 16-bit PGM into mode I; its depth is 16 bits whatever the values.
    data = np.full((40, 40), 200, ">u2").tobytes()
    (tmp_path / "g.pgm").write_bytes(b"P5\n40 40\n65535\n" + data)
    img = load_image(tmp_path / "g.pgm")
    assert img.source_mode in ("I", "I;16") and img.rgb.max() == 1


# --- frames, notes, odd files (issue 11, item 9 and the reading-path review) ------------


def test_animated_gif_says_only_first_frame(tmp_path):
    (tmp_path / "a.gif").write_bytes(animated_gif([(255, 0, 0), (0, 255, 0), (0, 0, 255)]))
    img = load_image(tmp_path / "a.gif")
    assert tuple(img.rgb[0, 0]) == (255, 0, 0)  # the first frame, not a later one
    assert any("animated GIF" in n and "first frame" in n for n in img.notes)
    Image.new("RGB", (40, 40), (9, 9, 9)).save(tmp_path / "still.gif")
    assert load_image(tmp_path / "still.gif").notes == []


def test_multipage_tiff_says_only_first_page(tmp_path):
    (tmp_path / "m.tif").write_bytes(multipage_tiff([(0, 0, 255), (255, 0, 0)]))
    img = load_image(tmp_path / "m.tif")
    assert tuple(img.rgb[0, 0]) == (0, 0, 255)
    assert any("multi-page TIFF" in n for n in img.notes)


def test_plain_rgb_has_no_notes(tmp_path, rng):
    Image.fromarray(_photo(rng)).save(tmp_path / "p.png")
    assert load_image(tmp_path / "p.png").notes == []


def test_zero_byte_file(tmp_path):
    (tmp_path / "empty.jpg").write_bytes(b"")
    with pytest.raises(ImageLoadError, match=r"empty \(0 bytes\)"):
        load_image(tmp_path / "empty.jpg")


def test_broken_symlink(tmp_path):
    (tmp_path / "link.png").symlink_to(tmp_path / "gone.png")
    with pytest.raises(ImageLoadError, match="broken symbolic link.*gone.png"):
        load_image(tmp_path / "link.png")


def test_symlink_to_image_loads(tmp_path, rng):
    Image.fromarray(_photo(rng)).save(tmp_path / "real.png")
    (tmp_path / "link.png").symlink_to(tmp_path / "real.png")
    assert load_image(tmp_path / "link.png").size == (64, 48)


def test_fifo_is_refused_without_blocking(tmp_path):
    os.mkfifo(tmp_path / "pipe.png")
    with pytest.raises(ImageLoadError, match="not a regular file"):
        load_image(tmp_path / "pipe.png")


def test_non_utf8_file_name(tmp_path, rng):
    name = os.fsdecode(b"caf\xe9.png")  # Latin-1 bytes: not valid UTF-8
    Image.fromarray(_photo(rng)).save(tmp_path / name)
    assert load_image(tmp_path / name).size == (64, 48)
    with pytest.raises(ImageLoadError) as info:
        load_image(tmp_path / os.fsdecode(b"gon\xe9.png"))
    assert "no such file" in str(info.value)


def test_unreadable_file_is_a_clear_error(tmp_path, rng, monkeypatch):
    Image.fromarray(_photo(rng)).save(tmp_path / "p.png")
    # Root (as in CI) ignores chmod, so simulate what opening an unreadable file raises.
    def denied(*args, **kwargs):
        raise PermissionError(13, "Permission denied")

    monkeypatch.setattr(Image, "open", denied)
    with pytest.raises(ImageLoadError, match="permission denied"):
        load_image(tmp_path / "p.png")


def test_other_formats_are_refused_clearly(tmp_path, rng):
    # TGA has no signature; a Pillow that tried every format might "open" random files as one.
    (tmp_path / "x.tga").write_bytes(encoded(Image.fromarray(_photo(rng)), "TGA"))
    with pytest.raises(ImageLoadError, match="accepted: JPEG, PNG"):
        load_image(tmp_path / "x.tga")


def test_one_pixel_and_thin_images_are_refused(tmp_path):
    Image.new("RGB", (1, 1)).save(tmp_path / "dot.png")
    Image.new("RGB", (4000, 8)).save(tmp_path / "strip.png")
    for name in ("dot.png", "strip.png"):
        with pytest.raises(ImageLoadError, match="too small"):
            load_image(tmp_path / name)


def test_limit_message_names_a_real_option(tmp_path):
    Image.new("RGB", (2000, 1000)).save(tmp_path / "big.png")
    with pytest.raises(ImageLoadError, match="--max-pixels") as info:
        load_image(tmp_path / "big.png", max_pixels=1_000_000)
    assert "2000x1000 is 2_000_000 pixels, over the limit of 1_000_000" in str(info.value)
    # Above Pillow's own bomb limit, a raised max_pixels is honoured (our check replaces it).
    assert load_image(tmp_path / "big.png", max_pixels=2_000_000).size == (2000, 1000)


def test_broken_exif_keeps_the_picture(tmp_path, rng, monkeypatch):
    from PIL import ImageOps

    Image.fromarray(_photo(rng)).save(tmp_path / "p.jpg")

    def broken(img):
        raise SyntaxError("bad EXIF")

    monkeypatch.setattr(ImageOps, "exif_transpose", broken)
    img = load_image(tmp_path / "p.jpg")
    assert img.size == (64, 48) and any("EXIF" in n for n in img.notes)


@pytest.mark.parametrize("orientation,shape", [(1, (40, 80)), (3, (40, 80)), (5, (80, 40)), (8, (80, 40))])
def test_every_exif_orientation(tmp_path, orientation, shape):
    arr = np.zeros((40, 80, 3), np.uint8)
    arr[:20, :40] = 255  # a white top-left quadrant shows where the corner went
    exif = Image.Exif()
    exif[0x0112] = orientation
    Image.fromarray(arr).save(tmp_path / "o.png", exif=exif)
    img = load_image(tmp_path / "o.png")
    assert img.rgb.shape[:2] == shape
    expected = np.array(_as_displayed(Image.fromarray(arr), orientation))
    assert np.array_equal(img.rgb, expected)


def _as_displayed(img, orientation):
    """EXIF orientation meaning, written out independently of Pillow's exif_transpose."""
    method = {1: None, 3: Image.Transpose.ROTATE_180, 5: Image.Transpose.TRANSPOSE,
              8: Image.Transpose.ROTATE_90}[orientation]
    return img if method is None else img.transpose(method)


@pytest.mark.parametrize("mode", ["1", "L", "P", "RGB", "RGBA", "RGBa", "RGBX", "CMYK", "YCbCr", "LAB", "HSV",
                                  "I", "F", "I;16", "I;16B", "I;16L", "LA", "La", "PA"])
def test_image_from_pil_takes_every_mode(mode):
    from guiapp.core.imageio import image_from_pil

    img = image_from_pil(Image.new(mode, (40, 30)))
    assert img.rgb.shape == (30, 40, 3) and img.rgb.dtype == np.uint8
    assert img.alpha is None or img.alpha.shape == (30, 40)


def test_premultiplied_la_is_unpremultiplied():
    from guiapp.core.imageio import image_from_pil

    arr = np.dstack([np.full((32, 32), 50, np.uint8), np.full((32, 32), 100, np.uint8)])
    img = image_from_pil(Image.frombytes("La", (32, 32), arr.tobytes()))
    assert img.rgb[0, 0, 0] == 128 and img.alpha[0, 0] == 100  # 50 * 255 / 100 = 127.5


# --- colour profiles -------------------------------------------------------------------


def _srgb_icc() -> bytes:
    from PIL import ImageCms

    return ImageCms.ImageCmsProfile(ImageCms.createProfile("sRGB")).tobytes()


def test_rgb_colour_profile_is_carried_to_the_output(tmp_path, rng):
    icc = _srgb_icc()
    Image.fromarray(_photo(rng)).save(tmp_path / "p.jpg", icc_profile=icc, quality=95)
    img = load_image(tmp_path / "p.jpg")
    assert img.icc_profile == icc
    out = save_png(tmp_path / "o.png", img.rgb, img.alpha, icc_profile=img.icc_profile)
    assert load_image(out).icc_profile == icc
    Image.fromarray(_photo(rng)).save(tmp_path / "plain.png")
    assert load_image(tmp_path / "plain.png").icc_profile is None


def test_grey_profile_is_not_put_into_an_rgb_png(tmp_path, rng):
    from PIL import ImageCms

    grey = Image.fromarray(_photo(rng)).convert("L")
    lab_icc = ImageCms.ImageCmsProfile(ImageCms.createProfile("LAB")).tobytes()  # not an RGB space
    grey.save(tmp_path / "g.png", icc_profile=lab_icc)
    assert load_image(tmp_path / "g.png").icc_profile is None


def test_attack_file_keeps_the_profile(model, tmp_path, rng):
    from guiapp.core.attacks import AttackConfig
    from guiapp.core.pipeline import attack_file

    icc = _srgb_icc()
    Image.fromarray(_photo(rng)).save(tmp_path / "p.png", icc_profile=icc)
    report = attack_file(tmp_path / "p.png", "goldfish", tmp_path / "o.png", model=model,
                         config=AttackConfig(max_steps=1))
    with Image.open(report.output) as out:
        assert out.info.get("icc_profile") == icc


GS_CMYK = Path("/usr/share/color/icc/ghostscript/default_cmyk.icc")


@pytest.mark.skipif(not GS_CMYK.exists(), reason="needs a CMYK ICC profile (ghostscript's) on this machine")
def test_cmyk_with_profile_is_converted_through_it(tmp_path):
    cmyk = Image.new("CMYK", (40, 40), (0, 255, 255, 0))  # "red" ink
    cmyk.save(tmp_path / "c.tif", icc_profile=GS_CMYK.read_bytes())
    img = load_image(tmp_path / "c.tif")
    assert img.source_mode == "CMYK" and any("colour profile" in n for n in img.notes)
    assert img.icc_profile is None  # now sRGB: no CMYK profile in an RGB PNG
    r, g, b = (int(v) for v in img.rgb[0, 0])
    assert r > 150 and g < 120 and b < 120  # still red, through the profile


def test_cmyk_with_a_broken_profile_still_loads(tmp_path):
    Image.new("CMYK", (40, 40), (0, 255, 255, 0)).save(tmp_path / "c.tif", icc_profile=b"\0" * 200)
    img = load_image(tmp_path / "c.tif")
    assert img.rgb.shape == (40, 40, 3) and any("unusable" in n for n in img.notes)


# -- issue 33 item 7: a JPEG whose data ends early is refused like a truncated PNG ---------


def test_a_jpeg_shorter_than_its_header_is_refused_before_decoding(tmp_path, cat_path, capsys):
    from guiapp.cli import main

    from _imagefiles import jpeg_claiming

    lying = tmp_path / "lying.jpg"
    lying.write_bytes(jpeg_claiming(Image.open(cat_path).resize((227, 227)), 7000, 7000))
    with Image.open(lying) as img:
        assert img.size == (7000, 7000)  # what Pillow would decode (as grey past the data)
    reached_decode = []
    with pytest.raises(ImageLoadError, match="the JPEG is truncated: its header says 7000x7000"):
        load_image(lying, before_decode=lambda w, h: reached_decode.append((w, h)))
    assert reached_decode == []  # refused from the structure, before the memory check and decoding
    assert main(["predict", str(lying), "--device", "cpu"]) == 2
    err = capsys.readouterr().err
    assert "the JPEG is truncated" in err and "Traceback" not in err


@pytest.mark.parametrize("mode, options", [
    ("L", {}), ("RGB", {"progressive": True}), ("RGB", {"subsampling": 0}), ("RGB", {"quality": 1}),
])
def test_honest_flat_jpegs_pass_the_data_check(tmp_path, mode, options):
    """The check's bound (one bit per 8x8 block) holds for the smallest honest files: a
    flat grey image in each kind of JPEG Pillow writes."""
    Image.new(mode, (1600, 1200), 128 if mode == "L" else (128, 128, 128)).save(tmp_path / "flat.jpg", **options)
    assert load_image(tmp_path / "flat.jpg").rgb.shape == (1200, 1600, 3)


def test_a_progressive_jpeg_with_ff_d9_in_a_comment_between_scans_loads(tmp_path, cat_path):
    """The coded data is counted scan by scan up to the real end-of-image marker; the
    segments between scans (here a comment holding the bytes FF D9) are skipped."""
    import io
    import struct

    buf = io.BytesIO()
    Image.open(cat_path).convert("RGB").save(buf, "JPEG", progressive=True)
    data = buf.getvalue()
    second_scan = data.index(b"\xff\xda", data.index(b"\xff\xda") + 2)
    comment = b"\xff\xfe" + struct.pack(">H", 2 + 6) + b"a\xff\xd9bcd"
    (tmp_path / "commented.jpg").write_bytes(data[:second_scan] + comment + data[second_scan:])
    with Image.open(cat_path) as original:
        assert load_image(tmp_path / "commented.jpg").rgb.shape == (original.height, original.width, 3)


def test_the_kind_of_picture_is_said_in_words_with_its_colour_depth(tmp_path):
    """Issue 34 item 9: the image line said Pillow's mode names ("I;16") and a 16-bit RGB
    file plainly "RGB"."""
    from guiapp.core.imageio import describe_mode

    rng = np.random.default_rng(0)
    (tmp_path / "rgb16.png").write_bytes(png_bytes(rng.integers(0, 65536, (40, 48, 3)).astype(np.uint16), 16, 2))
    (tmp_path / "grey16.png").write_bytes(png_bytes(rng.integers(0, 65536, (40, 48)).astype(np.uint16), 16, 0))
    Image.fromarray(rng.integers(0, 255, (40, 48, 4), dtype=np.uint8), "RGBA").save(tmp_path / "rgba.png")
    Image.fromarray(rng.integers(0, 255, (40, 48, 3), dtype=np.uint8), "RGB").save(tmp_path / "rgb8.png")
    rgb16 = load_image(tmp_path / "rgb16.png")
    assert rgb16.colour_depth == 16 and describe_mode(rgb16) == "16-bit RGB"
    assert any("16-bit colour image" in n for n in rgb16.notes)
    assert describe_mode(load_image(tmp_path / "grey16.png")) == "16-bit greyscale"
    assert describe_mode(load_image(tmp_path / "rgba.png")) == "RGB + alpha"
    plain = load_image(tmp_path / "rgb8.png")
    assert describe_mode(plain) == "RGB" and plain.colour_depth == 8 and not plain.notes
