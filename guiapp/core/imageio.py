"""Reading images the way users have them and writing PNGs without ever losing data.

Loading applies EXIF orientation, turns every mode into 8-bit RGB plus an optional alpha
channel (kept unchanged in the output), and refuses decompression bombs and tiny images
before decoding them. Saving writes a temp file in the target folder and renames it over
the destination, so a crash or a full disk never leaves a half-written PNG, and refuses to
write over the input.
"""

from __future__ import annotations

import errno
import os
import tempfile
import warnings
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from PIL import Image, ImageOps, PngImagePlugin, UnidentifiedImageError

from .errors import ImageLoadError, OutputError

MAX_PIXELS = 64_000_000  # ~8000x8000; above that the attack's float tensors get unwieldy
MIN_SIDE = 32
# Read once at import: os.umask can only be read by setting it, which is not thread-safe.
_UMASK = os.umask(0)
os.umask(_UMASK)
IMAGE_SUFFIXES = {".jpg", ".jpeg", ".png", ".webp", ".bmp", ".tif", ".tiff", ".gif"}


@dataclass
class LoadedImage:
    rgb: np.ndarray  # (H, W, 3) uint8, orientation applied
    alpha: np.ndarray | None  # (H, W) uint8 or None
    path: Path | None
    source_mode: str  # PIL mode of the file, e.g. "CMYK", "I;16", "P"

    @property
    def size(self) -> tuple[int, int]:
        """(width, height) as PIL reports it."""
        return self.rgb.shape[1], self.rgb.shape[0]

    def to_pil(self) -> Image.Image:
        return Image.fromarray(self.rgb, "RGB")


def _to_uint8(arr: np.ndarray) -> np.ndarray:
    """High-bit-depth or float pixel data -> uint8 by its range, not by clipping."""
    if arr.dtype == np.uint8:
        return arr
    if np.issubdtype(arr.dtype, np.floating):
        top = 1.0 if arr.max(initial=0.0) <= 1.0 else 255.0
        return np.clip(np.round(arr / top * 255.0), 0, 255).astype(np.uint8)
    top = 65535 if arr.max(initial=0) > 255 else 255
    return np.clip(np.round(arr.astype(np.float64) / top * 255.0), 0, 255).astype(np.uint8)


def image_from_pil(img: Image.Image, path: Path | None = None) -> LoadedImage:
    """Normalise any PIL image (already oriented) to 8-bit RGB + optional alpha."""
    mode = img.mode
    alpha = None
    if mode in ("I", "I;16", "I;16B", "I;16L", "I;16N", "F"):
        gray = _to_uint8(np.asarray(img))
        rgb = np.repeat(gray[..., None], 3, axis=2)
    else:
        if mode == "P" and "transparency" in img.info:
            img = img.convert("RGBA")
        elif mode in ("LA", "PA", "La"):
            img = img.convert("RGBA")
        if img.mode == "RGBA" or img.mode == "RGBa":
            img = img.convert("RGBA")
            alpha = np.array(img.getchannel("A"))
            if alpha.min() == 255:
                alpha = None  # opaque: no need to carry an alpha channel
        rgb = np.array(img.convert("RGB"))
    return LoadedImage(rgb=np.ascontiguousarray(rgb), alpha=alpha, path=path, source_mode=mode)


def load_image(path: str | Path, max_pixels: int = MAX_PIXELS) -> LoadedImage:
    """Load an image file at its original resolution; ImageLoadError says what is wrong."""
    path = Path(path)
    if not path.exists():
        raise ImageLoadError(f"{path}: no such file")
    if path.is_dir():
        raise ImageLoadError(f"{path}: is a folder, not an image")
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            with Image.open(path) as img:
                w, h = img.size
                if w * h > max_pixels:
                    raise ImageLoadError(
                        f"{path}: {w}x{h} is {w * h / 1e6:.0f} megapixels, over the limit of "
                        f"{max_pixels / 1e6:.0f} (refusing a possible decompression bomb; raise --max-pixels to allow)"
                    )
                if min(w, h) < MIN_SIDE:
                    raise ImageLoadError(f"{path}: {w}x{h} is too small; both sides must be at least {MIN_SIDE} pixels")
                img.load()
                oriented = ImageOps.exif_transpose(img)
                return image_from_pil(oriented, path)
    except ImageLoadError:
        raise
    except UnidentifiedImageError as exc:
        raise ImageLoadError(f"{path}: not an image file that can be read (JPEG, PNG, WebP, BMP, TIFF...)") from exc
    except (Image.DecompressionBombError, Image.DecompressionBombWarning) as exc:
        raise ImageLoadError(f"{path}: refused as a possible decompression bomb ({exc})") from exc
    except PermissionError as exc:
        raise ImageLoadError(f"{path}: permission denied") from exc
    except (OSError, SyntaxError, ValueError) as exc:
        raise ImageLoadError(f"{path}: the file is truncated or corrupt ({exc})") from exc


def check_output_path(out: str | Path, inputs: list[Path]) -> Path:
    """Refuse to write over any input; ensure a .png name."""
    out = Path(out)
    if out.suffix.lower() != ".png":
        raise OutputError(f"{out}: output must be a .png file (lossless; JPEG would destroy the noise)")
    resolved = out.resolve()
    for src in inputs:
        if src is not None and src.exists() and src.resolve() == resolved:
            raise OutputError(f"{out}: refusing to overwrite the input image; choose another name")
    return out


PROBE_BYTES = 1 << 20  # enough to notice a full disk, small enough to be instant


def probe_writable(folder: str | Path) -> Path:
    """Make sure `folder` exists and a file can be written there *before* long work starts.

    Writes, fsyncs and deletes a 1 MiB probe file; raises OutputError saying why not
    (read-only, permission, full disk, a file where the folder should be).
    """
    folder = Path(folder) if str(folder) else Path(".")
    if folder.exists() and not folder.is_dir():
        raise OutputError(f"{folder} is a file, not a folder")
    try:
        folder.mkdir(parents=True, exist_ok=True)
        with tempfile.NamedTemporaryFile(dir=folder, prefix=".guiapp-probe-", suffix=".tmp") as probe:
            probe.write(b"\0" * PROBE_BYTES)
            probe.flush()
            os.fsync(probe.fileno())
    except PermissionError as exc:
        raise OutputError(f"cannot write in {folder}: permission denied (is it read-only?)") from exc
    except OSError as exc:
        if exc.errno == errno.ENOSPC:
            raise OutputError(f"cannot write in {folder}: no space left on the device") from exc
        if exc.errno == errno.EROFS:
            raise OutputError(f"cannot write in {folder}: read-only file system") from exc
        raise OutputError(f"cannot write in {folder}: {exc.strerror or exc}") from exc
    return folder


def save_png(
    out: str | Path,
    rgb: np.ndarray,
    alpha: np.ndarray | None = None,
    metadata: dict[str, str] | None = None,
    protect: list[Path] | None = None,
) -> Path:
    """Write an 8-bit PNG atomically (temp file in the same folder, fsync, rename)."""
    out = check_output_path(out, protect or [])
    folder = out.parent if str(out.parent) else Path(".")
    if not folder.is_dir():
        try:
            folder.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise OutputError(f"cannot create output folder {folder}: {exc.strerror}") from exc
    img = Image.fromarray(rgb, "RGB")
    if alpha is not None:
        img.putalpha(Image.fromarray(alpha, "L"))
    info = PngImagePlugin.PngInfo()
    for key, value in (metadata or {}).items():
        info.add_text(f"guiapp:{key}", str(value))
    tmp_name = None
    try:
        with tempfile.NamedTemporaryFile(dir=folder, prefix=f".{out.name}.", suffix=".tmp", delete=False) as tmp:
            tmp_name = tmp.name
            # Level 3: a third of level 6's time on multi-megapixel images, files ~5% larger.
            img.save(tmp, format="PNG", pnginfo=info, compress_level=3)
            tmp.flush()
            os.fsync(tmp.fileno())
        # Temp files are created 0600; give the PNG the permissions a plain open() would.
        os.chmod(tmp_name, 0o666 & ~_UMASK)
        os.replace(tmp_name, out)
        tmp_name = None
    except PermissionError as exc:
        raise OutputError(f"cannot write {out}: permission denied (is the folder read-only?)") from exc
    except OSError as exc:
        if exc.errno == errno.ENOSPC:
            raise OutputError(f"cannot write {out}: no space left on the device") from exc
        raise OutputError(f"cannot write {out}: {exc.strerror or exc}") from exc
    finally:
        if tmp_name is not None:
            try:
                os.unlink(tmp_name)
            except OSError:
                pass
    return out


def read_png_metadata(path: str | Path) -> dict[str, str]:
    with Image.open(path) as img:
        return {k.removeprefix("guiapp:"): v for k, v in img.info.items() if isinstance(k, str) and k.startswith("guiapp:")}
