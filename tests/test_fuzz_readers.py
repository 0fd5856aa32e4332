"""Property-based tests of what guiapp reads from users: image files and labels (issue 11).

Whatever the input, the readers may only return a result or raise one of our own errors
(a GuiappError subclass) with a non-empty message: never another exception, never a hang.

Profiles: "ci" (default; derandomized, a few seconds in all) and "long" (random, thousands
of examples per property), chosen by the HYPOTHESIS_PROFILE environment variable:

    HYPOTHESIS_PROFILE=long .venv/bin/python -m pytest tests/test_fuzz_readers.py --hypothesis-show-statistics

docs/TESTING.md records how many examples the long profile tried and what it found.
"""

from __future__ import annotations

import functools
import io
import os
import struct
import warnings

import numpy as np
import pytest
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st
from PIL import Image

from guiapp.core.arguments import check_target
from guiapp.core.errors import GuiappError, ImageLoadError, LabelError
from guiapp.core.imageio import MIN_SIDE, image_from_pil, load_image
from guiapp.core.labels import imagenet_labels
from guiapp.core.pipeline import attack_file

from _imagefiles import animated_gif, encoded, multipage_tiff, png_bytes

_COMMON = dict(deadline=2000, database=None, suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
settings.register_profile("ci", max_examples=40, derandomize=True, **_COMMON)
settings.register_profile("long", max_examples=3000, **_COMMON)
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "ci"))

pytestmark = pytest.mark.timeout(300)  # a hang fails with every thread's stack


def _quietly(fn, *args, **kwargs):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return fn(*args, **kwargs)


def _srgb_icc() -> bytes:
    from PIL import ImageCms

    return ImageCms.ImageCmsProfile(ImageCms.createProfile("sRGB")).tobytes()


@functools.lru_cache(maxsize=1)
def seed_files() -> dict[str, bytes]:
    """Small valid files in every format and many modes: the starting points for mutation."""
    rng = np.random.default_rng(0)
    rgb = Image.fromarray(rng.integers(0, 256, (40, 48, 3), dtype=np.uint8))
    rgba = Image.fromarray(rng.integers(0, 256, (40, 48, 4), dtype=np.uint8), "RGBA")
    exif = Image.Exif()
    exif[0x0112] = 6
    files = {
        "rgb.png": encoded(rgb, "PNG"),
        "rgba.png": encoded(rgba, "PNG"),
        "p-trns.png": encoded(rgb.convert("P"), "PNG", transparency=3),
        "grey16.png": png_bytes(rng.integers(0, 65536, (40, 48)).astype(np.uint16), 16, 0),
        "rgb16.png": png_bytes(rng.integers(0, 65536, (40, 48, 3)).astype(np.uint16), 16, 2),
        "exif.jpg": encoded(rgb, "JPEG", exif=exif, quality=80),
        "progressive.jpg": encoded(rgb, "JPEG", progressive=True),
        "cmyk.jpg": encoded(rgb.convert("CMYK"), "JPEG"),
        # A profile of the wrong colour space: the CMS must fail cleanly, the picture load.
        "cmyk-rgb-icc.jpg": encoded(rgb.convert("CMYK"), "JPEG", icc_profile=_srgb_icc()),
        "rgb-icc.png": encoded(rgb, "PNG", icc_profile=_srgb_icc()),
        "grey.jpg": encoded(rgb.convert("L"), "JPEG"),
        "anim.gif": animated_gif([(255, 0, 0), (0, 255, 0)], (48, 40)),
        "lzw.tif": encoded(rgb, "TIFF", compression="tiff_lzw"),
        "deflate.tif": encoded(rgba, "TIFF", compression="tiff_adobe_deflate"),
        "float.tif": encoded(Image.fromarray(rng.random((40, 48), dtype=np.float32), "F"), "TIFF"),
        "pages.tif": multipage_tiff([(0, 0, 255), (255, 0, 0)], (48, 40)),
        "lossy.webp": encoded(rgb, "WEBP", quality=50),
        "lossless.webp": encoded(rgba, "WEBP", lossless=True),
        "rgb.bmp": encoded(rgb, "BMP"),
        "p.bmp": encoded(rgb.convert("P"), "BMP"),
        "grey.pgm": encoded(rgb.convert("L"), "PPM"),
    }
    return files


def _assert_ok_or_ours(tmp_path_factory, data: bytes, name: str = "x.img"):
    """Load `data` from a file: a well-formed LoadedImage, or our own error with a message."""
    path = tmp_path_factory.mktemp("fuzz") / name
    path.write_bytes(data)
    try:
        img = load_image(path)
    except GuiappError as exc:
        assert isinstance(exc, ImageLoadError) and str(exc).strip(), repr(exc)
        return None
    assert img.rgb.dtype == np.uint8 and img.rgb.ndim == 3 and img.rgb.shape[2] == 3
    assert min(img.rgb.shape[:2]) >= MIN_SIDE
    assert img.alpha is None or img.alpha.shape == img.rgb.shape[:2]
    return img


MAGICS = [b"", b"\x89PNG\r\n\x1a\n", b"\xff\xd8\xff\xe0", b"GIF89a", b"GIF87a", b"BM", b"II*\x00", b"MM\x00*",
          b"RIFF\x00\x00\x00\x00WEBPVP8 ", b"RIFF\x00\x00\x00\x00WEBPVP8L", b"P5\n", b"P6\n", b"\x00\x00"]


@given(prefix=st.sampled_from(MAGICS), body=st.binary(max_size=2048))
def test_random_bytes(tmp_path_factory, prefix, body):
    _assert_ok_or_ours(tmp_path_factory, prefix + body)


@given(
    seed=st.sampled_from(sorted(seed_files())),
    cut=st.floats(0.0, 1.0),
    flips=st.lists(st.tuples(st.floats(0.0, 1.0, exclude_max=True), st.integers(0, 255)), max_size=8),
)
def test_truncated_and_corrupted_real_files(tmp_path_factory, seed, cut, flips):
    data = bytearray(seed_files()[seed])
    for where, value in flips:
        data[int(where * len(data))] = value
    data = bytes(data[: max(0, round(cut * len(data)))]) if cut < 1.0 else bytes(data)
    _assert_ok_or_ours(tmp_path_factory, data, seed)


def test_every_seed_file_loads(tmp_path_factory):
    # The mutation test is only meaningful if the untouched seeds are readable.
    for name, data in seed_files().items():
        assert _assert_ok_or_ours(tmp_path_factory, data, name) is not None, name


WRITABLE = {  # mode -> formats Pillow writes it in, among those we accept
    "1": ("PNG", "BMP", "TIFF"), "L": ("PNG", "JPEG", "BMP", "TIFF", "WEBP", "GIF", "PPM"),
    "P": ("PNG", "BMP", "TIFF", "GIF"), "RGB": ("PNG", "JPEG", "BMP", "TIFF", "WEBP", "PPM"),
    "RGBA": ("PNG", "TIFF", "WEBP"), "LA": ("PNG", "TIFF"), "CMYK": ("JPEG", "TIFF"),
    "YCbCr": ("TIFF",), "I": ("TIFF",), "I;16": ("PNG", "TIFF"), "F": ("TIFF",), "PA": ("TIFF",),
}


@given(
    mode=st.sampled_from(sorted(WRITABLE)),
    fmt_index=st.integers(0, 6),
    w=st.integers(1, 80),
    h=st.integers(1, 80),
    seed=st.integers(0, 2**16),
)
def test_random_modes_and_sizes(tmp_path_factory, mode, fmt_index, w, h, seed):
    formats = WRITABLE[mode]
    fmt = formats[fmt_index % len(formats)]
    rng = np.random.default_rng(seed)
    bands = len(Image.new(mode, (1, 1)).getbands())
    raw = rng.integers(0, 256, (h, w, bands) if bands > 1 else (h, w), dtype=np.uint8)
    base = Image.fromarray(raw, "RGBA" if bands == 4 else "RGB" if bands == 3 else "LA" if bands == 2 else "L")
    try:
        img = _quietly(base.convert, mode) if base.mode != mode else base
        data = _quietly(encoded, img, fmt)
    except (OSError, ValueError, KeyError):
        assume(False)  # a combination Pillow cannot write: nothing to read
    loaded = _assert_ok_or_ours(tmp_path_factory, data, f"x.{fmt.lower()}")
    if min(w, h) >= MIN_SIDE:
        # A valid file of a format and size we accept must load: refusing it is a bug too.
        assert loaded is not None and loaded.size == (w, h), (mode, fmt, w, h)
    else:
        assert loaded is None


@given(orientation=st.integers(0, 70000), fmt=st.sampled_from(["JPEG", "PNG", "WEBP", "TIFF"]),
       w=st.integers(32, 70), h=st.integers(32, 70))
def test_exif_orientation_tags(tmp_path_factory, orientation, fmt, w, h):
    exif = Image.Exif()
    exif[0x0112] = orientation if orientation < 65536 else orientation % 9  # SHORT field
    img = Image.new("RGB", (w, h), (10, 200, 30))
    try:
        data = _quietly(encoded, img, fmt, exif=exif)
    except (OSError, ValueError, struct.error):
        assume(False)
    loaded = _assert_ok_or_ours(tmp_path_factory, data, f"x.{fmt.lower()}")
    assert loaded is not None
    if fmt != "TIFF":  # Pillow keeps TIFF orientation in the IFD itself: only check it loads
        swapped = exif[0x0112] in (5, 6, 7, 8)
        assert loaded.size == ((h, w) if swapped else (w, h))


@given(mode=st.sampled_from(["1", "L", "P", "RGB", "RGBA", "RGBa", "RGBX", "CMYK", "YCbCr", "LAB", "HSV",
                             "I", "F", "I;16", "I;16B", "I;16L", "LA", "La", "PA"]),
       data=st.binary(min_size=0, max_size=64 * 64 * 4))
def test_image_from_pil_any_mode_any_pixels(mode, data):
    img = Image.new(mode, (16, 12))
    need = len(img.tobytes())
    img.frombytes((data * (need // max(1, len(data)) + 1))[:need] if data else bytes(need))
    loaded = image_from_pil(img)
    assert loaded.rgb.shape == (12, 16, 3) and loaded.rgb.dtype == np.uint8


def test_odd_files_load(tmp_path_factory):
    # Hand-picked corner cases of the formats, beside the generated ones.
    odd = {
        "grey1bit.png": png_bytes(np.ones((40, 40), np.uint8), 8, 0),
        "interlaced.png": encoded(Image.new("RGB", (40, 40), (1, 2, 3)), "PNG", optimize=True),
        "single-frame.gif": encoded(Image.new("P", (40, 40)), "GIF"),
        "cmyk.tif": encoded(Image.new("CMYK", (40, 40), (0, 255, 0, 0)), "TIFF"),
        "one-page.tif": multipage_tiff([(5, 5, 5)], (40, 40)),
    }
    for name, data in odd.items():
        assert _assert_ok_or_ours(tmp_path_factory, data, name) is not None, name


# --- labels ---------------------------------------------------------------------------

ANY_TARGET = st.one_of(
    st.text(max_size=40),
    st.text(alphabet="0123456789 -+_", max_size=8),
    st.sampled_from(["goldfish", "tabby", "n02123045", "281", " crane ", "CRANE", "", "  ", "\x00", "\udcff"]),
    st.integers(-(2**70), 2**70),
    st.floats(allow_nan=True, allow_infinity=True),
    st.none(),
    st.booleans(),
    st.binary(max_size=10),
    st.lists(st.integers(), max_size=2),
)


@given(target=ANY_TARGET)
def test_label_resolution(target):
    labels = imagenet_labels()
    try:
        index = labels.resolve(check_target(target))
    except GuiappError as exc:
        assert isinstance(exc, LabelError) and str(exc).strip()
        return
    assert isinstance(index, int) and 0 <= index < len(labels)


@given(target=ANY_TARGET)
@settings(max_examples=max(10, settings().max_examples // 4))
def test_label_through_attack_file(model, tmp_path_factory, target):
    # The public API end to end up to the image: a bad target is a LabelError, a good one
    # gets as far as the (missing) image file. Nothing else may escape.
    missing = tmp_path_factory.mktemp("labels") / "missing.png"
    with pytest.raises(GuiappError) as info:
        attack_file(missing, target, model=model)
    assert isinstance(info.value, (LabelError, ImageLoadError)) and str(info.value).strip()


@given(text=st.text(max_size=30))
def test_label_search_never_raises(text):
    hits = imagenet_labels().search(text)
    assert isinstance(hits, list)


def test_byte_stream_is_not_needed():
    # load_image takes paths only; a BytesIO is a clear error, not a crash deep in Pillow.
    with pytest.raises(GuiappError):
        attack_file(io.BytesIO(b"x"), "goldfish")  # type: ignore[arg-type]


@pytest.mark.parametrize("text", ["²", "¹²", "①", "٣", " 7 ", "0\x1f", "\x1c12\x1d"])
def test_unicode_digits_found_by_the_fuzzer(text):
    # Found by test_label_resolution: '²'.isdigit() is True but int('²') raises ValueError, and
    # str.strip() removes '\x1f' where int() does not.
    labels = imagenet_labels()
    try:
        index = labels.resolve(text)
    except LabelError as exc:
        assert str(exc).strip()
    else:
        assert index == int(text.strip())  # Unicode decimal digits ("٣" is 3) are what int() accepts
