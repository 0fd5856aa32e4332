"""Reading images the way users have them (writing the PNGs: png_output.py).

Loading applies EXIF orientation, turns every mode into 8-bit RGB plus an optional alpha
channel (kept unchanged in the output), and refuses decompression bombs and tiny images
before decoding them. High bit depths are scaled by the file's bit depth, never guessed
from the pixel values (a dark 16-bit scan stays dark). Anything the user should know
about the conversion (an animated GIF reduced to its first frame, 16 bits reduced to 8)
is said in `LoadedImage.notes`.
"""

from __future__ import annotations

import errno
import io
import os
import stat
import warnings
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from PIL import Image, ImageCms, ImageOps, UnidentifiedImageError

from .errors import GuiappError, ImageLoadError
from .jpeg_data import jpeg_shortfall

MAX_PIXELS = 64_000_000  # default of max_pixels (--max-pixels): ~8000x8000, a 62 MP attack needs ~11 GB
MIN_SIDE = 32
IMAGE_SUFFIXES = {".jpg", ".jpeg", ".png", ".webp", ".bmp", ".tif", ".tiff", ".gif"}
# Formats we let Pillow try: fewer decoders on untrusted bytes means fewer surprises (TGA,
# for one, has no signature and "opens" many random files). JPEG includes MPO (camera JPEGs
# with a preview image); PPM/PGM is cheap and common in scientific tools.
ACCEPTED_FORMATS = ("JPEG", "PNG", "WEBP", "BMP", "TIFF", "GIF", "PPM")
# load_image checks the size itself (against max_pixels, before decoding), with a limit
# the user can raise; Pillow's own global check would still refuse a raised limit.
Image.MAX_IMAGE_PIXELS = None


@dataclass
class LoadedImage:
    rgb: np.ndarray  # (H, W, 3) uint8, orientation applied
    alpha: np.ndarray | None  # (H, W) uint8 or None
    path: Path | None
    source_mode: str  # PIL mode of the file, e.g. "CMYK", "I;16", "P"
    notes: list[str] = field(default_factory=list)  # what the conversion did that the user should know
    # The file's RGB colour profile (ICC), carried into the output PNG so that colour-managed
    # viewers show it as they show the input (a Display P3 photo would look duller without).
    icc_profile: bytes | None = None
    colour_depth: int = 8  # bits per channel of a colour file (16: read as 8)

    @property
    def size(self) -> tuple[int, int]:
        """(width, height) as PIL reports it."""
        return self.rgb.shape[1], self.rgb.shape[0]

    def to_pil(self) -> Image.Image:
        return Image.fromarray(self.rgb, "RGB")

    @property
    def greyscale_file(self) -> bool:
        """The file holds grey levels only (L, LA, 1, I;16...): its result is saved grey too."""
        return self.source_mode in GREY_MODES or self.source_mode.startswith("I;16")


GREY_MODES = ("1", "L", "LA", "La", "I", "F")


def is_grey(rgb: np.ndarray) -> bool:
    """R, G and B equal at every pixel: a grey picture, whatever mode its file has."""
    return bool((rgb[..., 0] == rgb[..., 1]).all() and (rgb[..., 1] == rgb[..., 2]).all())


def _first(value: object) -> object:
    """TIFF tags hold one value per channel; we need the first."""
    return value[0] if isinstance(value, tuple) and value else value


def full_scale(img: Image.Image) -> float:
    """The value that means "white" for a high-bit-depth or float image, from its file's
    declared depth. Must be called on the image as opened (a transposed copy loses the
    TIFF tags)."""
    tags = getattr(img, "tag_v2", None)
    if img.mode == "F":
        top = _first(tags.get(341)) if tags is not None else None  # SMaxSampleValue
        return float(top) if isinstance(top, (int, float)) and top > 0 else 1.0
    if img.mode.startswith("I;16"):
        return 65535.0
    if img.mode == "I":
        if tags is not None:
            bits = _first(tags.get(258))  # BitsPerSample
            signed = _first(tags.get(339)) == 2  # SampleFormat: 2 = signed integer
            if isinstance(bits, int) and 1 <= bits <= 32:
                return float(2 ** (bits - int(signed)) - 1)
        # PNG and PGM/PPM hold at most 16 bits, which Pillow reads into mode I.
        return 65535.0
    return 255.0


def _to_uint8(arr: np.ndarray, top: float) -> np.ndarray:
    """Scale pixel data whose white is `top` to 0..255 (round, clip what lies outside)."""
    if arr.dtype == np.uint8 and top == 255.0:
        return arr
    if np.issubdtype(arr.dtype, np.floating):
        arr = np.nan_to_num(arr, nan=0.0, posinf=top, neginf=0.0)
    floats = arr.astype(np.float64 if arr.dtype.itemsize > 2 else np.float32)
    return np.asarray(np.clip(np.round(np.multiply(floats, 255.0 / top)), 0, 255), dtype=np.uint8)


def _grey_notes(arr: np.ndarray, mode: str, top: float) -> list[str]:
    if mode == "F":
        outside = float(np.mean((arr < 0) | (arr > top) | ~np.isfinite(arr)))
        note = f"32-bit float image: values read as 0..{top:g} and reduced to 8 bits"
        if outside > 0:
            note += f"; {outside:.1%} of the pixels lie outside that range and were clipped"
        return [note]
    depth = "16-bit greyscale image" if top == 65535 else f"greyscale image with white = {top:.0f}"
    return [f"{depth}: reduced to 8 bits (the output PNG is 8-bit)"]


def image_from_pil(img: Image.Image, path: Path | None = None, *, top: float | None = None) -> LoadedImage:
    """Normalise any PIL image (already oriented) to 8-bit RGB + optional alpha.

    `top` is the value meaning white for modes I, I;16 and F (see `full_scale`); by
    default it is taken from `img` itself.
    """
    mode = img.mode
    alpha = None
    notes: list[str] = []
    if mode in ("I", "F") or mode.startswith("I;16"):
        top = full_scale(img) if top is None else top
        arr = np.asarray(img)
        notes += _grey_notes(arr, mode, top)
        gray = _to_uint8(arr, top)
        rgb = np.repeat(gray[..., None], 3, axis=2)
    else:
        if mode == "La":  # premultiplied: Pillow has no conversion from it
            arr = np.asarray(img).astype(np.float32)
            a = arr[..., 1]
            lum = np.where(a > 0, np.clip(np.round(arr[..., 0] * 255.0 / np.maximum(a, 1)), 0, 255), 0)
            img = Image.fromarray(np.dstack([lum, a]).astype(np.uint8), "LA")
        if mode == "P" and "transparency" in img.info:
            img = img.convert("RGBA")
        elif img.mode in ("LA", "PA"):
            img = img.convert("RGBA")
        if img.mode in ("RGBA", "RGBa"):
            img = img.convert("RGBA")
            alpha = np.array(img.getchannel("A"))
            if alpha.min() == 255:
                alpha = None  # opaque: no need to carry an alpha channel
        rgb = np.array(img.convert("RGB"))
    return LoadedImage(rgb=np.ascontiguousarray(rgb), alpha=alpha, path=path, source_mode=mode, notes=notes)


def _check_file(path: Path) -> None:
    """Refuse what is not a regular, non-empty file before Pillow sees it (a FIFO would block)."""
    if path.is_symlink() and not path.exists():
        try:
            os.stat(path)
        except OSError as exc:
            if exc.errno == errno.ELOOP:
                raise ImageLoadError(f"{path}: a loop of symbolic links (it never leads to a file)") from None
        raise ImageLoadError(f"{path}: broken symbolic link (its target {os.readlink(path)} does not exist)")
    try:
        st = path.stat()
    except FileNotFoundError:
        raise ImageLoadError(f"{path}: no such file") from None
    except PermissionError:
        raise ImageLoadError(f"{path}: permission denied") from None
    except OSError as exc:
        raise ImageLoadError(f"{path}: cannot be read ({exc.strerror or exc})") from None
    if stat.S_ISDIR(st.st_mode):
        raise ImageLoadError(f"{path}: is a folder, not an image")
    if not stat.S_ISREG(st.st_mode):
        raise ImageLoadError(f"{path}: not a regular file (a device, pipe or socket), not an image")
    if st.st_size == 0:
        raise ImageLoadError(f"{path}: the file is empty (0 bytes)")


def _frame_note(img: Image.Image) -> str | None:
    """Animated GIF/PNG/WebP and multi-page TIFF: we attack the first frame only."""
    if img.format == "MPO" or not getattr(img, "is_animated", False):
        return None  # MPO: a camera JPEG's extra frames are previews, not content
    what = "multi-page TIFF" if img.format == "TIFF" else f"animated {img.format}"
    return f"{what}: only the first {'page' if img.format == 'TIFF' else 'frame'} is used (the output is a still PNG)"


def _decoding_errors(path: Path, exc: Exception) -> ImageLoadError:
    """Pillow's decoders raise many types for bad bytes; say which kind of bad it is."""
    if isinstance(exc, ImageLoadError):
        return exc
    if isinstance(exc, UnidentifiedImageError):
        return ImageLoadError(f"{path}: not an image file that can be read "
                              "(accepted: JPEG, PNG, WebP, BMP, TIFF, GIF, PPM)")
    if isinstance(exc, PermissionError):
        return ImageLoadError(f"{path}: permission denied")
    if isinstance(exc, MemoryError):
        return ImageLoadError(f"{path}: not enough memory to decode this image")
    if isinstance(exc, (OSError, SyntaxError, ValueError, EOFError)):
        return ImageLoadError(f"{path}: the file is truncated or corrupt ({exc})")
    # Decoders of untrusted bytes raise anything (struct.error, IndexError, ...).
    return ImageLoadError(f"{path}: the file is corrupt ({type(exc).__name__}: {exc})")


SizeCheck = Callable[[int, int], object]  # (width, height) from the header -> raise to refuse


def _decode(img: Image.Image, path: Path, max_pixels: int, notes: list[str],
            before_decode: SizeCheck | None = None) -> tuple[Image.Image, float]:
    """Size guards, first frame, pixel data, EXIF orientation; returns (oriented, white value)."""
    w, h = img.size
    if w * h > max_pixels:
        raise ImageLoadError(
            f"{path}: {w}x{h} is {w * h:_} pixels, over the limit of {max_pixels:_} (a guard against "
            "decompression bombs and attacks that would not fit in memory; raise it with --max-pixels N "
            "on the command line, max_pixels= in Python, or Edit > Preferences in the app)"
        )
    if min(w, h) < MIN_SIDE:
        raise ImageLoadError(f"{path}: {w}x{h} is too small; both sides must be at least {MIN_SIDE} pixels")
    if img.format in ("JPEG", "MPO"):
        # Pillow decodes a JPEG whose data ends early as grey (a truncated PNG raises):
        # refuse it alike, from the file's structure, before a pixel is decoded.
        shortfall = jpeg_shortfall(path)
        if shortfall:
            raise ImageLoadError(f"{path}: {shortfall}")
    if before_decode is not None:
        before_decode(w, h)  # the memory check, from the header: before a byte is decoded
    frame_note = _frame_note(img)
    if frame_note:
        img.seek(0)
        notes.append(frame_note)
    img.load()
    top = full_scale(img)
    try:
        oriented = ImageOps.exif_transpose(img)
    except Exception:  # noqa: BLE001 - a broken EXIF block must not cost the picture
        notes.append("the EXIF data is unreadable: orientation not applied")
        return img, top
    return oriented, top


def load_image(path: str | Path, max_pixels: int = MAX_PIXELS, *,
               before_decode: SizeCheck | None = None) -> LoadedImage:
    """Load an image file at its original resolution; ImageLoadError says what is wrong.

    `max_pixels` refuses larger images before decoding them (decompression bombs, and
    images whose attack would not fit in memory; see guiapp.core.memory). `before_decode`
    is called with the (width, height) of the header, before decoding, to refuse with an
    error of its own (the memory checks of the pipeline and of predict do).
    """
    path = Path(path)
    _check_file(path)
    notes: list[str] = []
    with warnings.catch_warnings():
        # Pillow warns about odd but readable files (bad EXIF, palette transparency...).
        warnings.simplefilter("ignore")
        try:
            img = Image.open(path, formats=ACCEPTED_FORMATS)
        except Exception as exc:  # noqa: BLE001 - mapped to a clear message
            raise _decoding_errors(path, exc) from exc
        with img:
            try:
                oriented, top = _decode(img, path, max_pixels, notes, before_decode)
            except GuiappError:
                raise  # the caller's own refusal (a MemoryLimitError), or one of ours
            except Exception as exc:  # noqa: BLE001 - mapped to a clear message
                raise _decoding_errors(path, exc) from exc
            icc = img.info.get("icc_profile") or None
            depth = _colour_depth(img, path)
            if depth > 8:  # Pillow reads 16-bit colour as 8 bits per channel, saying nothing
                notes.append(f"{depth}-bit colour image: read as 8 bits per channel (the output PNG is 8-bit)")
            if oriented.mode == "CMYK" and icc:
                oriented = _cmyk_to_srgb(oriented, icc, notes)
            loaded = image_from_pil(oriented, path, top=top)
    loaded.source_mode = img.mode
    loaded.colour_depth = depth
    loaded.notes[:0] = notes
    if icc and icc[16:20] == b"RGB " and loaded.source_mode != "CMYK":  # header: data colour space
        loaded.icc_profile = icc
    return loaded


def _colour_depth(img: Image.Image, path: Path) -> int:
    """Bits per channel of a colour file that Pillow reads as 8 (16-bit RGB PNG and TIFF);
    8 otherwise (greyscale depths show in the mode: I;16)."""
    if img.mode not in ("RGB", "RGBA"):
        return 8
    if img.format == "PNG":
        with open(path, "rb") as f:
            head = f.read(25)  # signature (8), IHDR length and type (8), width, height, depth
        return head[24] if len(head) == 25 and head[12:16] == b"IHDR" else 8
    tags = getattr(img, "tag_v2", None)
    bits = _first(tags.get(258)) if tags is not None else None  # TIFF BitsPerSample
    return bits if isinstance(bits, int) and bits > 8 else 8


def describe_mode(image: LoadedImage) -> str:
    """What kind of picture the file holds, in words ("16-bit greyscale", "RGB + alpha"),
    not Pillow's mode names ("I;16", "RGBA")."""
    mode = image.source_mode
    words = MODE_WORDS.get(mode) or ("16-bit greyscale" if mode.startswith("I;16") else mode)
    if image.colour_depth > 8:
        words = f"{image.colour_depth}-bit {words}"
    return words


MODE_WORDS = {"1": "black and white (1 bit)", "L": "greyscale", "LA": "greyscale + alpha",
              "La": "greyscale + alpha", "I": "greyscale (32-bit integer)", "F": "greyscale (floating point)",
              "P": "palette colour", "PA": "palette colour + alpha", "RGB": "RGB", "RGBA": "RGB + alpha",
              "RGBa": "RGB + alpha", "CMYK": "CMYK", "YCbCr": "YCbCr", "LAB": "CIELAB", "HSV": "HSV"}


def _cmyk_to_srgb(img: Image.Image, icc: bytes, notes: list[str]) -> Image.Image:
    """CMYK with its own profile: convert through it (Pillow's plain CMYK->RGB ignores it
    and can be far off); without a usable profile, keep the plain conversion."""
    try:
        source = ImageCms.ImageCmsProfile(io.BytesIO(icc))
        converted = ImageCms.profileToProfile(img, source, ImageCms.createProfile("sRGB"), outputMode="RGB")
    except (ImageCms.PyCMSError, OSError, ValueError, TypeError):
        notes.append("the CMYK colour profile is unusable: converted to RGB without it")
        return img
    if converted is None:  # profileToProfile returns None only when asked to work in place
        return img
    notes.append("CMYK image: converted to sRGB through its embedded colour profile")
    return converted
