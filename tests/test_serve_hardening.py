"""The HTTP server against an attacker and a careless client (issue 23), in process.

Who may talk (token on every path but /healthz, origin and host checks without one), what
a request may cost (memory at the size the model processes, installed models only,
bounded numbers, a closed multipart body), what the server keeps on disk (failed jobs
free their files at once, caps on jobs and bytes, orphaned temp roots removed at start),
and that a cancel or a timeout reaches the client at once even during a long step. The
same over a real socket, with signals, is in test_serve_process.py.
"""

from __future__ import annotations

import fcntl
import io
import os
import struct
import threading
import time
import warnings
from pathlib import Path
from types import SimpleNamespace

import pytest
from PIL import Image

pytest.importorskip("fastapi")
with warnings.catch_warnings():
    warnings.filterwarnings("ignore", message="Using `httpx` with `starlette.testclient`")
    from fastapi.testclient import TestClient

from guiapp.core import memory
from guiapp.core.errors import CentroidError
from guiapp.core.models import available_models, model_status
from guiapp.serve import ServeSettings
from guiapp.serve.app import create_app
from guiapp.serve.storage import tree_bytes

from _imagefiles import strip_png

SMALL = dict(max_upload_mb=1, max_pixels=2_000_000, max_steps=60, job_ttl_s=60)
ATTACK = {"target": "tiger cat", "steps": "6"}
LOCAL = "http://127.0.0.1:8000"


def make_client(model, **settings) -> TestClient:
    return TestClient(create_app(ServeSettings(**{**SMALL, **settings}), model), base_url=LOCAL)


@pytest.fixture(scope="module")
def tiny(tmp_path_factory, cat_path) -> bytes:
    buf = io.BytesIO()
    Image.open(cat_path).convert("RGB").resize((64, 48)).save(buf, "JPEG", quality=90)
    return buf.getvalue()


@pytest.fixture(scope="module")
def client(model):
    with make_client(model) as c:
        yield c


def image(data: bytes, name: str = "cat.jpg") -> dict:
    return {"image": (name, data, "image/jpeg")}


def assert_error(response, status: int, code: str) -> dict:
    assert response.status_code == status, response.text
    body = response.json()
    assert body["error"] == code and body["message"], body
    return body


def wait_state(c: TestClient, job_id: str, states: tuple[str, ...], timeout: float = 30) -> dict:
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        job = c.get(f"/v1/jobs/{job_id}").json()
        if job["state"] in states:
            return job
        time.sleep(0.02)
    raise AssertionError(f"job {job_id} never reached {states}: {job}")


def job_dirs(c: TestClient) -> list[Path]:
    return [p for p in c.app.state.engine.root.iterdir() if p.is_dir()]


def no_server_path(message: str) -> None:
    assert "/tmp" not in message and "/root" not in message and "/home" not in message, message
    assert "guiapp-serve" not in message and str(Path.home()) not in message, message


# -- item 11: with a token, everything but /healthz needs it ----------------------------


def test_token_guards_docs_and_schema(model):
    with make_client(model, token="s3cret-token") as c:
        for path in ("/docs", "/openapi.json", "/redoc", "/v1/models", "/v1/nothing"):
            assert_error(c.get(path), 401, "unauthorized")
        auth = {"Authorization": "Bearer s3cret-token"}
        assert c.get("/docs", headers=auth).status_code == 200
        assert "/v1/attack" in c.get("/openapi.json", headers=auth).json()["paths"]
        assert c.get("/healthz").status_code == 200
        # The token is the proof: no origin check on top of it.
        assert c.get("/v1/labels", headers={**auth, "Origin": "https://app.example"}).status_code == 200


# -- item 10: without a token, no other site and no other host name ---------------------


@pytest.mark.parametrize("headers,code", [
    ({"Origin": "http://evil.example"}, "forbidden_origin"),
    ({"Origin": "https://127.0.0.1.evil.example"}, "forbidden_origin"),
    ({"Origin": "null"}, "forbidden_origin"),  # sandboxed frames, file:// pages
    ({"Sec-Fetch-Site": "cross-site"}, "forbidden_origin"),
    ({"Host": "evil.example:8000"}, "forbidden_host"),  # DNS rebinding: the page's own name
    ({"Host": "192.168.1.5:8000"}, "forbidden_host"),
])
def test_cross_origin_form_post_is_refused(client, tiny, headers, code):
    # A form on another site can POST multipart to 127.0.0.1 without asking (no preflight).
    r = client.post("/v1/attack", files=image(tiny), data=ATTACK, headers=headers)
    assert_error(r, 403, code)
    assert client.get("/healthz").json()["queued_or_running"] == 0  # nothing was queued


@pytest.mark.parametrize("headers", [
    {"Origin": "http://localhost:3000"}, {"Origin": "http://127.0.0.1:8000"}, {"Origin": "http://[::1]:5173"},
    {"Host": "localhost:8000"}, {"Host": "[::1]:8000"}, {"Sec-Fetch-Site": "same-origin"}, {},
])
def test_local_programs_and_pages_pass(client, headers):
    assert client.get("/v1/labels", params={"q": "goldfish"}, headers=headers).status_code == 200


# -- item 5: a multipart body without its closing boundary -------------------------------


def test_multipart_without_closing_boundary_is_refused(client, tiny):
    def part(name: str, value: bytes, filename: str = "") -> bytes:
        disposition = f'form-data; name="{name}"' + (f'; filename="{filename}"' if filename else "")
        return f"--xyz\r\nContent-Disposition: {disposition}\r\n\r\n".encode() + value + b"\r\n"

    unclosed_eps = b'--xyz\r\nContent-Disposition: form-data; name="eps"\r\n\r\n4'
    body = part("image", tiny, "cat.jpg") + part("target", b"goldfish") + unclosed_eps
    headers = {"content-type": "multipart/form-data; boundary=xyz"}
    body_json = assert_error(client.post("/v1/attack", content=body, headers=headers), 400, "bad_form")
    assert "closing boundary" in body_json["message"]
    assert client.get("/healthz").json()["queued_or_running"] == 0 and not job_dirs(client)
    # The same body, closed: accepted, and its last field counts (eps=4).
    closed = body + b"\r\n--xyz--\r\n"
    r = client.post("/v1/attack?format=json", content=closed.replace(b"goldfish", b"tiger cat"), headers=headers)
    assert r.status_code == 200 and r.json()["report"]["config"]["eps"] == 4.0


# -- items 2 and 4: numbers out of bounds are 422 --------------------------------------------


@pytest.mark.parametrize("fields,fragment", [
    ({"seed": str(10**30)}, "seed must be in [0, 4294967295]"),
    ({"seed": str(2**63)}, "seed must be in [0, 4294967295], not 9223372036854775808"),
    ({"seed": "9" * 5000}, "seed must be in"),
    ({"mode": "transfer", "ti_kernel": "1000000"}, "ti_kernel must be in [0, 31]"),
    ({"mode": "transfer", "surrogates": ",".join(["efficientnet-lite0"] * 500)}, "given more than once"),
    ({"mode": "robust", "defences": "median:size=1000001"}, "[1, 15]"),
    ({"mode": "robust", "defences": "rescale:factor=1e9"}, "factor must be in"),
    ({"mode": "robust", "defences": ",".join(f"jpeg:quality={q}" for q in range(1, 40))}, "at most 16"),
    ({"eps": "1e309"}, "a number"),
])
def test_out_of_bounds_numbers_are_422(client, tiny, fields, fragment):
    body = assert_error(client.post("/v1/attack", files=image(tiny), data={"target": "goldfish", **fields}), 422,
                        "bad_option")
    assert fragment in body["message"] and len(body["message"]) <= 1000


# -- item 6: installed models only, and no server path in any message ---------------------


def test_only_installed_models_and_no_download(client, tiny, monkeypatch):
    missing = [n for n in available_models() if not model_status(n)[0]]
    if not missing:
        pytest.skip("every model is installed on this machine")

    def no_loading(*args, **kwargs):
        raise AssertionError("the server tried to load (or download) a model a client named")

    monkeypatch.setattr("guiapp.core.models._LOADERS", {})  # any load attempt would fail loudly
    monkeypatch.setattr("guiapp.core.attacks.transfer.load_model", no_loading)
    fields = {"target": "goldfish", "mode": "transfer", "surrogates": f"efficientnet-lite0,{missing[0]}"}
    for path in ("/v1/attack", "/v1/jobs"):
        body = assert_error(client.post(path, files=image(tiny), data=fields), 422, "model_unavailable")
        assert missing[0] in body["message"] and "efficientnet-lite0" in body["message"]
        no_server_path(body["message"])
    assert missing[0] not in client.get("/v1/models").json()["installed"]


def test_engine_errors_name_no_server_path(model, tiny, monkeypatch):
    def fails_with_a_path(path, *args, **kwargs):
        raise CentroidError(f"{Path(path).parent / 'centroids.npz'}: not a centroid file (see {Path.home()}/x)")

    monkeypatch.setattr("guiapp.serve.engine.attack_file", fails_with_a_path)
    with make_client(model) as c:
        job = c.post("/v1/jobs", files=image(tiny), data=ATTACK).json()
        failed = wait_state(c, job["id"], ("failed",))
        assert failed["error"]["message"] == "<server path>: not a centroid file (see <server path>)"
        body = assert_error(c.post("/v1/attack", files=image(tiny), data=ATTACK), 422, "bad_request")
        no_server_path(body["message"])


# -- item 1: memory at the size the model processes, refused from the header --------------


@pytest.mark.parametrize("path", ["/v1/predict", "/v1/attack"])
def test_a_thin_strip_is_refused_before_decoding(client, path, monkeypatch):
    from PIL import ImageFile

    monkeypatch.setattr(memory, "_meminfo_available", lambda: 512 * memory.MIB)
    monkeypatch.setattr(ImageFile.ImageFile, "load", lambda self: pytest.fail("decoded the strip"))
    strip = strip_png(60000, 32)  # 1.9 MP under this server's 2 MP limit, but 123 MP as the model sees it
    r = client.post(path, files={"image": ("strip.png", strip, "image/png")}, data={"target": "goldfish"})
    body = assert_error(r, 413, "too_large_for_memory")
    assert "60000x32" in body["message"] and "crop it" in body["message"]
    assert client.get("/healthz").json()["queued_or_running"] == 0 and not job_dirs(client)
    assert client.app.state.engine.budget.used == 0


# -- item 3: what the server keeps on disk ------------------------------------------------


def corrupt_png(size: int) -> bytes:
    """A PNG whose header is fine (so it is queued) and whose pixels are junk."""
    buf = io.BytesIO()
    Image.new("RGB", (64, 64)).save(buf, "PNG")
    head = buf.getvalue()[:33]  # signature + IHDR
    return head + struct.pack(">I", size) + b"IDAT" + os.urandom(size) + b"\0\0\0\0"


def test_failed_jobs_free_their_files_at_once(model):
    with make_client(model, max_queue=20) as c:
        ids = [c.post("/v1/jobs", files=image(corrupt_png(200_000), "junk.png"), data=ATTACK).json()["id"]
               for _ in range(10)]
        for job_id in ids:
            job = wait_state(c, job_id, ("failed",))
            assert job["error"]["error"] == "bad_image"
        assert not job_dirs(c) and tree_bytes(c.app.state.engine.root) == 0
        assert c.app.state.engine.budget.used == 0
        assert c.get(f"/v1/jobs/{ids[0]}").json()["state"] == "failed"  # the record (and its error) stays


def test_the_byte_budget_refuses_uploads_when_full(model, tiny):
    with make_client(model, max_disk_mb=1) as c:
        budget = c.app.state.engine.budget
        assert budget.try_reserve(budget.limit - 1000)  # as if other uploads were arriving
        assert_error(c.post("/v1/jobs", files=image(tiny), data=ATTACK), 503, "storage_full")
        assert int(c.post("/v1/predict", files=image(tiny)).headers["retry-after"]) > 0
        budget.release(budget.limit - 1000)
        assert c.post("/v1/predict", files=image(tiny)).status_code == 200
        assert budget.used == 0 and not job_dirs(c)


def test_oldest_finished_jobs_make_room(model, tiny):
    with make_client(model, max_jobs=3, max_queue=1) as c:
        ids = []
        for _ in range(4):
            ids.append(c.post("/v1/jobs", files=image(tiny), data={**ATTACK, "steps": "1"}).json()["id"])
            wait_state(c, ids[-1], ("done",))
        assert_error(c.get(f"/v1/jobs/{ids[0]}"), 404, "unknown_job")
        assert len(job_dirs(c)) == 3 and all(c.get(f"/v1/jobs/{i}").json()["state"] == "done" for i in ids[1:])
        png_bytes = sum(tree_bytes(d) for d in job_dirs(c))
        assert c.app.state.engine.budget.used == png_bytes  # the PNGs, not the uploads


def test_orphaned_temp_roots_are_removed_at_start(model, tmp_path, monkeypatch):
    import tempfile

    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path))
    dead, live, legacy_old, legacy_new = (tmp_path / f"guiapp-serve-{n}" for n in ("dead", "live", "old", "new"))
    for root in (dead, live, legacy_old, legacy_new):
        (root / "job").mkdir(parents=True)
        (root / "job" / "upload").write_bytes(b"x" * 1000)
    (dead / ".lock").touch()  # its server was killed: nobody holds the lock
    (live / ".lock").touch()
    holder = os.open(live / ".lock", os.O_RDWR)
    fcntl.flock(holder, fcntl.LOCK_EX)  # a running server
    two_days_ago = time.time() - 2 * 86400
    for p in (legacy_old, legacy_old / "job"):
        os.utime(p, (two_days_ago, two_days_ago))
    try:
        with make_client(model) as c:
            root = c.app.state.engine.root
            assert root.parent == tmp_path and (root / ".lock").exists()
            assert not dead.exists() and not legacy_old.exists()
            assert live.exists() and legacy_new.exists()
        assert not root.exists()  # a clean stop removes its own root
    finally:
        os.close(holder)


# -- item 2: a cancel or a timeout reaches the client at once, whatever the step ---------


class _LongStep:
    """attack_file stand-in whose one step takes `seconds` and cannot be interrupted."""

    def __init__(self, seconds: float) -> None:
        self.seconds, self.entered, self.left = seconds, threading.Event(), threading.Event()

    def __call__(self, upload, target, output, *, attack_hook, **kwargs):
        run = SimpleNamespace(cancel=lambda: None)
        attack_hook(run)
        self.entered.set()
        time.sleep(self.seconds)
        self.left.set()
        return SimpleNamespace(cancelled=True, output=None)


def test_cancel_and_timeout_do_not_wait_for_the_step(model, tiny, monkeypatch):
    step = _LongStep(4.0)
    monkeypatch.setattr("guiapp.serve.engine.attack_file", step)
    with make_client(model, attack_timeout_s=1.0, max_queue=2) as c:
        job_id = c.post("/v1/jobs", files=image(tiny), data=ATTACK).json()["id"]
        assert step.entered.wait(10)
        assert c.delete(f"/v1/jobs/{job_id}").json()["state"] == "cancelled"
        assert not step.left.is_set()  # answered while the step still runs: it did not wait for it
        assert step.left.wait(10)
        time.sleep(0.1)
        assert not job_dirs(c) and c.app.state.engine.budget.used == 0  # freed when the step ended

        step.entered.clear()
        step.left.clear()
        r = c.post("/v1/attack", files=image(tiny), data=ATTACK)
        assert_error(r, 503, "timeout")
        assert not step.left.is_set()  # the step is still running: the timeout did not wait for it


def test_a_refused_job_releases_its_bytes_once(model, tiny, monkeypatch):
    """The queue fills between the capacity check and the submit (another client was
    faster): the refused upload gives its bytes back once, not twice."""
    from guiapp.serve.pool import QueueFull

    with make_client(model) as c:
        engine = c.app.state.engine
        assert engine.budget.try_reserve(1000)  # another upload arriving meanwhile

        def full(fn):
            raise QueueFull(3)

        monkeypatch.setattr(engine.attacks, "submit", full)
        assert_error(c.post("/v1/jobs", files=image(tiny), data=ATTACK), 429, "queue_full")
        assert engine.budget.used == 1000 and len(engine.jobs) == 0 and not job_dirs(c)
        engine.budget.release(1000)


def test_a_cancel_stops_a_real_job_inside_its_step(model, tiny, monkeypatch):
    """Issue 33: a cancelled transfer job stops at the next stop point inside its work (here
    while its perceptual budget is calibrated), not after the step and the figures, which
    may take half a minute on a large image: nothing measures the result nobody will read."""
    import guiapp.core.metrics as metrics
    import guiapp.core.perceptual_budget as pb

    calibrate, measured = pb.luma_calibrate, []
    ssim = metrics.ssim
    monkeypatch.setattr(metrics, "ssim", lambda *a: measured.append(1) or ssim(*a))
    with make_client(model, max_queue=2) as c:
        jobs = c.app.state.engine.jobs

        def cancelling(*args, **kwargs):
            for job in list(jobs._jobs.values()):
                job.cancel()  # as DELETE does, from inside the calibration's first probe
            return calibrate(*args, **kwargs)

        monkeypatch.setattr(pb, "luma_calibrate", cancelling)
        fields = {"target": "goldfish", "mode": "transfer", "surrogates": "efficientnet-lite0", "iterations": "5"}
        posted = c.post("/v1/jobs", files=image(tiny), data=fields)
        assert posted.status_code == 202, posted.text
        assert wait_state(c, posted.json()["id"], ("cancelled",))["state"] == "cancelled"
        end = time.monotonic() + 30
        while c.get("/healthz").json()["queued_or_running"] and time.monotonic() < end:
            time.sleep(0.05)
        assert c.get("/healthz").json()["queued_or_running"] == 0
        assert measured == []  # the figures (SSIM...) of the cancelled result were never computed
        assert not job_dirs(c) and c.app.state.engine.budget.used == 0
