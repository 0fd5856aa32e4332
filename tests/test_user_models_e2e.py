"""A user's 10-class model with its own labels through the real server and a real batch."""

from __future__ import annotations

import subprocess

import pytest

from _user_models import FRUITS, photo
from _user_models import fruit_onnx as make_fruit_onnx
from test_serve_process import Server, cli_command

pytest.importorskip("onnxruntime")


@pytest.fixture
def fruit_onnx(tmp_path):
    return make_fruit_onnx(tmp_path)


@pytest.mark.slow
def test_server_attacks_its_operators_model_by_label_name(tmp_path, fruit_onnx):
    image = photo(tmp_path / "p.png")
    server = Server(tmp_path / "server.log", "--model", str(fruit_onnx))
    try:
        http = server.http
        files = {"image": (image.name, image.read_bytes(), "image/png")}
        r = http.post("/v1/attack", files=files, data={"target": "dried date"})
        assert r.status_code == 200 and r.headers["x-guiapp-success"] == "true", r.text
        r = http.post("/v1/predict", files=files)
        assert r.status_code == 200 and r.json()["predictions"][0]["name"] in FRUITS
        r = http.get("/v1/labels", params={"q": "dried"})
        assert [c["name"] for c in r.json()["labels"]] == ["date"]
        r = http.post("/v1/attack", files=files, data={"target": "goldfish"})
        assert r.status_code == 422 and "unknown label 'goldfish'" in r.json()["message"]
        # A client never makes the server load a file: only the operator's model is installed.
        r = http.post("/v1/attack", files=files, data={"target": "apple", "mode": "transfer",
                                                       "surrogates": str(fruit_onnx.with_name("other.onnx"))})
        assert r.status_code == 422 and r.json()["error"] == "model_unavailable"
        assert "not installed on this server" in r.json()["message"]
    finally:
        server.kill()


@pytest.mark.slow
def test_batch_workers_recreate_a_user_model_from_its_spec(tmp_path, fruit_onnx):
    folder = tmp_path / "in"
    folder.mkdir()
    for seed in range(3):
        photo(folder / f"p{seed}.png", seed=seed)
    out = tmp_path / "out"
    done = subprocess.run([*cli_command(), "batch", str(folder), "--out", str(out), "--target", "dried date",
                           "--model", str(fruit_onnx), "--workers", "2", "--device", "cpu"],
                          capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr[-2000:]
    pngs = sorted(p.name for p in out.glob("*.png"))
    assert pngs == ["p0.png", "p1.png", "p2.png"], done.stdout[-1000:]
    report = (out / "report.csv").read_text()
    assert report.count(",ok,") == 3 and report.count(",9,date,True,9,date,") == 3, report
