"""Hand-made image files for reader tests: what Pillow cannot write (16-bit RGB PNGs),
animations, multi-page TIFFs. Tiny on purpose."""

from __future__ import annotations

import io
import struct
import zlib

import numpy as np
from PIL import Image


def png_bytes(arr: np.ndarray, bit_depth: int, color_type: int) -> bytes:
    """A minimal valid PNG (no filtering) of `arr` (H,W) or (H,W,C) at `bit_depth` bits.

    color_type: 0 grey, 2 RGB, 4 grey+alpha, 6 RGBA (PNG spec 11.2.2).
    """
    h, w = arr.shape[:2]

    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)

    dtype = ">u2" if bit_depth == 16 else "u1"
    raw = b"".join(b"\0" + arr[y].astype(dtype).tobytes() for y in range(h))
    header = struct.pack(">IIBBBBB", w, h, bit_depth, color_type, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", zlib.compress(raw)) + chunk(b"IEND", b"")


def animated_gif(colours: list[tuple[int, int, int]], size: tuple[int, int] = (40, 40)) -> bytes:
    frames = [Image.new("RGB", size, c) for c in colours]
    buf = io.BytesIO()
    frames[0].save(buf, "GIF", save_all=True, append_images=frames[1:], duration=100, loop=0)
    return buf.getvalue()


def multipage_tiff(colours: list[tuple[int, int, int]], size: tuple[int, int] = (40, 40)) -> bytes:
    frames = [Image.new("RGB", size, c) for c in colours]
    buf = io.BytesIO()
    frames[0].save(buf, "TIFF", save_all=True, append_images=frames[1:])
    return buf.getvalue()


def encoded(img: Image.Image, fmt: str, **kwargs) -> bytes:
    buf = io.BytesIO()
    img.save(buf, fmt, **kwargs)
    return buf.getvalue()


def strip_png(width: int, height: int) -> bytes:
    """A black greyscale PNG of width x height written row by row: a 60000x32 strip is a
    few kilobytes, whatever its pixel count (the issue's 5.8 KB file that took 3.9 GB)."""
    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)

    header = struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0)
    raw = zlib.compress(b"\0" * ((width + 1) * height), 9)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", raw) + chunk(b"IEND", b"")


def jpeg_claiming(source: Image.Image, width: int, height: int) -> bytes:
    """A real JPEG of `source` whose frame header claims width x height instead: the
    coded data (and its end marker) hold only `source`'s blocks. Pillow decodes the rest as
    flat grey without a word (issue 33 item 7)."""
    buf = io.BytesIO()
    source.convert("RGB").save(buf, "JPEG", quality=90)
    data = bytearray(buf.getvalue())
    sof = data.index(b"\xff\xc0")  # baseline frame header: FFC0, length, precision, height, width
    struct.pack_into(">HH", data, sof + 5, height, width)
    return bytes(data)
