"""Reading multipart uploads under a byte limit, into our own private folder.

Starlette's form parser spools a whole upload (under a name of its choosing) before the
endpoint sees it; here the body is parsed while it streams in, so an oversized upload is
refused after `max_bytes`, not after it has filled the disk, and every byte is counted
against the server's temp budget (storage.Budget) as it arrives, so many uploads at once
cannot fill it either (what has arrived is counted, not what the request declares). A body
that stalls or arrives too slowly is dropped with 408. A body must end with its closing
boundary: a truncated one would silently lose its last field. The client's file name never
touches the file system: the image is written as `<folder>/upload`, and the name is kept,
sanitised, only as text (it becomes the PNG's "source" metadata, as with the CLI).
"""

from __future__ import annotations

import asyncio
import re
import unicodedata
import warnings
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import BinaryIO

from fastapi import Request
from PIL import Image, UnidentifiedImageError
from python_multipart.exceptions import MultipartParseError
from python_multipart.multipart import MultipartParser, parse_options_header
from starlette.requests import ClientDisconnect

from ..core.imageio import MIN_SIDE
from ..core.jpeg_data import jpeg_shortfall
from .errors import ApiError
from .storage import Budget

MAX_FIELD_BYTES = 16 * 1024  # a label or an option value; nothing legitimate is longer
MAX_PARTS = 40
UPLOAD_NAME = "upload"
# A body that stalls, or dribbles, is dropped (issue 33 item 6: three uploads that declared
# 20 MB and sent a byte every 2 s held their slots for as long as they liked). No byte for
# BODY_IDLE_S (nginx's client_body_timeout is 60 s), or, once BODY_GRACE_S have passed,
# fewer than MIN_BODY_RATE bytes/s on average since the body began (a 32 kbit/s link
# passes; a byte every 2 s does not).
BODY_IDLE_S = 60.0
BODY_GRACE_S = 30.0
MIN_BODY_RATE = 4096


@dataclass
class Upload:
    fields: dict[str, str] = field(default_factory=dict)
    image: Path | None = None
    filename: str = UPLOAD_NAME  # the client's base name, sanitised
    image_bytes: int = 0
    reserved: int = 0  # bytes of the temp budget this upload holds (the caller releases them)


def safe_name(name: str | None) -> str:
    """The base name of a client's file name, reduced to harmless characters: letters and
    digits of any script (a photo named ü名前.png keeps its name, as the CLI reports it), '.',
    '-' and '_'; at most 128 bytes of UTF-8."""
    base = unicodedata.normalize("NFC", re.split(r"[\\/]", name or "")[-1])
    cleaned = re.sub(r"[^\w.-]+", "_", base).lstrip(".")
    while len(cleaned.encode()) > 128:
        cleaned = cleaned[:-1]
    return cleaned or UPLOAD_NAME


def storage_full() -> ApiError:
    return ApiError(503, "storage_full", "the server's temp space (--max-disk-mb) is full of uploads and results; "
                    "retry later", headers={"Retry-After": "30"})


def body_timeout(why: str) -> ApiError:
    return ApiError(408, "body_timeout", f"the request body {why}; nothing was used")


async def _chunks(request: Request) -> AsyncIterator[bytes]:
    """The body's chunks as they arrive; 408 when it stalls or arrives too slowly."""
    loop = asyncio.get_running_loop()
    stream = request.stream().__aiter__()
    start, received = loop.time(), 0
    while True:
        try:
            chunk = await asyncio.wait_for(stream.__anext__(), BODY_IDLE_S)
        except StopAsyncIteration:
            return
        except asyncio.TimeoutError:
            raise body_timeout(f"stalled (no byte for {BODY_IDLE_S:g} s)") from None
        received += len(chunk)
        elapsed = loop.time() - start
        if elapsed > BODY_GRACE_S and received < MIN_BODY_RATE * elapsed:
            raise body_timeout(f"arrives too slowly ({received / elapsed:.0f} bytes/s on average; at least "
                               f"{MIN_BODY_RATE} are needed)")
        yield chunk


def too_large(limit: int) -> ApiError:
    return ApiError(413, "too_large",
                    f"request body over the server's limit of {limit / (1 << 20):g} MiB (--max-upload-mb)")


class _FormCollector:
    """python-multipart callbacks: text fields into memory, the image part into a file."""

    def __init__(self, folder: Path, file_field: str) -> None:
        self.folder = folder
        self.file_field = file_field
        self.upload = Upload()
        self._parts = 0
        self._header_field = b""
        self._header_value = b""
        self._headers: dict[bytes, bytes] = {}
        self._name = ""
        self._value = bytearray()
        self._file: BinaryIO | None = None
        self.ended = False  # the closing boundary was seen

    def end(self) -> None:
        self.ended = True

    def callbacks(self) -> dict:
        return {
            "on_part_begin": self.part_begin,
            "on_header_field": self.header_field,
            "on_header_value": self.header_value,
            "on_header_end": self.header_end,
            "on_headers_finished": self.headers_finished,
            "on_part_data": self.part_data,
            "on_part_end": self.part_end,
            "on_end": self.end,
        }

    def part_begin(self) -> None:
        self._parts += 1
        if self._parts > MAX_PARTS:
            raise ApiError(400, "bad_form", f"more than {MAX_PARTS} form fields")
        self._headers = {}
        self._value = bytearray()

    def header_field(self, data: bytes, start: int, end: int) -> None:
        self._header_field += data[start:end]

    def header_value(self, data: bytes, start: int, end: int) -> None:
        self._header_value += data[start:end]

    def header_end(self) -> None:
        self._headers[self._header_field.lower()] = self._header_value
        self._header_field = self._header_value = b""

    def headers_finished(self) -> None:
        disposition, params = parse_options_header(self._headers.get(b"content-disposition"))
        if disposition != b"form-data" or b"name" not in params:
            raise ApiError(400, "bad_form", "a form part without 'Content-Disposition: form-data; name=...'")
        self._name = params[b"name"].decode("utf-8", "replace")
        if self._name == self.file_field:
            if self.upload.image is not None:
                raise ApiError(400, "bad_form", f"more than one '{self.file_field}' file")
            self.upload.filename = safe_name(params.get(b"filename", b"").decode("utf-8", "replace"))
            self.upload.image = self.folder / UPLOAD_NAME
            self._file = open(self.upload.image, "xb")  # noqa: SIM115 - closed in part_end/close()
        elif b"filename" in params:
            raise ApiError(400, "bad_form",
                           f"unexpected file field {self._name!r}; send the image as '{self.file_field}'")
        elif self._name in self.upload.fields:
            raise ApiError(400, "bad_form", f"field {self._name!r} given twice")

    def part_data(self, data: bytes, start: int, end: int) -> None:
        if self._file is not None:
            self._file.write(data[start:end])
            self.upload.image_bytes += end - start
        else:
            self._value += data[start:end]
            if len(self._value) > MAX_FIELD_BYTES:
                raise ApiError(413, "too_large", f"field {self._name!r} is over {MAX_FIELD_BYTES} bytes")

    def part_end(self) -> None:
        if self._file is not None:
            self.close()
            return
        try:
            self.upload.fields[self._name] = self._value.decode("utf-8")
        except UnicodeDecodeError:
            raise ApiError(400, "bad_form", f"field {self._name!r} is not UTF-8 text") from None

    def close(self) -> None:
        if self._file is not None:
            self._file.close()
            self._file = None


async def receive_form(request: Request, folder: Path, max_bytes: int, budget: Budget,
                       file_field: str = "image") -> Upload:
    """Parse a multipart/form-data body as it arrives; 413 as soon as it passes `max_bytes`,
    503 when the server's temp budget has no room for it (the upload's `reserved` bytes
    are the caller's to release once they are deleted)."""
    mime, params = parse_options_header(request.headers.get("content-type"))
    if mime != b"multipart/form-data":
        raise ApiError(
            415,
            "unsupported_media_type",
            f"send multipart/form-data with the image in a field named '{file_field}' "
            f"(curl -F {file_field}=@photo.jpg)",
        )
    boundary = params.get(b"boundary")
    if not boundary:
        raise ApiError(400, "bad_form", "multipart/form-data without a boundary")
    declared = request.headers.get("content-length", "")
    if declared.isdigit() and int(declared) > max_bytes:
        raise too_large(max_bytes)  # refuse before reading a byte
    collector = _FormCollector(folder, file_field)
    parser = MultipartParser(boundary, collector.callbacks())  # type: ignore[arg-type]
    # The budget counts the bytes that have arrived, not those declared: an upload that
    # declares 20 MB and sends a byte every 2 s no longer holds 20 MB of everyone's room.
    received = reserved = 0
    try:
        async for chunk in _chunks(request):
            received += len(chunk)
            if received > max_bytes:
                raise too_large(max_bytes)
            if received > reserved:
                if not budget.try_reserve(received - reserved):
                    raise storage_full()
                reserved = received
            parser.write(chunk)
        parser.finalize()
        if not collector.ended:
            raise ApiError(400, "bad_form", "the multipart body ends without its closing boundary "
                           "(a truncated upload?); nothing was used")
    except MultipartParseError as exc:
        budget.release(reserved)
        raise ApiError(400, "bad_form", f"malformed multipart body ({exc})") from None
    except ClientDisconnect:
        budget.release(reserved)
        raise ApiError(400, "client_disconnected", "the client went away during the upload") from None
    except BaseException:
        budget.release(reserved)
        raise
    finally:
        collector.close()
    collector.upload.reserved = reserved
    return collector.upload


def check_image(path: Path, max_pixels: int) -> tuple[int, int]:
    """Identify the upload from its header only: 415 if it is no image, 413 if decoding it
    would be a decompression bomb. Full decoding (and truncation errors) comes later."""
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            with Image.open(path) as img:
                width, height = img.size
                jpeg = img.format in ("JPEG", "MPO")
    except UnidentifiedImageError:
        raise ApiError(
            415, "not_an_image", "the upload is not an image that can be read (JPEG, PNG, WebP, BMP, TIFF...)"
        ) from None
    except (Image.DecompressionBombError, Image.DecompressionBombWarning) as exc:
        raise ApiError(413, "too_many_pixels", f"refused as a possible decompression bomb ({exc})") from None
    except (OSError, SyntaxError, ValueError) as exc:
        raise ApiError(400, "bad_image", f"the image is corrupt ({exc})") from None
    if width * height > max_pixels:
        raise ApiError(
            413,
            "too_many_pixels",
            f"{width}x{height} is {width * height / 1e6:.1f} megapixels, over the server's limit of "
            f"{max_pixels / 1e6:.1f} (a decompression guard; --max-pixels)",
        )
    if min(width, height) < MIN_SIDE:
        raise ApiError(400, "bad_image",
                       f"{width}x{height} is too small; both sides must be at least {MIN_SIDE} pixels")
    # A JPEG too short for its header's size is refused here, before a job is queued, as
    # decoding would refuse a truncated PNG (issue 33 item 7).
    shortfall = jpeg_shortfall(path) if jpeg else None
    if shortfall:
        raise ApiError(400, "bad_image", shortfall)
    return width, height
