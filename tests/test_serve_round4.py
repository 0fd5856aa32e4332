"""Issue 33 (round 4 of the fault sweep) over a real socket: `guiapp-cli serve` as a
uvicorn process on a free loopback port, as test_serve_process starts it.

A JPEG too short for the size its header claims is refused at upload (item 7); a job
cancelled while still queued loses its files at once (item 4); a robust job cancelled
while Deep Image Prior runs frees its worker, and a form lists DIP once at most (item 2).
"""

from __future__ import annotations

import time
from pathlib import Path

import pytest
from PIL import Image

pytest.importorskip("httpx")
pytest.importorskip("uvicorn")

from _imagefiles import jpeg_claiming  # noqa: E402
from test_serve_process import WORST, Server, _gradient_png, _roots, _wait_job  # noqa: E402

pytestmark = pytest.mark.slow


def _wait_for(condition, what: str, timeout: float = 120) -> None:
    """Poll until `condition()` holds; generous, as the machine may be busy (no timing bar)."""
    end = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > end:
            raise AssertionError(f"never: {what}")
        time.sleep(0.1)


def _job_folders(temp: Path) -> list[Path]:
    (root,) = _roots(temp)
    return sorted(p for p in root.iterdir() if p.is_dir())


@pytest.fixture(scope="module")
def served(tmp_path_factory):
    """One server for the module (its start costs a model load): (server, its TMPDIR, a
    1500x1500 PNG whose worst-case transfer job holds the only worker for minutes)."""
    base = tmp_path_factory.mktemp("round4")
    temp = base / "tmp"
    temp.mkdir()
    big = _gradient_png(base / "big.png", 1500, 1500)
    server = Server(base / "server.log", "--max-upload-mb", "5", "--max-queue", "2", env={"TMPDIR": str(temp)})
    try:
        yield server, temp, big
    finally:
        server.kill()


def _idle(http) -> bool:
    return http.get("/healthz").json()["queued_or_running"] == 0


def test_a_jpeg_shorter_than_its_header_is_refused_at_upload(served, cat_path):
    server, temp, _ = served
    lying = jpeg_claiming(Image.open(cat_path).resize((227, 227)), 7000, 7000)
    for endpoint, fields in (("/v1/predict", {}), ("/v1/jobs", {"target": "goldfish"})):
        r = server.http.post(endpoint, files={"image": ("lying.jpg", lying, "image/jpeg")}, data=fields)
        assert r.status_code == 400, r.text
        body = r.json()
        assert body["error"] == "bad_image" and "the JPEG is truncated: its header says 7000x7000" in body["message"]
    assert _idle(server.http) and _job_folders(temp) == []  # nothing queued, nothing kept


def test_a_job_cancelled_while_queued_loses_its_files_at_once(served):
    server, temp, big = served
    http = server.http
    files = {"image": ("big.png", big.read_bytes(), "image/png")}
    running = http.post("/v1/jobs", files=files, data=WORST).json()
    _wait_job(http, running["id"], ("running",))
    queued = http.post("/v1/jobs", files=files, data=WORST).json()
    assert http.get(f"/v1/jobs/{queued['id']}").json()["state"] == "queued"
    assert len(_job_folders(temp)) == 2  # both uploads are on disk
    assert http.delete(f"/v1/jobs/{queued['id']}").json()["state"] == "cancelled"
    # Before the fix the queued job's upload stayed until the TTL reaper (15 minutes).
    _wait_for(lambda: len(_job_folders(temp)) == 1, "the queued job's folder deleted")
    assert http.get(f"/v1/jobs/{running['id']}").json()["state"] == "running"  # the other is untouched
    http.delete(f"/v1/jobs/{running['id']}")
    _wait_for(lambda: _idle(http) and _job_folders(temp) == [], "the running job's files freed")


# Deep Image Prior at its most (5000 iterations: over 5 minutes on a CPU), checked on the
# model's view: the first step runs it on the clean view (the stand-in's first anchor).
DIP_JOB = {"target": "goldfish", "mode": "robust", "defences": "dip:iterations=5000", "levels": "view"}


def test_a_robust_job_cancelled_inside_deep_image_prior_frees_its_worker(served, tmp_path, cat_path):
    server, temp, _ = served
    http = server.http
    small = tmp_path / "small.jpg"
    Image.open(cat_path).convert("RGB").resize((64, 48)).save(small, quality=90)
    files = {"image": (small.name, small.read_bytes(), "image/jpeg")}
    job = http.post("/v1/jobs", files=files, data=DIP_JOB).json()
    assert job["state"] in ("queued", "running"), job
    _wait_job(http, job["id"], ("running",))
    time.sleep(2)  # into the first step, where DIP runs (a pause, not a timing bar)
    assert http.get(f"/v1/jobs/{job['id']}").json()["progress"] is None  # still inside step 1: DIP
    assert http.delete(f"/v1/jobs/{job['id']}").json()["state"] == "cancelled"
    # Before the fix DIP ran its 5000 iterations first (the worker stayed busy > 5 min).
    _wait_for(lambda: _idle(http) and _job_folders(temp) == [], "the worker free and the files deleted")


def test_a_form_lists_deep_image_prior_once_at_most(served, tmp_path, cat_path):
    server, temp, _ = served
    small = tmp_path / "small.jpg"
    Image.open(cat_path).convert("RGB").resize((64, 48)).save(small, quality=90)
    fields = {**DIP_JOB, "defences": ",".join(["dip:iterations=5000"] * 16)}
    r = server.http.post("/v1/jobs", files={"image": (small.name, small.read_bytes(), "image/jpeg")}, data=fields)
    assert r.status_code == 422 and r.json()["error"] == "bad_option", r.text
    assert "dip may be listed once" in r.json()["message"]
    assert _idle(server.http) and _job_folders(temp) == []
