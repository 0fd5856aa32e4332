"""Is there enough coded data in a JPEG for the size its header claims? (issue 33 item 7)

A JPEG whose frame header says 7000x7000 but whose scan holds 227x227 worth of data is
not refused by Pillow: libjpeg meets the end-of-image marker early, warns (Pillow drops
the warning) and fills the rest with flat grey, so the "image" was decoded, converted and
classified at full size (+0.85 GB) while a truncated PNG is refused. A JPEG cut without
its end marker is refused by Pillow already ("image file is truncated").

The check needs no decoding: in Huffman-coded JPEG (baseline, extended, progressive)
every 8x8 block of every component costs at least one bit (its DC code: Huffman codes
are at least one bit long), so the coded bytes between the first start-of-scan and the
end-of-image marker can be no fewer than blocks / 8. A file under that bound is certainly
cut short; one above it may still be, but then its data is there to decode and costs what
any honest file of that size costs. Arithmetic-coded JPEG can go below one bit per block,
so it is not judged.
"""

from __future__ import annotations

import math
import mmap
import struct
from pathlib import Path

# Start-of-frame markers with Huffman coding (baseline, extended, progressive, lossless).
_HUFFMAN_SOF = {0xC0, 0xC1, 0xC2, 0xC3}
_ALL_SOF = set(range(0xC0, 0xD0)) - {0xC4, 0xC8, 0xCC}  # C4 DHT, C8 reserved, CC DAC
_STANDALONE = set(range(0xD0, 0xD8)) | {0x01}  # RSTn and TEM have no length field


def _min_coded_bytes(frame: bytes) -> tuple[int, int, int] | None:
    """(width, height, fewest coded bytes) from a frame header's body, or None if unusable."""
    if len(frame) < 6:
        return None
    height, width, count = struct.unpack(">HHB", frame[1:6])
    comps = [(frame[6 + 3 * i + 1] >> 4, frame[6 + 3 * i + 1] & 15) for i in range(count)
             if 6 + 3 * i + 2 < len(frame)]
    if height == 0 or width == 0 or not comps or len(comps) != count or min(min(c) for c in comps) == 0:
        return None  # a height defined later (DNL) or a malformed header: Pillow judges it
    h_max, v_max = max(h for h, _ in comps), max(v for _, v in comps)
    blocks = sum(math.ceil(math.ceil(width * h / h_max) / 8) * math.ceil(math.ceil(height * v / v_max) / 8)
                 for h, v in comps)
    return width, height, math.ceil(blocks / 8)


def _coded_bytes(data: mmap.mmap, pos: int) -> int | None:
    """Bytes of entropy-coded data from `pos` (just after the first scan's header) to the
    end-of-image marker, not counting the segments between the scans of a progressive
    file (tables, comments: a comment may hold the bytes FF D9). None without an end."""
    coded, run_start = 0, pos
    while True:
        i = data.find(b"\xff", pos)
        if i < 0 or i + 1 >= len(data):
            return None
        nxt = data[i + 1]
        if nxt == 0x00 or 0xD0 <= nxt <= 0xD7:  # a stuffed 0xFF, or a restart marker: still data
            pos = i + 2
            continue
        if nxt == 0xFF:  # fill bytes before a marker
            pos = i + 1
            continue
        coded += i - run_start
        if nxt == 0xD9:  # end of image: where libjpeg stops
            return coded
        if i + 4 > len(data):
            return None
        # A segment (another scan's header, a table, a comment): skipped, not counted.
        pos = run_start = i + 2 + struct.unpack(">H", data[i + 2:i + 4])[0]


def jpeg_shortfall(path: str | Path) -> str | None:
    """Why the JPEG at `path` cannot hold the image its header describes, or None when it
    can (or when this check cannot tell: not JPEG, arithmetic-coded, odd structure)."""
    with open(path, "rb") as f:
        try:
            data = mmap.mmap(f.fileno(), 0, access=mmap.ACCESS_READ)
        except ValueError:  # an empty file
            return None
    with data:
        if data[:2] != b"\xff\xd8":
            return None
        pos, frame, arithmetic = 2, None, False
        while pos + 4 <= len(data):
            if data[pos] != 0xFF:
                return None  # not a marker where one must be: leave it to the decoder
            marker = data[pos + 1]
            if marker == 0xFF:  # fill byte before a marker
                pos += 1
                continue
            if marker in _STANDALONE:
                pos += 2
                continue
            length = struct.unpack(">H", data[pos + 2:pos + 4])[0]
            body = pos + 4
            if marker in _ALL_SOF and frame is None:
                frame = _min_coded_bytes(data[body:body + length - 2])
                arithmetic = marker not in _HUFFMAN_SOF
            if marker == 0xDA:  # start of scan: the coded data follows its header
                if frame is None or arithmetic:
                    return None
                coded = _coded_bytes(data, body + length - 2)
                if coded is None:
                    return None  # no end marker at all: Pillow refuses it as truncated
                width, height, needed = frame
                if coded < needed:
                    return (f"the JPEG is truncated: its header says {width}x{height}, which needs at least "
                            f"{needed:_} bytes of image data, but it holds {coded:_} (the rest would be "
                            "decoded as flat grey)")
                return None
            pos = body + length - 2
    return None
