"""`guiapp-cli serve` as a real uvicorn process on a free loopback port: start, attack,
bad inputs over a real socket, and a clean exit on SIGTERM / SIGINT."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest
import torch
from PIL import Image

httpx = pytest.importorskip("httpx")
pytest.importorskip("uvicorn")

from guiapp.cli import main as cli_main  # noqa: E402

START_TIMEOUT_S = 120  # torch import + model load on a busy 2-core machine


def cli_command() -> list[str]:
    script = Path(sys.executable).with_name("guiapp-cli")
    return [str(script)] if script.is_file() else [sys.executable, "-m", "guiapp.cli"]


class Server:
    def __init__(self, log: Path, *args: str, env: dict[str, str] | None = None) -> None:
        self.log = log
        environ = {k: v for k, v in os.environ.items() if k != "GUIAPP_SERVE_TOKEN"} | (env or {})
        # CPU results depend on torch's thread count (reduction order): give the server the
        # count this process (conftest) uses, so its PNG can be compared byte for byte.
        environ["OMP_NUM_THREADS"] = str(torch.get_num_threads())
        # Output to a file, not a pipe: uvicorn logs every request to stdout, and a pipe
        # nobody reads fills up and blocks the server.
        with log.open("w") as out:  # the child keeps its own copy of the descriptor
            self.proc = subprocess.Popen(
                [*cli_command(), "serve", "--port", "0", "--device", "cpu", "--max-upload-mb", "1", *args],
                stdout=out, stderr=subprocess.STDOUT, text=True, env=environ,
            )
        self.http = httpx.Client(timeout=60)
        try:
            self.url = self._wait_healthy()
            self.http.base_url = self.url
        except BaseException:
            self.kill()
            raise

    def _wait_healthy(self) -> str:
        """The address the server prints (it chose a free port), once it answers there."""
        end = time.monotonic() + START_TIMEOUT_S
        while time.monotonic() < end and self.proc.poll() is None:
            found = re.search(r"guiapp server on (http://127\.0\.0\.1:\d+) ", self.log.read_text())
            if found:
                try:
                    if httpx.get(f"{found.group(1)}/healthz", timeout=5).status_code == 200:
                        return found.group(1)
                except httpx.TransportError:
                    pass
            time.sleep(0.2)
        raise AssertionError(f"never healthy: {self.log.read_text()}")

    def stop(self, sig: int) -> int:
        self.proc.send_signal(sig)
        return self.proc.wait(timeout=60)

    def kill(self) -> None:
        """Always called (finally): no process or connection outlives the test."""
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()
        self.http.close()


@pytest.fixture
def tiny(tmp_path, cat_path) -> Path:
    path = tmp_path / "tiny_cat.jpg"
    Image.open(cat_path).convert("RGB").resize((64, 48)).save(path, quality=90)
    return path


@pytest.mark.slow
def test_real_server_attack_errors_and_sigterm(tmp_path, tiny):
    cli_out = tmp_path / "cli.png"
    assert cli_main(["attack", str(tiny), "-t", "tiger cat", "--steps", "6", "-o", str(cli_out), "--device", "cpu", "-q"]) == 0
    server = Server(tmp_path / "server.log", "--max-queue", "2")
    try:
        http = server.http
        files = {"image": (tiny.name, tiny.read_bytes(), "image/jpeg")}
        r = http.post("/v1/attack", files=files, data={"target": "tiger cat", "steps": "6"})
        assert r.status_code == 200 and r.headers["x-guiapp-success"] == "true"
        assert r.content == cli_out.read_bytes()  # another process, the same bytes

        r = http.post("/v1/attack", files={"image": ("x.jpg", b"not an image")}, data={"target": "goldfish"})
        assert r.status_code == 415 and r.json()["error"] == "not_an_image"
        r = http.post("/v1/attack", files={"image": ("x.jpg", os.urandom(2 << 20))}, data={"target": "goldfish"})
        assert r.status_code == 413 and r.json()["error"] == "too_large"
        r = http.post("/v1/attack", files=files, data={"target": "crane"})
        assert r.status_code == 422 and len(r.json()["candidates"]) >= 2
        assert http.get("/healthz").json()["queued_or_running"] == 0

        # A client that hangs up mid-attack: the server notices and cancels the attack, so
        # the worker is free again long before its 1000 steps would be done.
        long_fields = {"target": "goldfish", "eps": "0.5", "steps": "1000"}
        with pytest.raises(httpx.ReadTimeout):
            http.post("/v1/attack", files=files, data=long_fields, timeout=3)
        end = time.monotonic() + 30
        while http.get("/healthz").json()["queued_or_running"] and time.monotonic() < end:
            time.sleep(0.2)
        assert http.get("/healthz").json()["queued_or_running"] == 0

        # A long attack in flight when the stop signal comes: it is cancelled within a
        # step, its client gets an answer, and the process exits 0.
        answers: list[httpx.Response] = []
        caller = threading.Thread(target=lambda: answers.append(http.post("/v1/attack", files=files, data=long_fields)))
        caller.start()
        end = time.monotonic() + 60
        while http.get("/healthz").json()["queued_or_running"] == 0 and time.monotonic() < end:
            time.sleep(0.1)
        started = time.monotonic()
        code = server.stop(signal.SIGTERM)
        caller.join(timeout=60)
        assert code == 0, server.log.read_text()
        assert time.monotonic() - started < 30
        assert answers and answers[0].status_code == 503 and answers[0].json()["error"] == "cancelled"
        log = server.log.read_text()
        assert "guiapp server stopped" in log and "Traceback" not in log
    finally:
        server.kill()


@pytest.mark.slow
def test_real_server_token_and_sigint(tmp_path):
    server = Server(tmp_path / "server.log", env={"GUIAPP_SERVE_TOKEN": "from-the-env"})
    try:
        assert server.http.get("/v1/models").status_code == 401
        ok = server.http.get("/v1/models", headers={"Authorization": "Bearer from-the-env"})
        assert ok.status_code == 200 and ok.json()["models"][0]["name"] == "efficientnet-lite0"
        assert server.stop(signal.SIGINT) == 0, server.log.read_text()
        assert "guiapp server stopped" in server.log.read_text()
    finally:
        server.kill()
