"""Every CLI subcommand turns each of our error classes into exit code 2 and exactly one
line on stderr, with no traceback (issue 11, "go beyond"); plus real bad inputs."""

from __future__ import annotations

import importlib
import pkgutil

import numpy as np
import pytest
from PIL import Image

import guiapp.core
from guiapp.cli import main
from guiapp.core.errors import GuiappError


def _all_error_classes() -> list[type[GuiappError]]:
    # Import every core module so error classes defined beside their feature are found too.
    for info in pkgutil.iter_modules(guiapp.core.__path__):
        try:
            importlib.import_module(f"guiapp.core.{info.name}")
        except ImportError:  # an optional extra (ray...) that is not installed
            pass
    found, todo = [], [GuiappError]
    while todo:
        cls = todo.pop()
        found.append(cls)
        todo.extend(cls.__subclasses__())
    return sorted(set(found), key=lambda c: c.__name__)


ERRORS = _all_error_classes()

# argv of each subcommand, and the first thing it calls (which the test makes raise).
COMMANDS = {
    "predict": (["predict", "x.jpg"], "guiapp.core.load_model"),
    "attack": (["attack", "x.jpg", "-t", "goldfish"], "guiapp.core.load_model"),
    "batch": (["batch", "IN", "--out", "OUT", "-t", "goldfish"], "guiapp.core.load_model"),
    "batch-report": (["batch-report", "OUT"], "guiapp.core.batch.journal.Journal.exists"),
    "evaluate": (["evaluate", "--images", "IN"], "guiapp.core.load_model"),
    "centroids build": (["centroids", "build", "--images", "IN"], "guiapp.core.load_model"),
    "labels": (["labels", "cat"], "guiapp.core.labels.imagenet_labels"),
    "models": (["models"], "guiapp.core.models.available_models"),
    "serve": (["serve", "--port", "0"], "guiapp.core.load_model"),
}


def _one_error_line(capsys) -> str:
    err = capsys.readouterr().err
    lines = err.strip().splitlines()
    assert len(lines) == 1, err
    assert lines[0].startswith("error: ") and "Traceback" not in err
    return lines[0]


@pytest.mark.parametrize("error", ERRORS, ids=lambda c: c.__name__)
@pytest.mark.parametrize("command", sorted(COMMANDS))
def test_every_error_class_is_exit_2_and_one_line(command, error, tmp_path, monkeypatch, capsys):
    argv, target = COMMANDS[command]
    argv = [str(tmp_path / a) if a in ("x.jpg", "IN", "OUT") else a for a in argv]
    (tmp_path / "IN").mkdir()
    Image.new("RGB", (40, 40)).save(tmp_path / "x.jpg")

    def fail(*args, **kwargs):
        # A message with a newline in it: the CLI must still print a single line.
        raise error(f"simulated {error.__name__}\nsecond line")

    monkeypatch.setattr(target, fail)
    if command == "serve":
        pytest.importorskip("fastapi")
    assert main(argv) == 2
    line = _one_error_line(capsys)
    assert f"simulated {error.__name__} second line" in line


def test_error_list_is_complete():
    names = {c.__name__ for c in ERRORS}
    assert {"GuiappError", "LabelError", "ImageLoadError", "ModelUnavailableError", "CentroidError",
            "OutputError", "MemoryLimitError", "Cancelled"} <= names


@pytest.mark.parametrize("oserror", [PermissionError(13, "Permission denied", "/x/y"),
                                     OSError(28, "No space left on device")])
def test_os_errors_are_exit_2_and_one_line(oserror, monkeypatch, capsys):
    def fail(*args, **kwargs):
        raise oserror

    monkeypatch.setattr("guiapp.core.labels.imagenet_labels", fail)
    assert main(["labels"]) == 2
    assert oserror.strerror in _one_error_line(capsys)


def test_out_of_memory_is_exit_2_and_one_line(monkeypatch, capsys):
    def fail(*args, **kwargs):
        raise MemoryError()

    monkeypatch.setattr("guiapp.core.load_model", fail)
    assert main(["predict", "x.jpg"]) == 2
    assert "out of memory" in _one_error_line(capsys)


# --- real bad inputs, where they are cheap ----------------------------------------------


@pytest.fixture
def photo(tmp_path):
    path = tmp_path / "photo.png"
    Image.fromarray(np.random.default_rng(0).integers(0, 256, (48, 64, 3), dtype=np.uint8)).save(path)
    return path


@pytest.mark.parametrize("make_argv,expect", [
    (lambda t, p: ["predict", str(t / "missing.jpg"), "--device", "cpu"], "no such file"),
    (lambda t, p: ["predict", str(p), "--max-pixels", "100", "--device", "cpu"], "--max-pixels"),
    (lambda t, p: ["attack", str(p), "-t", "zzzqqq", "--device", "cpu"], "unknown label"),
    (lambda t, p: ["attack", str(p), "-t", "goldfish", "-o", str(t / "o.jpg"), "--device", "cpu"],
     "must be a PNG file, its name ending in .png (JPEG and other lossy"),
    # a fault sweep: `-o out/x` was told about JPEG, `-o out/.png` and `-o ''` (taken as ".") about folders
    (lambda t, p: ["attack", str(p), "-t", "goldfish", "-o", str(t / "x"), "--device", "cpu"],
     "x: the output must be a PNG file, its name ending in .png"),
    (lambda t, p: ["attack", str(p), "-t", "goldfish", "-o", str(t / ".png"), "--device", "cpu"],
     "give the file a name before its .png"),
    (lambda t, p: ["attack", str(p), "-t", "goldfish", "-o", "", "--device", "cpu"], "is empty"),
    (lambda t, p: ["batch", str(t), "--out", " ", "-t", "goldfish", "--device", "cpu"], "is empty"),
    # `-o FOLDER` was told "must be a .png file (... JPEG would destroy the noise)"
    (lambda t, p: ["attack", str(p), "-t", "goldfish", "-o", str(t), "--device", "cpu"], "is a folder; give a file"),
    (lambda t, p: ["attack", str(p), "-t", "goldfish", "-o", str(t / "d.png"), "--device", "cpu"], "is a folder"),
    (lambda t, p: ["attack", str(p), "-t", "goldfish", "--weights", str(p), "--device", "cpu"], "not a weights file"),
    (lambda t, p: ["attack", str(p), "-t", "goldfish", "--max-pixels", "10", "--device", "cpu"], "over the limit"),
    (lambda t, p: ["batch", str(t / "nope"), "--out", str(t / "o"), "-t", "goldfish", "--device", "cpu"], "nope"),
    (lambda t, p: ["batch-report", str(t)], "journal"),
    (lambda t, p: ["evaluate", "--images", str(t / "nope"), "--device", "cpu"], "nope"),
    (lambda t, p: ["centroids", "build", "--images", str(t / "nope"), "--device", "cpu"], "nope"),
    (lambda t, p: ["predict", str(p), "--model", "nosuchnet"], "unknown model"),
])
def test_real_bad_inputs(make_argv, expect, tmp_path, photo, capsys):
    (tmp_path / "d.png").mkdir()
    assert main(make_argv(tmp_path, photo)) == 2
    assert expect in _one_error_line(capsys)


def test_predict_reports_each_bad_file_and_goes_on(tmp_path, photo, capsys):
    (tmp_path / "bad.jpg").write_text("not an image")
    rc = main(["predict", str(photo), str(tmp_path / "bad.jpg"), str(photo), "--top", "1", "--device", "cpu"])
    out, err = capsys.readouterr()
    assert rc == 2
    assert out.count(str(photo)) == 2  # both good images were classified, before and after BAD
    assert err.strip().splitlines() == [f"error: {tmp_path / 'bad.jpg'}: not an image file that can be read "
                                        "(accepted: JPEG, PNG, WebP, BMP, TIFF, GIF, PPM)"]


def test_predict_json_carries_the_error(tmp_path, photo, capsys):
    import json

    rc = main(["predict", str(photo), str(tmp_path / "gone.png"), "--json", "--device", "cpu"])
    out = json.loads(capsys.readouterr().out)
    assert rc == 2 and len(out[str(photo)]) == 5 and "no such file" in out[str(tmp_path / "gone.png")]["error"]


def test_animated_gif_note_on_the_cli(tmp_path, capsys):
    from _imagefiles import animated_gif

    (tmp_path / "a.gif").write_bytes(animated_gif([(200, 0, 0), (0, 200, 0)], (48, 40)))
    assert main(["predict", str(tmp_path / "a.gif"), "--top", "1", "--device", "cpu"]) == 0
    err = capsys.readouterr().err
    assert f"note: {tmp_path / 'a.gif'}: animated GIF: only the first frame is used" in err


def test_non_utf8_name_is_printed_not_crashed(tmp_path, photo, capsys):
    import os

    odd = tmp_path / os.fsdecode(b"caf\xe9.png")
    odd.write_bytes(photo.read_bytes())
    assert main(["predict", str(odd), "--top", "1", "--device", "cpu"]) == 0
    assert "caf\\udce9.png" in capsys.readouterr().out


def test_batch_max_pixels_gives_an_error_row(tmp_path, photo, capsys):
    import json

    (tmp_path / "in").mkdir()
    (tmp_path / "in" / "p.png").write_bytes(photo.read_bytes())
    rc = main(["batch", str(tmp_path / "in"), "--out", str(tmp_path / "out"), "-t", "goldfish", "--max-pixels", "100",
               "--workers", "1", "--device", "cpu"])
    assert rc == 1  # an error row, not a crash and not a success
    rows = json.loads((tmp_path / "out" / "report.json").read_text())["rows"]
    assert len(rows) == 1 and rows[0]["status"] == "error" and "--max-pixels" in rows[0]["error"]
    assert not (tmp_path / "out" / "p.png").exists()


@pytest.mark.slow
def test_a_reader_that_quits_early_is_not_an_error():
    # `guiapp-cli labels | head -1` printed "error: Broken pipe" and exited 2.
    import subprocess
    import sys

    proc = subprocess.Popen([sys.executable, "-m", "guiapp.cli", "labels"], stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE)
    proc.stdout.close()  # the reader is gone before the first line is written (torch still imports)
    with proc.stderr:
        err = proc.stderr.read().decode()
    assert proc.wait(timeout=120) == 141 and err == ""


# --- numbers out of bounds: one line, status 2, whatever the flag (issue 23, items 2 and 4) ---


@pytest.mark.parametrize("argv,expect", [
    (["attack", "x.png", "-t", "goldfish", "--seed", str(10**30)], "seed must be in [0, 4294967295]"),
    (["attack", "x.png", "-t", "goldfish", "--seed", str(2**63)],
     "seed must be in [0, 4294967295], not 9223372036854775808"),
    (["attack", "x.png", "-t", "goldfish", "--seed", "-1"], "seed must be in [0, 4294967295], not -1"),
    (["batch", "IN", "--out", "OUT", "--random-targets", "--seed", str(10**30)], "seed must be in [0, 4294967295]"),
    (["batch", "IN", "--out", "OUT", "-t", "goldfish", "--seed", str(2**63)], "seed must be in"),
    (["attack", "x.png", "-t", "goldfish", "--mode", "transfer", "--ti-kernel", "1000000"],
     "ti_kernel must be in [0, 31]"),
    (["attack", "x.png", "-t", "goldfish", "--mode", "transfer", "--iterations", "9" * 40], "iterations must be in"),
    (["attack", "x.png", "-t", "goldfish", "--mode", "transfer", "--surrogates",
      "efficientnet-lite0,efficientnet-lite0"], "given more than once"),
    (["attack", "x.png", "-t", "goldfish", "--mode", "robust", "--defences", "median:size=1000001"], "[1, 15]"),
    (["attack", "x.png", "-t", "goldfish", "--eps", "nan"], "must be a number"),
    (["predict", "x.png", "--top", "5000"], "--top: must be in [1, 1000]"),
    (["batch", "IN", "--out", "OUT", "-t", "goldfish", "--workers", "0"], "--workers: must be in"),
    (["serve", "--max-upload-mb", "inf"], "--max-upload-mb: must be in"),
    (["serve", "--port", "70000"], "--port: must be in [0, 65535]"),
    (["evaluate", "--images", "IN", "--seed", str(10**30)], "--seed: must be an integer in"),
    (["centroids", "build", "--images", "IN", "--k", "0"], "--k: must be in [1, 100]"),
    (["attack", "x.png"], "required: --target"),
])
def test_bad_numbers_are_one_line_and_exit_2(argv, expect, tmp_path, capsys):
    argv = [str(tmp_path / a) if a in ("x.png", "IN", "OUT") else a for a in argv]
    (tmp_path / "IN").mkdir()
    Image.new("RGB", (40, 40)).save(tmp_path / "x.png")
    assert main([*argv, "--device", "cpu"] if argv[0] not in ("serve",) else argv) == 2
    line = _one_error_line(capsys)
    assert expect in line and "usage:" not in line
    assert not (tmp_path / "OUT").exists()
