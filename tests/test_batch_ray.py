"""`guiapp-cli batch --ray` against a real local Ray (2 CPUs), not a mock. Slow to start
(~10 s), so one test covers it: same outputs, byte for byte, as the local workers."""

import json
from pathlib import Path

import pytest
import ray
from PIL import Image

from guiapp.cli import main
from guiapp.core.png_output import read_png_metadata

SAMPLES = Path(__file__).resolve().parents[1] / "resources" / "samples"


@pytest.mark.slow
def test_ray_batch_end_to_end(tmp_path, capsys):
    inp = tmp_path / "in"
    inp.mkdir()
    for name in ("chelsea_cat", "coffee"):
        Image.open(SAMPLES / f"{name}.jpg").resize((64, 48)).save(inp / f"{name}.jpg")
    local, on_ray = tmp_path / "local", tmp_path / "ray"
    assert main(["batch", str(inp), "--out", str(local), "-t", "goldfish", "--workers", "1", "--device", "cpu"]) == 0
    capsys.readouterr()

    rc = main(["batch", str(inp), "--out", str(on_ray), "-t", "goldfish", "--ray", "--workers", "2", "--device", "cpu"])
    out = capsys.readouterr().out
    assert rc == 0, out
    assert "done 2/2: 2 succeeded" in out and "(2 workers)" in out
    assert not ray.is_initialized()  # the Ray started for the run is shut down again
    rows = json.loads((on_ray / "report.json").read_text())["rows"]
    assert {r["status"] for r in rows} == {"ok"}
    for name in ("chelsea_cat.png", "coffee.png"):
        assert (on_ray / name).read_bytes() == (local / name).read_bytes()
        assert read_png_metadata(on_ray / name)["target"] == "1 goldfish"


def test_ray_auto_without_a_cluster_says_so_in_guiapps_words_and_leaves_no_journal(tmp_path, capsys, monkeypatch):
    monkeypatch.delenv("RAY_ADDRESS", raising=False)
    inp = tmp_path / "in"
    inp.mkdir()
    Image.open(SAMPLES / "coffee.jpg").resize((64, 48)).save(inp / "coffee.jpg")
    out = tmp_path / "out"
    assert main(["batch", str(inp), "--out", str(out), "-t", "goldfish", "--ray", "auto", "--device", "cpu"]) == 2
    err = capsys.readouterr().err
    assert "no Ray cluster is running on this machine" in err and "--ray HOST:6379" in err
    assert "--address" not in err  # Ray's advice names a flag of its own CLI, not guiapp's
    assert not out.exists() or list(out.iterdir()) == []  # no journal of a run that never started
