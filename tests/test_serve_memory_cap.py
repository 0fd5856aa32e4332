"""The server's per-request memory cap (issue 33 item 1): a PNG of a few KB whose header
says 1,000,000x32 is refused from its header, before decoding, whatever RAM is free."""

from __future__ import annotations

import io

import numpy as np
import pytest
from PIL import Image

from test_serve_process import Server


def strip_png(width: int, height: int) -> bytes:
    buf = io.BytesIO()
    Image.fromarray(np.zeros((height, width, 3), np.uint8)).save(buf, "PNG", optimize=True)
    return buf.getvalue()


@pytest.mark.slow
def test_strips_over_the_request_cap_are_refused_before_decoding(tmp_path):
    server = Server(tmp_path / "server.log", "--max-request-mb", "1024", env={"GUIAPP_MEMORY_CHECK": "off"})
    try:
        http = server.http
        huge = strip_png(1_000_000, 32)
        assert len(huge) < 200_000  # a small upload...
        r = http.post("/v1/predict", files={"image": ("s.png", huge, "image/png")})
        assert r.status_code == 413 and r.json()["error"] == "too_large_for_memory", r.text
        assert "this server allows one request" in r.json()["message"]  # ...refused by the cap, not by free RAM
        strip = strip_png(60000, 32)
        r = http.post("/v1/attack", files={"image": ("s.png", strip, "image/png")}, data={"target": "goldfish"})
        assert r.status_code == 413 and r.json()["error"] == "too_large_for_memory", r.text
        # An ordinary photo is served as before.
        photo = io.BytesIO()
        Image.fromarray(np.random.default_rng(0).integers(0, 255, (48, 64, 3)).astype(np.uint8)).save(photo, "PNG")
        r = http.post("/v1/predict", files={"image": ("p.png", photo.getvalue(), "image/png")})
        assert r.status_code == 200, r.text
    finally:
        server.kill()
