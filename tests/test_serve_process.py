"""`guiapp-cli serve` as a real uvicorn process on a free loopback port: start, attack,
bad inputs over a real socket, and a clean exit on SIGTERM / SIGINT; issue 23 over a real
socket: cancel and SIGTERM during a long step, orphaned temp roots after `kill -9`,
cross-origin and rebinding requests, the token on /docs."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import numpy as np
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
    assert cli_main(["attack", str(tiny), "-t", "tiger cat", "--steps", "6", "-o", str(cli_out),
                     "--device", "cpu", "-q"]) == 0
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
        code = server.stop(signal.SIGTERM)
        caller.join(timeout=60)
        assert code == 0, server.log.read_text()
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
        for path in ("/docs", "/openapi.json"):  # only /healthz is open
            assert server.http.get(path).status_code == 401
        assert server.http.get("/healthz").status_code == 200
        ok = server.http.get("/v1/models", headers={"Authorization": "Bearer from-the-env"})
        assert ok.status_code == 200 and ok.json()["models"][0]["name"] == "efficientnet-lite0"
        assert server.stop(signal.SIGINT) == 0, server.log.read_text()
        assert "guiapp server stopped" in server.log.read_text()
    finally:
        server.kill()


def _gradient_png(path: Path, width: int, height: int) -> Path:
    """A smooth image: kilobytes as a PNG, whatever its size."""
    x = np.linspace(0, 255, width, dtype=np.float32)[None, :, None]
    y = np.linspace(0, 255, height, dtype=np.float32)[:, None, None]
    Image.fromarray(np.concatenate([x + 0 * y, y + 0 * x, (x + y) / 2], axis=2).astype(np.uint8)).save(path)
    return path


def _roots(tmp: Path) -> list[Path]:
    return sorted(tmp.glob("guiapp-serve-*"))


def _wait_job(http, job_id: str, states: tuple[str, ...], timeout: float = 120) -> dict:
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        job = http.get(f"/v1/jobs/{job_id}").json()
        if job["state"] in states:
            return job
        time.sleep(0.05)
    raise AssertionError(f"job never {states}: {job}")


# The worst a client may ask of one step, on a 1500x1500 image: transfer's gradient
# smoothing at the largest kernel (31 model pixels = 183 image pixels here), every DI and
# centroid-mixup switch at its maximum. One iteration takes seconds on a CPU.
WORST = {"target": "goldfish", "mode": "transfer", "surrogates": "efficientnet-lite0", "ti_kernel": "31",
         "iterations": "1000", "diversity": "1", "di_scale": "2", "momentum": "10", "centroids": "none"}


@pytest.mark.slow
def test_cancel_and_sigterm_do_not_wait_for_a_long_step(tmp_path):
    temp = tmp_path / "tmp"
    temp.mkdir()
    big = _gradient_png(tmp_path / "big.png", 1500, 1500)
    server = Server(tmp_path / "server.log", "--max-upload-mb", "5", env={"TMPDIR": str(temp)})
    try:
        http = server.http
        files = {"image": ("big.png", big.read_bytes(), "image/png")}
        job = http.post("/v1/jobs", files=files, data=WORST).json()
        _wait_job(http, job["id"], ("running",))
        time.sleep(1.0)  # inside the first iteration
        assert http.delete(f"/v1/jobs/{job['id']}").json()["state"] == "cancelled"
        assert _wait_job(http, job["id"], ("cancelled",))["state"] == "cancelled"
        end = time.monotonic() + 120
        while http.get("/healthz").json()["queued_or_running"] and time.monotonic() < end:
            time.sleep(0.1)  # the worker finishes its step, then frees its slot and the files
        assert [p for p in _roots(temp)[0].iterdir() if p.is_dir()] == []

        job = http.post("/v1/jobs", files=files, data=WORST).json()
        _wait_job(http, job["id"], ("running",))
        time.sleep(1.0)
        assert server.stop(signal.SIGTERM) == 0, server.log.read_text()  # seconds: bench/hardening.py
        assert "guiapp server stopped" in server.log.read_text() and "Traceback" not in server.log.read_text()
        assert _roots(temp) == []  # the temp root went with it
    finally:
        server.kill()


@pytest.mark.slow
def test_kill9_leaves_a_root_the_next_server_removes(tmp_path, tiny):
    temp = tmp_path / "tmp"
    temp.mkdir()
    first = Server(tmp_path / "first.log", env={"TMPDIR": str(temp)})
    try:
        job = first.http.post("/v1/jobs", files={"image": (tiny.name, tiny.read_bytes(), "image/jpeg")},
                              data={"target": "goldfish", "steps": "2"}).json()
        _wait_job(first.http, job["id"], ("done",))
        (orphan,) = _roots(temp)
        first.proc.kill()  # kill -9: no cleanup
        first.proc.wait()
        assert orphan.exists() and any(orphan.rglob("*.png"))
    finally:
        first.kill()
    second = Server(tmp_path / "second.log", env={"TMPDIR": str(temp)})
    try:
        assert not orphan.exists() and len(_roots(temp)) == 1
        assert second.stop(signal.SIGTERM) == 0
        assert _roots(temp) == []
    finally:
        second.kill()


@pytest.mark.slow
def test_other_sites_and_names_are_refused_over_a_socket(tmp_path, tiny):
    server = Server(tmp_path / "server.log", env={"TMPDIR": str(tmp_path)})
    try:
        files = {"image": (tiny.name, tiny.read_bytes(), "image/jpeg")}
        form = {"target": "goldfish", "steps": "2"}
        r = server.http.post("/v1/attack", files=files, data=form, headers={"Origin": "http://evil.example"})
        assert r.status_code == 403 and r.json()["error"] == "forbidden_origin"
        r = server.http.post("/v1/attack", files=files, data=form, headers={"Host": "evil.example"})
        assert r.status_code == 403 and r.json()["error"] == "forbidden_host"
        r = server.http.post("/v1/attack", files=files, data=form, headers={"Origin": server.url})
        assert r.status_code == 200
        r = server.http.post("/v1/attack", files=files, data={**form, "seed": str(10**30)})
        assert r.status_code == 422 and "seed must be in [0, 4294967295]" in r.json()["message"]
        assert server.stop(signal.SIGTERM) == 0 and _roots(tmp_path) == []
    finally:
        server.kill()
