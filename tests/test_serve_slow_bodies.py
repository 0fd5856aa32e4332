"""Slow and stalled request bodies over a real socket (issue 33 item 6).

Three uploads that declared 20 MB and sent a byte every 2 s held the server's temp budget:
everyone else got 503 storage_full for as long as they dribbled. The budget now counts
what has arrived, and a body that stalls (no byte for BODY_IDLE_S) or arrives too slowly
(under MIN_BODY_RATE on average after BODY_GRACE_S) gets 408. The first test runs
`guiapp-cli serve` as its own process; the others run uvicorn in a thread of the test, on a
loopback port, so that the timeouts can be shortened for the test.
"""

from __future__ import annotations

import json
import socket
import threading
import time
from pathlib import Path

import pytest
from PIL import Image

httpx = pytest.importorskip("httpx")
uvicorn = pytest.importorskip("uvicorn")

from guiapp.serve import uploads  # noqa: E402
from guiapp.serve.app import create_app  # noqa: E402
from guiapp.serve.settings import ServeSettings  # noqa: E402

from test_serve_process import Server, _roots  # noqa: E402

pytestmark = pytest.mark.slow
DECLARED = 20 << 20  # what each slow upload says it will send


@pytest.fixture
def tiny(tmp_path, cat_path) -> bytes:
    path = tmp_path / "tiny_cat.jpg"
    Image.open(cat_path).convert("RGB").resize((64, 48)).save(path, quality=90)
    return path.read_bytes()


class Dribbler:
    """A client that sends a multipart head declaring DECLARED bytes, then one byte every
    `every` seconds, until closed."""

    def __init__(self, port: int, every: float = 1.0) -> None:
        self.sock = socket.create_connection(("127.0.0.1", port), timeout=30)
        head = (b"POST /v1/predict HTTP/1.1\r\nHost: 127.0.0.1\r\n"
                b"Content-Type: multipart/form-data; boundary=xyz\r\n"
                b"Content-Length: " + str(DECLARED).encode() + b"\r\n\r\n"
                b'--xyz\r\nContent-Disposition: form-data; name="image"; filename="a.jpg"\r\n\r\n')
        self.sock.sendall(head)
        self.stop = threading.Event()
        self.thread = threading.Thread(target=self._drip, args=(every,), daemon=True)
        self.thread.start()

    def _drip(self, every: float) -> None:
        while not self.stop.wait(every):
            try:
                self.sock.sendall(b"\0")
            except OSError:
                return  # the server answered and closed

    def answer(self) -> bytes:
        """What the server sent back (blocks until it answers or closes)."""
        data = b""
        while b"\r\n\r\n" not in data or not data.rstrip().endswith(b"}"):
            chunk = self.sock.recv(65536)
            if not chunk:
                break
            data += chunk
        return data

    def close(self) -> None:
        self.stop.set()
        self.sock.close()
        self.thread.join()


def test_three_slow_uploads_do_not_hold_the_budget(tmp_path, tiny):
    temp = tmp_path / "tmp"
    temp.mkdir()
    # Room for two declared bodies and a half: before the fix the third slow upload was
    # refused and every other request got 503 storage_full.
    server = Server(tmp_path / "server.log", "--max-upload-mb", "20", "--max-disk-mb", "50",
                    env={"TMPDIR": str(temp)})
    dribblers: list[Dribbler] = []
    try:
        port = int(server.url.rsplit(":", 1)[1])
        dribblers = [Dribbler(port) for _ in range(3)]
        (root,) = _roots(temp)
        # All three are being received (each has its folder) when the normal request comes.
        end = time.monotonic() + 60
        while len([p for p in root.iterdir() if p.is_dir()]) < 3 and time.monotonic() < end:
            time.sleep(0.1)
        assert len([p for p in root.iterdir() if p.is_dir()]) == 3
        r = server.http.post("/v1/predict", files={"image": ("tiny.jpg", tiny, "image/jpeg")})
        assert r.status_code == 200, r.text
        assert r.json()["predictions"]
    finally:
        for d in dribblers:
            d.close()
        server.kill()


# -- uvicorn in a thread, with short timeouts --------------------------------------------


class ThreadServer:
    def __init__(self, model, **settings) -> None:
        app = create_app(ServeSettings(port=0, max_upload_mb=20, **settings), model)
        self.engine = app.state.engine
        self.server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=0, log_level="warning"))
        self.thread = threading.Thread(target=self.server.run, daemon=True)
        self.thread.start()
        end = time.monotonic() + 60
        while not self.server.started:
            assert time.monotonic() < end and self.thread.is_alive(), "uvicorn never started"
            time.sleep(0.05)
        self.port = self.server.servers[0].sockets[0].getsockname()[1]

    def job_folders(self) -> list[Path]:
        assert self.engine.root is not None
        return [p for p in self.engine.root.iterdir() if p.is_dir()]

    def close(self) -> None:
        self.server.should_exit = True
        self.thread.join(timeout=60)


@pytest.fixture
def short_timeouts(monkeypatch):
    monkeypatch.setattr(uploads, "BODY_IDLE_S", 1.0)
    monkeypatch.setattr(uploads, "BODY_GRACE_S", 1.0)


@pytest.fixture
def thread_server(model, short_timeouts):
    server = ThreadServer(model)
    try:
        yield server
    finally:
        server.close()


def _status_and_error(answer: bytes) -> tuple[int, str]:
    head, _, body = answer.partition(b"\r\n\r\n")
    return int(head.split()[1]), json.loads(body)["error"]


def test_a_stalled_body_gets_408_and_leaves_nothing(thread_server):
    client = Dribbler(thread_server.port, every=3600)  # the head, then nothing
    try:
        assert _status_and_error(client.answer()) == (408, "body_timeout")
    finally:
        client.close()
    assert thread_server.job_folders() == [] and thread_server.engine.budget.used == 0


def test_a_dribbled_body_gets_408_and_leaves_nothing(thread_server):
    client = Dribbler(thread_server.port, every=0.2)  # 5 bytes/s: never idle, far too slow
    try:
        assert _status_and_error(client.answer()) == (408, "body_timeout")
    finally:
        client.close()
    assert thread_server.job_folders() == [] and thread_server.engine.budget.used == 0
