"""Batch tells the truth (issue 23, items 7, 8, 9 and 12), on real folders.

It stops at the first permission error of its output folder, redoes an output that is
another input's PNG, gives every file of the folder a report row (a dangling symlink and
a symlink loop included), writes strict JSON, and leaves no lock file behind.
"""

from __future__ import annotations

import errno
import json
import os
import shutil
from pathlib import Path

import pytest
from PIL import Image

from guiapp.cli import main
from guiapp.core.batch import BatchRunner, TargetSpec, outdir
from guiapp.core.batch.outdir import LOCK_NAME, OutputLock
from guiapp.core.png_output import read_png_metadata

SAMPLES = Path(__file__).resolve().parents[1] / "resources" / "samples"
CPU = ["--device", "cpu"]


def _folder(folder: Path, n: int) -> Path:
    folder.mkdir()
    for i in range(n):
        Image.open(SAMPLES / ("coffee.jpg" if i % 2 else "chelsea_cat.jpg")).resize((64, 48)).save(
            folder / f"img{i}.jpg")
    return folder


def strict_json(text: str):
    """json.loads that refuses NaN and Infinity, as JSON.parse (RFC 8259) does."""
    def refuse(name: str):
        raise ValueError(f"not JSON: {name}")

    return json.loads(text, parse_constant=refuse)


def _rows(out: Path) -> dict[str, dict]:
    return {r["input"]: r for r in strict_json((out / "report.json").read_text())["rows"]}


# -- item 7 -------------------------------------------------------------------------------


@pytest.mark.parametrize("code", [errno.EPERM, errno.EACCES])
def test_permission_error_stops_the_batch_at_once(tmp_path, capsys, monkeypatch, code):
    """As with `chattr +i OUT` after two PNGs: the third PNG cannot be written, and the
    batch stops there instead of attacking the rest for nothing."""
    from guiapp.core import png_output

    inp = _folder(tmp_path / "in", 5)
    out = tmp_path / "out"
    real_replace = os.replace
    written: list[str] = []

    def replace(src, dst, *args, **kwargs):
        if str(dst).endswith(".png"):
            if len(written) == 2:
                raise PermissionError(code, os.strerror(code))
            written.append(str(dst))
        return real_replace(src, dst, *args, **kwargs)

    monkeypatch.setattr(png_output.os, "replace", replace)
    attacked: list[str] = []
    import guiapp.core.batch.task as task

    real_prepare = task.prepare_run
    monkeypatch.setattr(task, "prepare_run", lambda plan, *a, **k: attacked.append(plan.source_name) or real_prepare(
        plan, *a, **k))
    assert main(["batch", str(inp), "--out", str(out), "-t", "goldfish", "--workers", "1", *CPU]) == 2
    text = capsys.readouterr()
    assert len(attacked) == 3  # two written, the third failed: the other two were never attacked
    assert "stopped the batch: cannot write" in text.err and "permission denied" in text.err
    assert "3 images not attacked" in text.err and "error: " in text.err
    rows = _rows(out)
    assert sorted(r["status"] for r in rows.values()) == ["ok", "ok", "pending", "pending", "pending"]
    assert strict_json((out / "report.json").read_text())["summary"]["state"] == "stopped"


# -- item 8 -------------------------------------------------------------------------------


def test_an_output_swapped_for_another_inputs_png_is_redone(tmp_path, capsys):
    inp = _folder(tmp_path / "in", 2)
    out = tmp_path / "out"
    args = ["batch", str(inp), "--out", str(out), "-t", "goldfish", *CPU]
    assert main(args) == 0
    assert read_png_metadata(out / "img1.png")["source"] == "img1.jpg"
    shutil.copyfile(out / "img0.png", out / "img1.png")  # same settings, same target: another source
    capsys.readouterr()
    assert main(args) == 0
    assert "done 2/2: 2 succeeded (1 in an earlier run)" in capsys.readouterr().out  # img1 redone
    assert read_png_metadata(out / "img1.png")["source"] == "img1.jpg"


# -- item 9 -------------------------------------------------------------------------------


def test_every_file_gets_a_row_symlinks_included(tmp_path, capsys):
    inp = _folder(tmp_path / "in", 1)
    (inp / "gone.jpg").symlink_to(inp / "deleted.jpg")  # dangling
    (inp / "loop.png").symlink_to(inp / "loop2.png")  # a loop of two links
    (inp / "loop2.png").symlink_to(inp / "loop.png")
    (inp / "notes.txt").symlink_to(inp / "missing.txt")  # dangling, not an image
    (inp / "alias.jpg").symlink_to(inp / "img0.jpg")  # a working link is an image like any other
    out = tmp_path / "out"
    assert main(["batch", str(inp), "--out", str(out), "-t", "goldfish", *CPU]) == 1
    rows = _rows(out)
    assert set(rows) == {"img0.jpg", "alias.jpg", "gone.jpg", "loop.png", "loop2.png", "notes.txt"}
    assert rows["img0.jpg"]["status"] == rows["alias.jpg"]["status"] == "ok"
    assert rows["gone.jpg"]["status"] == "error" and "broken symbolic link" in rows["gone.jpg"]["error"]
    for name in ("loop.png", "loop2.png"):
        assert rows[name]["status"] == "error" and "loop of symbolic links" in rows[name]["error"]
    assert rows["notes.txt"]["status"] == "skipped"
    assert "done 6/6: 2 succeeded, 0 failed, 3 errors, 1 skipped" in capsys.readouterr().out


# -- item 12 ------------------------------------------------------------------------------


def test_report_json_is_strict_and_no_lock_is_left(tmp_path, capsys):
    inp = _folder(tmp_path / "in", 1)
    (inp / "broken.jpg").write_bytes((SAMPLES / "rocket.jpg").read_bytes()[:500])  # an error row: no PSNR
    out = tmp_path / "out"
    assert main(["batch", str(inp), "--out", str(out), "-t", "goldfish", *CPU]) == 1
    text = (out / "report.json").read_text()
    assert "NaN" not in text and "Infinity" not in text
    rows = _rows(out)
    assert rows["broken.jpg"]["psnr"] is None and rows["broken.jpg"]["target_conf"] is None
    assert rows["img0.jpg"]["psnr"] > 20
    assert not (out / LOCK_NAME).exists()
    assert main(["batch-report", str(out)]) == 0 and not (out / LOCK_NAME).exists()
    strict_json((out / "report.json").read_text())


def test_the_apps_batch_leaves_no_lock_and_strict_json(tmp_path, model):
    """What the desktop app's Batch dialog runs (BatchRunner in a thread), finished and stopped."""
    inp = _folder(tmp_path / "in", 3)
    (inp / "broken.png").write_text("not an image")
    out = tmp_path / "out"
    runner = BatchRunner(inp, out, model, TargetSpec(label="goldfish"), workers=1)
    for _ in runner.run():
        pass
    assert not (out / LOCK_NAME).exists()
    strict_json((out / "report.json").read_text())
    runner = BatchRunner(inp, tmp_path / "out2", model, TargetSpec(label="goldfish"), workers=1)
    for progress in runner.run():  # noqa: B007 (the last progress is checked below)
        runner.stop_after_current()  # the dialog's Stop
    assert progress.done < progress.total and not (tmp_path / "out2" / LOCK_NAME).exists()
    assert strict_json((tmp_path / "out2" / "report.json").read_text())["summary"]["pending"] > 0


def test_lock_taken_just_before_its_file_is_deleted(tmp_path, monkeypatch):
    """The race the deletion opens: B opens the lock file, A ends (deletes it), B locks the
    deleted file. B must notice and lock the file that is there now, or a third batch C
    could lock a new file while B believes it holds the lock."""
    real_try_lock = outdir.try_lock
    raced = []

    def racing_lock(fd):
        if not raced:  # A deletes the file between B's open and B's lock
            raced.append(True)
            (tmp_path / LOCK_NAME).unlink()
        return real_try_lock(fd)

    monkeypatch.setattr(outdir, "try_lock", racing_lock)
    (tmp_path / LOCK_NAME).touch()
    with OutputLock(tmp_path) as lock:
        assert lock._fd is not None and outdir._same_file(lock._fd, tmp_path / LOCK_NAME)
        monkeypatch.setattr(outdir, "try_lock", real_try_lock)
        with pytest.raises(outdir.BatchLockedError):
            OutputLock(tmp_path).acquire()  # C is refused: B really holds the file that is there
    assert not (tmp_path / LOCK_NAME).exists()


def test_a_targets_csv_in_latin_1_is_one_line_not_a_traceback(tmp_path, capsys):
    # Found in a fault sweep: `batch --targets` with a Latin-1 (or BOM-less UTF-16) CSV
    # printed a UnicodeDecodeError traceback.
    inp = _folder(tmp_path / "in", 1)
    targets = tmp_path / "targets.csv"
    targets.write_bytes("img0.jpg,poisson rouge é\n".encode("latin-1"))
    assert main(["batch", str(inp), "--out", str(tmp_path / "out"), "--targets", str(targets), *CPU]) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: targets file") and "is not UTF-8 text" in err and "Traceback" not in err
    assert len(err.strip().splitlines()) == 1


# -- issue 33 item 5: a resumed run checks the bytes, not only the metadata ------------------


def _half_of(path: Path) -> None:
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2])


def _rerun_redoes_img1(args: list[str], out: Path, capsys) -> None:
    capsys.readouterr()
    assert main(args) == 0
    assert "done 2/2: 2 succeeded (1 in an earlier run)" in capsys.readouterr().out  # img1 redone
    with Image.open(out / "img1.png") as img:
        img.load()  # whole again: raises on a truncated PNG
    assert read_png_metadata(out / "img1.png")["source"] == "img1.jpg"


def test_a_truncated_output_is_redone_on_resume(tmp_path, capsys):
    inp = _folder(tmp_path / "in", 2)
    out = tmp_path / "out"
    args = ["batch", str(inp), "--out", str(out), "-t", "goldfish", *CPU]
    assert main(args) == 0
    _half_of(out / "img1.png")
    # The case the metadata check let through: the text chunks survive the cut.
    assert read_png_metadata(out / "img1.png")["source"] == "img1.jpg"
    _rerun_redoes_img1(args, out, capsys)


def test_an_output_with_other_pixels_but_the_same_metadata_is_redone(tmp_path, capsys):
    """A PNG that decodes and carries the right settings key, target and source, but is
    not the file the batch wrote (edited, or another run's): its sha256 differs."""
    from PIL import PngImagePlugin

    inp = _folder(tmp_path / "in", 2)
    out = tmp_path / "out"
    args = ["batch", str(inp), "--out", str(out), "-t", "goldfish", *CPU]
    assert main(args) == 0
    with Image.open(out / "img1.png") as img:
        info = PngImagePlugin.PngInfo()
        for k, v in img.info.items():
            if isinstance(k, str) and isinstance(v, str):
                info.add_text(k, v)
        edited = img.convert("RGB")
    edited.putpixel((0, 0), tuple(255 - c for c in edited.getpixel((0, 0))))
    edited.save(out / "img1.png", pnginfo=info)
    assert read_png_metadata(out / "img1.png")["source"] == "img1.jpg"
    _rerun_redoes_img1(args, out, capsys)


def test_a_truncated_output_of_a_journal_without_digests_is_redone(tmp_path, capsys):
    """Rows written before the journal kept the output's sha256: resume decodes the PNG."""
    import sqlite3

    from guiapp.core.batch.journal import JOURNAL_NAME

    inp = _folder(tmp_path / "in", 2)
    out = tmp_path / "out"
    args = ["batch", str(inp), "--out", str(out), "-t", "goldfish", *CPU]
    assert main(args) == 0
    with sqlite3.connect(out / JOURNAL_NAME) as conn:
        conn.execute("UPDATE results SET out_sha256 = NULL, out_size = NULL")
    _half_of(out / "img1.png")
    _rerun_redoes_img1(args, out, capsys)
    # the untouched one was kept on the decode check alone (no new row); the redone one has a digest
    with sqlite3.connect(out / JOURNAL_NAME) as conn:
        digests = conn.execute("SELECT input, out_sha256 FROM results ORDER BY seq").fetchall()
    assert [name for name, sha in digests if sha] == ["img1.jpg"]
