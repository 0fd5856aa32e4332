"""The HTTP API through FastAPI's TestClient: every endpoint and every error status.

Attacks use a 64x48 image and a handful of steps so the whole file takes seconds.
The real-process test (uvicorn on a loopback port, signals) is in test_serve_process.py.
"""

from __future__ import annotations

import base64
import io
import json
import re
import time
import warnings
from pathlib import Path

import pytest
from PIL import Image

pytest.importorskip("fastapi")
with warnings.catch_warnings():
    # Starlette 1.x would rather drive TestClient with httpx2, whose idna>=3.18 conflicts
    # with the [bench] extra's pinned requests; httpx still works and is what we ship.
    warnings.filterwarnings("ignore", message="Using `httpx` with `starlette.testclient`")
    from fastapi.testclient import TestClient

from guiapp.cli import main as cli_main
from guiapp.core.png_output import read_png_metadata
from guiapp.core.predict import classify_pil
from guiapp.serve import ServeSettings
from guiapp.serve.app import create_app
from guiapp.serve.uploads import safe_name

SMALL = dict(max_upload_mb=1, max_pixels=2_000_000, max_steps=60, job_ttl_s=60)
ATTACK = {"target": "tiger cat", "steps": "6"}  # reached in a few steps from the tabby sample


@pytest.fixture(scope="module")
def tiny(tmp_path_factory, cat_path) -> Path:
    """A 64x48 JPEG of the cat, under a plain name (the name goes into the PNG metadata)."""
    path = tmp_path_factory.mktemp("upload") / "tiny_cat.jpg"
    Image.open(cat_path).convert("RGB").resize((64, 48)).save(path, quality=90)
    return path


@pytest.fixture(scope="module")
def cli_png(tiny, tmp_path_factory) -> bytes:
    """What `guiapp-cli attack` writes for the same input, target, options and seed."""
    out = tmp_path_factory.mktemp("cli") / "out.png"
    cli_main(["attack", str(tiny), "-t", "tiger cat", "--steps", "6", "-o", str(out), "--device", "cpu", "-q"])
    return out.read_bytes()


def make_client(model, **settings) -> TestClient:
    # A server without a token answers localhost only (TestClient's default host is "testserver").
    return TestClient(create_app(ServeSettings(**{**SMALL, **settings}), model), base_url="http://127.0.0.1:8000")


@pytest.fixture(scope="module")
def client(model):
    with make_client(model) as c:
        yield c


def image_file(path: Path, name: str | None = None) -> dict:
    return {"image": (name or path.name, path.read_bytes(), "image/jpeg")}


def png_bytes(size: tuple[int, int], mode: str = "RGB") -> bytes:
    buf = io.BytesIO()
    Image.new(mode, size).save(buf, "PNG")
    return buf.getvalue()


def corrupt_png() -> bytes:
    noise = Image.effect_noise((64, 64), 64).convert("RGB")
    buf = io.BytesIO()
    noise.save(buf, "PNG")
    data = bytearray(buf.getvalue())
    for i in range(len(data) // 2, len(data) // 2 + 200):
        data[i] ^= 0x5A
    return bytes(data)


def wait_state(client: TestClient, job_id: str, states: tuple[str, ...], timeout: float = 60) -> dict:
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        job = client.get(f"/v1/jobs/{job_id}").json()
        if job["state"] in states:
            return job
        time.sleep(0.05)
    raise AssertionError(f"job {job_id} never reached {states}; last: {job}")


def assert_error(response, status: int, code: str | None = None) -> dict:
    assert response.status_code == status, response.text
    body = response.json()
    assert body["message"] and (code is None or body["error"] == code), body
    return body


# -- the happy paths -------------------------------------------------------------------


def test_attack_png_is_byte_identical_to_the_cli(client, tiny, cli_png, model):
    r = client.post("/v1/attack", files=image_file(tiny), data=ATTACK)
    assert r.status_code == 200 and r.headers["content-type"] == "image/png"
    assert r.content == cli_png
    report = json.loads(r.headers["x-guiapp-report"])
    assert r.headers["x-guiapp-success"] == "true" and report["success"]
    assert report["target_name"] == "tiger cat" and report["input"] == "tiny_cat.jpg" and 0 < report["steps"] <= 6
    assert report["model"] == model.name and report["psnr"] > 30 and "output" not in report
    assert 'filename="tiny_cat_adv_tiger_cat.png"' in r.headers["content-disposition"]
    # Success as decided on the 8-bit file: classify exactly the bytes the client got.
    probs = classify_pil(model, Image.open(io.BytesIO(r.content)).convert("RGB"))
    assert int(probs.argmax()) == report["final"] == report["target"]
    assert read_png_metadata(io.BytesIO(r.content))["source"] == "tiny_cat.jpg"


def test_a_photo_named_in_another_script_keeps_its_name(client, tiny):
    # A fault sweep: an upload named "ü名前.jpg" was recorded as "_.jpg" in the report and the
    # PNG, and its non-latin-1 name could not go into the Content-Disposition header.
    from urllib.parse import quote

    r = client.post("/v1/attack", files=image_file(tiny, "ü名前.jpg"), data=ATTACK)
    assert r.status_code == 200, r.text
    assert json.loads(r.headers["x-guiapp-report"])["input"] == "ü名前.jpg"
    assert read_png_metadata(io.BytesIO(r.content))["source"] == "ü名前.jpg"
    name = "ü名前_adv_tiger_cat.png"
    assert r.headers["content-disposition"] == (
        f"inline; filename=\"____adv_tiger_cat.png\"; filename*=UTF-8''{quote(name, safe='')}")


def test_attack_json_format(client, tiny, cli_png):
    r = client.post("/v1/attack?format=json", files=image_file(tiny), data=ATTACK)
    assert r.status_code == 200 and r.headers["content-type"] == "application/json"
    body = r.json()
    assert base64.b64decode(body["image_png_base64"]) == cli_png
    assert body["report"]["success"] and body["report"]["config"]["max_steps"] == 6
    assert body["report"]["mode"] == "default"


def test_options_reach_the_config(client, tiny):
    fields = {"target": "1", "mode": "robust", "eps": "4", "max-steps": "1", "refine_steps": "0", "seed": "3",
              "centroids": "none", "confidence": "", "model": "efficientnet-lite0"}  # the server's own: accepted
    r = client.post("/v1/attack?format=json", files=image_file(tiny), data=fields)
    report = r.json()["report"]
    assert r.status_code == 200 and report["target_name"] == "goldfish" and report["steps"] == 1
    assert report["mode"] == "robust"
    assert {k: report["config"][k] for k in ("eps", "max_steps", "refine_steps", "seed", "confidence")} == {
        "eps": 4.0, "max_steps": 1, "refine_steps": 0, "seed": 3, "confidence": 0.0}
    assert not report["success"] and not report["centroids"]  # one step at 4/255 cannot reach a goldfish


def test_transfer_mode_is_byte_identical_to_the_cli(client, tiny, tmp_path):
    fields = {"target": "tiger cat", "mode": "transfer", "iterations": "2", "surrogates": "efficientnet-lite0"}
    r = client.post("/v1/attack", files=image_file(tiny), data=fields)
    assert r.status_code == 200, r.text
    out = tmp_path / "transfer.png"
    cli_main(["attack", str(tiny), "-t", "tiger cat", "--mode", "transfer", "--iterations", "2",
              "--surrogates", "efficientnet-lite0", "-o", str(out), "--device", "cpu", "-q"])
    assert r.content == out.read_bytes()
    report = json.loads(r.headers["x-guiapp-report"])
    assert report["mode"] == "transfer" and report["config"]["iterations"] == 2 and report["steps"] <= 2


def test_transfer_presets_reach_the_config_as_in_the_cli(client, tiny, tmp_path):
    """`preset=loud` is the CLI's --preset loud (byte for byte); an option given explicitly wins."""
    fields = {"target": "tiger cat", "mode": "transfer", "preset": "loud", "iterations": "2",
              "surrogates": "efficientnet-lite0"}
    r = client.post("/v1/attack", files=image_file(tiny), data=fields)
    assert r.status_code == 200, r.text
    out = tmp_path / "loud.png"
    cli_main(["attack", str(tiny), "-t", "tiger cat", "--mode", "transfer", "--preset", "loud", "--iterations", "2",
              "--surrogates", "efficientnet-lite0", "-o", str(out), "--device", "cpu", "-q"])
    assert r.content == out.read_bytes()
    config = json.loads(r.headers["x-guiapp-report"])["config"]
    assert config["budget"] == "linf" and config["eps"] == 16 and config["p_full"] == 0 and config["iterations"] == 2
    r = client.post("/v1/attack?format=json", files=image_file(tiny), data={**fields, "preset": ""})
    assert r.status_code == 200 and r.json()["report"]["config"]["budget"] == "perceptual"  # empty: the default
    body = assert_error(client.post("/v1/attack", files=image_file(tiny), data={**fields, "preset": "shout"}),
                        422, "bad_option")
    assert "unknown preset 'shout'" in body["message"] and "quiet, loud" in body["message"]


def test_job_lifecycle(client, tiny, cli_png):
    r = client.post("/v1/jobs", files=image_file(tiny), data=ATTACK)
    assert r.status_code == 202 and r.json()["state"] in ("queued", "running")
    job_id = r.json()["id"]
    assert r.headers["location"] == f"/v1/jobs/{job_id}"
    job = wait_state(client, job_id, ("done", "failed", "cancelled"))
    assert job["state"] == "done", job
    assert job["progress"]["step"] == job["report"]["steps"] and job["progress"]["max_steps"] == 6
    assert 0 <= job["progress"]["target_conf"] <= 1 and job["expires_at"] > job["finished"]
    image = client.get(job["image_url"])
    assert image.status_code == 200 and image.content == cli_png
    assert client.delete(f"/v1/jobs/{job_id}").json()["state"] == "deleted"
    assert_error(client.get(f"/v1/jobs/{job_id}"), 404, "unknown_job")


def test_cancel_a_running_job(client, tiny):
    # A budget of 0.5/255 cannot reach the target: without the cancel it would run 60 steps.
    r = client.post("/v1/jobs", files=image_file(tiny), data={"target": "goldfish", "eps": "0.5", "steps": "60"})
    job_id = r.json()["id"]
    wait_state(client, job_id, ("running",))
    cancel = client.delete(f"/v1/jobs/{job_id}")
    assert cancel.status_code in (200, 202)
    job = wait_state(client, job_id, ("cancelled",), timeout=30)
    assert job["finished"] is not None and (job["progress"] is None or job["progress"]["step"] < 60)
    assert_error(client.get(f"/v1/jobs/{job_id}/image.png"), 409, "not_done")


def test_finished_jobs_expire(model, tiny):
    with make_client(model, job_ttl_s=0.5) as c:
        job_id = c.post("/v1/jobs", files=image_file(tiny), data={**ATTACK, "steps": "1"}).json()["id"]
        wait_state(c, job_id, ("done",))
        workdirs = [p for p in c.app.state.engine.root.iterdir() if p.is_dir()]
        assert len(workdirs) == 1 and [p.name for p in workdirs[0].iterdir()] == ["adversarial.png"]  # upload gone
        time.sleep(0.6)
        assert_error(c.get(f"/v1/jobs/{job_id}"), 404, "unknown_job")
        assert not workdirs[0].exists()  # the upload and the PNG are gone too


def test_predict(client, tiny):
    r = client.post("/v1/predict?k=3", files=image_file(tiny, "a/b/../photo.jpg"))
    body = r.json()
    assert r.status_code == 200 and body["input"] == "photo.jpg" and len(body["predictions"]) == 3
    assert body["predictions"][0]["name"] in ("tabby", "tiger cat", "Egyptian cat")
    assert body["predictions"][0]["confidence"] >= body["predictions"][1]["confidence"]


def test_labels_health_models_docs(client, model):
    cranes = client.get("/v1/labels", params={"q": "crane"}).json()
    assert [c["name"] for c in cranes["labels"][:2]] == ["crane (bird)", "crane (machine)"]
    assert client.get("/v1/labels", params={"q": "golfish"}).json()["labels"][0]["name"] == "goldfish"
    everything = client.get("/v1/labels", params={"limit": 5}).json()
    assert everything["count"] == 1000 and len(everything["labels"]) == 5
    health = client.get("/healthz").json()
    assert health["status"] == "ok" and health["model"] == model.name
    models = client.get("/v1/models").json()
    assert models["models"][0]["name"] == model.name and "transfer" in models["modes"]
    # This server allows no victims: its query mode is off, and the list says so.
    assert "query" not in models["modes"] and models["victims"] == []
    assert models["max_upload_mb"] == 1
    docs = client.get("/docs")
    assert docs.status_code == 200 and "cdn." not in docs.text  # works offline
    scripts = re.findall(r'src="([^"]+\.js)"', docs.text)
    assert scripts and all(client.get(src).status_code == 200 for src in scripts)
    spec = client.get("/openapi.json").json()
    form = spec["paths"]["/v1/attack"]["post"]["requestBody"]["content"]["multipart/form-data"]["schema"]
    assert {"image", "target", "mode", "eps", "steps", "iterations"} <= set(form["properties"])
    assert {"/v1/jobs", "/v1/jobs/{job_id}", "/v1/jobs/{job_id}/image.png", "/v1/predict", "/v1/labels",
            "/v1/models", "/healthz"} <= set(spec["paths"])


# -- bad input: the right status, a JSON error, never a 500 ------------------------------


@pytest.mark.parametrize(
    ("files", "status", "code"),
    [
        ({"image": ("x.jpg", b"hello, not an image", "image/jpeg")}, 415, "not_an_image"),
        ({"image": ("x.png", b"\x89PNG\r\n\x1a\n" + b"\0" * 40, "image/png")}, 415, "not_an_image"),
        ({"image": ("x.png", corrupt_png(), "image/png")}, 400, "bad_image"),  # header fine, pixels not
        ({"image": ("x.jpg", b"", "image/jpeg")}, 400, "bad_image"),
        ({"image": ("tiny.png", png_bytes((16, 16)), "image/png")}, 400, "bad_image"),
        # 2000x1500 = 3 MP in a ~10 kB file: refused from the header, never decoded.
        ({"image": ("bomb.png", png_bytes((2000, 1500), "1"), "image/png")}, 413, "too_many_pixels"),
        ({"image": ("big.jpg", b"\xff" * (1 << 20), "image/jpeg")}, 413, "too_large"),
        ({"file": ("x.jpg", b"abc", "image/jpeg")}, 400, "bad_form"),
        ({}, 422, "missing_field"),
    ],
)
def test_bad_uploads(client, files, status, code):
    r = client.post("/v1/attack", files=files or {"unused": (None, "x")}, data={"target": "goldfish"})
    assert_error(r, status, code)


def test_truncated_image_is_a_400_from_the_worker(client, tiny):
    data = tiny.read_bytes()
    r = client.post("/v1/attack", files={"image": ("t.jpg", data[: len(data) // 2], "image/jpeg")}, data=ATTACK)
    body = assert_error(r, 400, "bad_image")
    assert "guiapp-serve" not in body["message"] and "upload" not in body["message"]  # no server path


def test_body_limit_is_enforced_while_streaming(client):
    """No Content-Length (chunked): the limit must hold while the bytes arrive."""

    def body():
        yield b'--xyz\r\nContent-Disposition: form-data; name="image"; filename="a.jpg"\r\n\r\n'
        for _ in range(40):  # 2.5 MiB against a 1 MiB limit
            yield b"\0" * 65536
        yield b"\r\n--xyz--\r\n"

    r = client.post("/v1/attack", content=body(), headers={"content-type": "multipart/form-data; boundary=xyz"})
    assert_error(r, 413, "too_large")


@pytest.mark.parametrize(
    ("fields", "code", "fragment"),
    [
        ({"target": "crane"}, "bad_label", "ambiguous"),
        ({"target": "goldfsh"}, "bad_label", "unknown"),
        ({"target": "1000"}, "bad_label", "out of range"),
        ({}, "missing_field", "target"),
        ({"target": "goldfish", "eps": "-3"}, "bad_option", "eps"),
        ({"target": "goldfish", "eps": "abc"}, "bad_option", "a number"),
        ({"target": "goldfish", "eps": "nan"}, "bad_option", "a number"),
        ({"target": "goldfish", "bogus": "1"}, "bad_option", "bogus"),
        ({"target": "goldfish", "mode": "fast"}, "bad_option", "mode"),
        ({"target": "goldfish", "iterations": "5"}, "bad_option", "iterations"),  # a transfer option
        ({"target": "goldfish", "mode": "transfer", "steps": "5"}, "bad_option", "max_steps"),  # as the CLI
        ({"target": "goldfish", "steps": "61"}, "bad_option", "limit of 60"),
        ({"target": "goldfish", "centroids": "/etc/passwd"}, "bad_option", "centroids"),
        # the model is the server's (a fault sweep got "option model not available in default mode")
        ({"target": "goldfish", "model": "efficientnet-lite2"}, "bad_option", "this server attacks efficientnet-lite0"),
    ],
)
def test_bad_fields_are_422(client, tiny, fields, code, fragment):
    body = assert_error(client.post("/v1/attack", files=image_file(tiny), data=fields), 422, code)
    assert fragment in body["message"]


def test_an_attack_too_big_for_memory_is_413(client, tiny, monkeypatch):
    from guiapp.core import fits
    from guiapp.core.errors import MemoryLimitError

    def no_room(*args, **kwargs):
        raise MemoryLimitError("needs about 9.0 GiB of RAM, but only 1.0 GiB is available")

    monkeypatch.setattr(fits, "check_memory", no_room)
    body = assert_error(client.post("/v1/attack", files=image_file(tiny), data=ATTACK), 413, "too_large_for_memory")
    assert "9.0 GiB" in body["message"]


def test_label_errors_list_candidates(client, tiny):
    ambiguous = client.post("/v1/attack", files=image_file(tiny), data={"target": "crane"}).json()
    assert {c["index"] for c in ambiguous["candidates"][:2]} == {134, 517}
    unknown = client.post("/v1/jobs", files=image_file(tiny), data={"target": "goldfsh"}).json()
    assert unknown["candidates"][0]["name"] == "goldfish" and unknown["candidates"][0]["wnid"] == "n01443537"


def test_other_request_errors(client, tiny):
    assert_error(client.post("/v1/attack", json={"image": "x", "target": "goldfish"}), 415, "unsupported_media_type")
    assert_error(client.post("/v1/attack?format=xml", files=image_file(tiny), data=ATTACK), 422, "bad_request")
    assert_error(client.post("/v1/predict?k=0", files=image_file(tiny)), 422, "bad_request")
    assert_error(client.get("/v1/jobs/nope"), 404, "unknown_job")
    assert_error(client.get("/v1/jobs/nope/image.png"), 404, "unknown_job")
    assert_error(client.delete("/v1/jobs/nope"), 404, "unknown_job")
    assert_error(client.get("/v1/nothing"), 404, "not_found")
    assert_error(client.get("/v1/attack"), 405, "method_not_allowed")
    # Two files in one request.
    files = [("image", ("a.jpg", tiny.read_bytes(), "image/jpeg")),
             ("image", ("b.jpg", tiny.read_bytes(), "image/jpeg"))]
    assert_error(client.post("/v1/attack", files=files, data=ATTACK), 400, "bad_form")


def test_queue_full_is_429_with_retry_after(model, tiny):
    with make_client(model, workers=1, max_queue=0) as c:
        slow = c.post("/v1/jobs", files=image_file(tiny), data={"target": "goldfish", "eps": "0.5", "steps": "60"})
        assert slow.status_code == 202
        for path in ("/v1/jobs", "/v1/attack"):
            body = assert_error(c.post(path, files=image_file(tiny), data=ATTACK), 429, "queue_full")
            assert int(c.post(path, files=image_file(tiny), data=ATTACK).headers["retry-after"]) >= 1
            assert "retry" in body["message"]
        c.delete(f"/v1/jobs/{slow.json()['id']}")
        wait_state(c, slow.json()["id"], ("cancelled",))
        # The job is cancelled for its client at once; the worker's slot is free again at
        # the end of the step it was in.
        end = time.monotonic() + 10
        while c.get("/healthz").json()["queued_or_running"] and time.monotonic() < end:
            time.sleep(0.02)
        assert c.post("/v1/attack", files=image_file(tiny), data={**ATTACK, "steps": "1"}).status_code == 200


def test_token(model, tiny):
    with make_client(model, token="s3cret-token") as c:
        assert_error(c.get("/v1/labels"), 401, "unauthorized")
        r = c.post("/v1/attack", files=image_file(tiny), data=ATTACK, headers={"Authorization": "Bearer wrong-token"})
        assert_error(r, 401, "unauthorized")
        assert r.headers["www-authenticate"] == "Bearer"
        assert_error(c.get("/v1/jobs/x", headers={"Authorization": "Basic s3cret-token"}), 401)
        assert c.get("/v1/labels", headers={"Authorization": "Bearer s3cret-token"}).status_code == 200
        assert c.get("/healthz").status_code == 200  # liveness stays open for load balancers


def test_safe_name():
    assert safe_name("../../etc/passwd") == "passwd"
    assert safe_name("C:\\Users\\me\\cat photo.jpg") == "cat_photo.jpg"
    assert safe_name(".bashrc") == "bashrc"
    assert safe_name("") == safe_name(None) == "upload"
    assert safe_name("x" * 300 + ".jpg") == "x" * 128
    # letters of any script stay (a fault sweep saw "ü名前.png" recorded as "_.png"), in at most 128 bytes
    assert safe_name("ü名前.png") == "ü名前.png" and safe_name("a\x00b\nc d.png") == "a_b_c_d.png"
    assert safe_name("名" * 100) == "名" * 42 and len(safe_name("é" * 200).encode()) <= 128


def test_refuses_to_listen_on_the_network_without_a_token(monkeypatch, capsys):
    monkeypatch.delenv("GUIAPP_SERVE_TOKEN", raising=False)
    assert cli_main(["serve", "--host", "0.0.0.0", "--port", "0"]) == 2
    err = capsys.readouterr().err
    assert "refusing to listen on 0.0.0.0 without --token" in err and "Traceback" not in err
