"""Writing the result PNGs without ever losing data.

Saving writes a temp file in the target folder, fsyncs it and renames it over the
destination, so a crash or a full disk never leaves a half-written PNG; it refuses to
write over an input or onto a folder, and `probe_writable` finds a read-only or full
folder before long work starts.
"""

from __future__ import annotations

import errno
import io
import os
import shutil
import tempfile
from pathlib import Path

import numpy as np
from PIL import Image, PngImagePlugin

from .errors import OutputError
from .imageio import is_grey

# Read once at import: os.umask can only be read by setting it, which is not thread-safe.
_UMASK = os.umask(0)
os.umask(_UMASK)


def check_output_path(out: str | Path, inputs: list[Path]) -> Path:
    """Refuse to write over any input or onto a folder; ensure a .png name."""
    if not str(out).strip():
        raise OutputError("the output file name is empty; give a name ending in .png")
    out = Path(out)
    if out.is_dir():  # first: `-o adv` naming a folder is no JPEG mistake
        raise OutputError(f"{out}: is a folder; give a file name ending in .png (or a name inside that folder)")
    if out.name.lower() == ".png":
        raise OutputError(f"{out}: give the file a name before its .png")
    if out.suffix.lower() != ".png":
        lossy = " (JPEG and other lossy formats would destroy the noise)" if out.suffix else ""
        raise OutputError(f"{out}: the output must be a PNG file, its name ending in .png{lossy}")
    resolved = out.resolve()
    for src in inputs:
        if src is not None and src.exists() and src.resolve() == resolved:
            raise OutputError(f"{out}: refusing to overwrite the input image; choose another name")
    return out


PROBE_BYTES = 1 << 20  # enough to notice a full disk, small enough to be instant


def probe_writable(folder: str | Path, expected_bytes: int = 0, write_probe: bool = True) -> Path:
    """Make sure `folder` exists and a file can be written there *before* long work starts.

    Writes, fsyncs and deletes a 1 MiB probe file; raises OutputError saying why not
    (read-only, permission, full disk, a file where the folder should be). With
    `expected_bytes`, also refuses when the file system has less free space than that.
    `write_probe=False` skips the probe file (a batch probes its folder once per run).
    """
    folder = Path(folder) if str(folder) else Path(".")
    if folder.exists() and not folder.is_dir():
        raise OutputError(f"{folder} is a file, not a folder")
    try:
        folder.mkdir(parents=True, exist_ok=True)
        if write_probe:
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
    if expected_bytes > 0:
        free = shutil.disk_usage(folder).free
        if free < expected_bytes:
            # Chained to ENOSPC so that callers which stop on a full device (a batch) see
            # this as one, not as a problem of this image.
            raise OutputError(
                f"cannot write in {folder}: the output needs up to {expected_bytes / 1e6:.1f} MB "
                f"and only {free / 1e6:.1f} MB are free"
            ) from OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))
    return folder


def _png_image(rgb: np.ndarray, alpha: np.ndarray | None, grey: bool) -> Image.Image:
    """The image a saved PNG holds: RGB, or L where R, G and B are equal (`grey`), plus alpha."""
    if grey and is_grey(rgb):
        img = Image.fromarray(np.ascontiguousarray(rgb[..., 0]), "L")
    else:
        img = Image.fromarray(rgb, "RGB")
    if alpha is not None:
        img.putalpha(Image.fromarray(alpha, "L"))
    return img


def encode_png(rgb: np.ndarray, alpha: np.ndarray | None = None, grey: bool = False) -> bytes:
    """The PNG bytes of the pixels save_png would write, without its text chunks: what a
    query victim is asked about (the same pixels a reader decodes from the saved file)."""
    buffer = io.BytesIO()
    _png_image(rgb, alpha, grey).save(buffer, format="PNG", compress_level=3)
    return buffer.getvalue()


def save_png(
    out: str | Path,
    rgb: np.ndarray,
    alpha: np.ndarray | None = None,
    metadata: dict[str, str] | None = None,
    protect: list[Path] | None = None,
    icc_profile: bytes | None = None,
    grey: bool = False,
) -> Path:
    """Write an 8-bit PNG atomically (temp file in the same folder, fsync, rename);
    `icc_profile` (the input's, LoadedImage.icc_profile) is embedded when given. `grey`:
    a greyscale PNG (L, or LA with alpha) where R, G and B are equal everywhere, the same
    pixels as RGB (a reader repeats the grey level), a third of the data."""
    out = check_output_path(out, protect or [])
    folder = out.parent if str(out.parent) else Path(".")
    if not folder.is_dir():
        try:
            folder.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise OutputError(f"cannot create output folder {folder}: {exc.strerror}") from exc
    img = _png_image(rgb, alpha, grey)
    info = PngImagePlugin.PngInfo()
    for key, value in (metadata or {}).items():
        info.add_text(f"guiapp:{key}", str(value))
    tmp_name = None
    try:
        with tempfile.NamedTemporaryFile(dir=folder, prefix=f".{out.name}.", suffix=".tmp", delete=False) as tmp:
            tmp_name = tmp.name
            # Level 3: a third of level 6's time on multi-megapixel images, files ~5% larger.
            extra = {"icc_profile": icc_profile} if icc_profile else {}
            img.save(tmp, format="PNG", pnginfo=info, compress_level=3, **extra)
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
        return {k.removeprefix("guiapp:"): v for k, v in img.info.items()
                if isinstance(k, str) and k.startswith("guiapp:")}
