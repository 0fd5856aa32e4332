"""`guiapp-cli batch` / `batch-report` end to end, with real (small) images and real files."""

import csv
import errno
import io
import json
import os
import shutil
import signal
import sqlite3
import threading
import time
from pathlib import Path

import pytest
from PIL import Image

from guiapp.cli import main
from guiapp.core import AttackConfig
from guiapp.core.batch import BatchRunner, TargetSpec, random_target, read_targets_csv
from guiapp.core.batch.journal import JOURNAL_NAME
from guiapp.core.batch.outdir import OutputLock
from guiapp.core.errors import GuiappError, OutputError
from guiapp.core.png_output import read_png_metadata

SAMPLES = Path(__file__).resolve().parents[1] / "resources" / "samples"
CPU = ["--device", "cpu"]


@pytest.fixture
def tree(tmp_path):
    inp = tmp_path / "in"
    (inp / "nested").mkdir(parents=True)
    small = Image.open(SAMPLES / "chelsea_cat.jpg").resize((150, 100))
    small.save(inp / "cat.jpg")
    Image.open(SAMPLES / "coffee.jpg").resize((150, 100)).save(inp / "nested" / "coffee.jpg")
    rgba = Image.open(SAMPLES / "rocket.jpg").resize((150, 100)).convert("RGBA")
    rgba.putalpha(200)
    rgba.save(inp / "nested" / "rocket_rgba.png")
    data = (SAMPLES / "rocket.jpg").read_bytes()
    (inp / "corrupt.jpg").write_bytes(data[: len(data) // 3])
    (inp / "text.png").write_text("not really a png")
    (inp / "notes.txt").write_text("hello")
    originals = {p: p.read_bytes() for p in inp.rglob("*") if p.is_file()}
    return inp, tmp_path / "out", originals


@pytest.fixture
def tiny(tmp_path):
    """Two 64x48 images: the fastest real attacks, for the tests about bookkeeping."""
    inp = tmp_path / "tiny"
    inp.mkdir()
    for name in ("chelsea_cat", "coffee"):
        Image.open(SAMPLES / f"{name}.jpg").resize((64, 48)).save(inp / f"{name}.jpg")
    return inp


def _report(out):
    return json.loads((out / "report.json").read_text())


def _rows(out):
    return {r["input"]: r for r in _report(out)["rows"]}


def test_batch_outputs_report_and_exit_code(tree, capsys):
    inp, out, originals = tree
    rc = main(["batch", str(inp), "--out", str(out), "-t", "goldfish", "-r", *CPU])
    text = capsys.readouterr()
    assert rc == 1  # two bad files are errors; the batch still finished
    rows = _rows(out)
    assert rows["cat.jpg"]["status"] == "ok" and rows["cat.jpg"]["final_name"] == "goldfish"
    assert rows["nested/coffee.jpg"]["status"] == "ok"
    assert rows["nested/rocket_rgba.png"]["status"] == "ok"
    assert rows["corrupt.jpg"]["status"] == "error" and "truncated" in rows["corrupt.jpg"]["error"]
    assert rows["text.png"]["status"] == "error" and "not an image" in rows["text.png"]["error"]
    assert rows["notes.txt"]["status"] == "skipped"
    assert (out / "cat.png").exists() and (out / "nested" / "coffee.png").exists()
    assert Image.open(out / "nested" / "rocket_rgba.png").getchannel("A").getextrema() == (200, 200)
    csv_text = (out / "report.csv").read_text()
    assert csv_text.startswith("input,output,status")
    cells = {c for row in csv.reader(io.StringIO(csv_text)) for c in row}
    assert not cells & {"nan", "inf", "-inf"} and "" in cells  # error rows' figures: empty cells
    assert "done 6/6: 3 succeeded, 0 failed, 2 errors, 1 skipped;" in text.out
    assert "ok 3 failed 0 errors 2" in text.err  # the tqdm bar's success-so-far
    assert _report(out)["summary"]["state"] == "complete"
    assert {p: p.read_bytes() for p in originals} == originals  # inputs untouched


def _sigint_when(path_glob: str, folder: Path, timeout: float = 120) -> threading.Thread:
    """Send this process a Ctrl-C once a file matching `path_glob` appears (as a user would)."""

    def watch():
        deadline = time.time() + timeout
        while time.time() < deadline:
            if folder.is_dir() and list(folder.glob(path_glob)):
                os.kill(os.getpid(), signal.SIGINT)
                return
            time.sleep(0.02)

    thread = threading.Thread(target=watch, daemon=True)
    thread.start()
    return thread


def test_ctrl_c_totals_are_the_folders_then_resume(tree, capsys):
    inp, out, _ = tree
    args = ["batch", str(inp), "--out", str(out), "-t", "goldfish", "-r", *CPU]
    watcher = _sigint_when("cat.png", out)
    rc = main(args)
    watcher.join()
    text = capsys.readouterr()
    assert rc == 130
    summary = _report(out)["summary"]
    assert summary["total"] == 6 and summary["cancelled"] and summary["state"] == "cancelled"
    assert summary["pending"] >= 1
    done = summary["succeeded"] + summary["failed"] + summary["errors"] + summary["skipped"]
    assert done + summary["pending"] == 6
    assert f"done {done}/6" in text.out and f"{summary['pending']} pending (cancelled)" in text.out
    rows = _rows(out)
    assert len(rows) == 6 and sum(r["status"] == "pending" for r in rows.values()) == summary["pending"]
    assert rows["cat.jpg"]["status"] == "ok"
    stamp = (out / "cat.png").stat().st_mtime_ns

    # batch-report gives the same totals from the journal alone
    assert main(["batch-report", str(out)]) == 0
    assert f"done {done}/6" in capsys.readouterr().out

    assert main(args) == 1  # resumed to the end (the two bad files are errors)
    text = capsys.readouterr().out
    # what the first run finished (cat.jpg, and on a fast machine the next image too) is kept
    assert f"done 6/6: 3 succeeded ({summary['succeeded']} in an earlier run)" in text
    assert (out / "cat.png").stat().st_mtime_ns == stamp  # not redone
    assert _report(out)["summary"]["pending"] == 0

    # A third run has nothing left to attack, and says so instead of "0.00 images/s".
    main(args)
    text = capsys.readouterr()
    assert "no image attacked in this run" in text.out
    assert "file/s" not in text.err  # the bar gives no rate of its own (kept files went by in microseconds)


def test_resume_refuses_results_made_with_other_settings(tiny, tmp_path, capsys):
    out = tmp_path / "out"
    assert main(["batch", str(tiny), "--out", str(out), "-t", "goldfish", *CPU]) == 0
    capsys.readouterr()
    assert read_png_metadata(out / "coffee.png")["target"].endswith("goldfish")

    assert main(["batch", str(tiny), "--out", str(out), "-t", "tabby", *CPU]) == 2
    err = capsys.readouterr().err
    assert "2 results made with other settings" in err and "goldfish [1] -> tabby" in err and "--force" in err
    assert read_png_metadata(out / "coffee.png")["target"].endswith("goldfish")  # nothing touched
    assert _report(out)["summary"]["succeeded"] == 2  # the report still describes the folder

    assert main(["batch", str(tiny), "--out", str(out), "-t", "goldfish", "--eps", "8", *CPU]) == 2
    assert "eps: 16.0 -> 8.0" in capsys.readouterr().err
    assert main(["batch", str(tiny), "--out", str(out), "-t", "goldfish", "--robust", *CPU]) == 2
    assert "mode: default -> robust" in capsys.readouterr().err

    assert main(["batch", str(tiny), "--out", str(out), "-t", "tabby", "--force", *CPU]) == 0
    assert "done 2/2: 2 succeeded," in capsys.readouterr().out  # redone, none "in an earlier run"
    assert read_png_metadata(out / "coffee.png")["target"].endswith("tabby")
    assert {r["target_name"] for r in _rows(out).values()} == {"tabby"}


def test_resume_trusts_only_the_png_on_disk(tiny, tmp_path, capsys):
    out = tmp_path / "out"
    args = ["batch", str(tiny), "--out", str(out), "-t", "goldfish", *CPU]
    assert main(args) == 0
    (out / "coffee.png").unlink()  # gone
    Image.new("RGB", (64, 48)).save(out / "chelsea_cat.png")  # replaced by a PNG we did not make
    capsys.readouterr()
    assert main(args) == 0
    assert "done 2/2: 2 succeeded," in capsys.readouterr().out  # both redone, none taken on trust
    for name in ("coffee.png", "chelsea_cat.png"):
        assert read_png_metadata(out / name)["target"].endswith("goldfish")
    # a changed input is redone too
    Image.open(SAMPLES / "rocket.jpg").resize((64, 48)).save(tiny / "coffee.jpg")
    assert main(args) == 0
    assert "2 succeeded (1 in an earlier run)" in capsys.readouterr().out


def test_output_folder_equal_to_input_folder(tiny, capsys):
    assert main(["batch", str(tiny), "--out", str(tiny), "-t", "goldfish", *CPU]) == 2
    assert "--allow-output-in-input" in capsys.readouterr().err
    args = ["batch", str(tiny), "--out", str(tiny), "-t", "goldfish", "--allow-output-in-input", *CPU]
    assert main(args) == 0
    assert "done 2/2: 2 succeeded" in capsys.readouterr().out
    assert (tiny / "coffee.adv.png").exists() and (tiny / "chelsea_cat.adv.png").exists()
    assert {r["output"] for r in _rows(tiny).values()} == {"coffee.adv.png", "chelsea_cat.adv.png"}
    # Run again: our outputs and reports are not taken for inputs.
    assert main(args) == 0
    assert "done 2/2: 2 succeeded (2 in an earlier run)" in capsys.readouterr().out
    # An input that is a PNG gets its output beside it, never over it.
    Image.open(tiny / "coffee.jpg").save(tiny / "mug.png")
    assert main(args) == 0
    assert "done 3/3: 3 succeeded (2 in an earlier run)" in capsys.readouterr().out
    assert (tiny / "mug.adv.png").exists() and "batch" not in read_png_metadata(tiny / "mug.png")


def test_input_inside_output_is_refused(tiny, capsys):
    assert main(["batch", str(tiny), "--out", str(tiny.parent), "-t", "goldfish", *CPU]) == 2
    assert "input folder" in capsys.readouterr().err


def test_unwritable_output_fails_before_any_attack(tiny, tmp_path, capsys, monkeypatch):
    import guiapp.core.batch.task as job

    calls = []
    monkeypatch.setattr(job, "prepare_run", lambda *a, **k: calls.append(a) or pytest.fail("attacked"))
    a_file = tmp_path / "a_file"
    a_file.write_text("x")
    assert main(["batch", str(tiny), "--out", str(a_file), "-t", "goldfish", *CPU]) == 2
    assert "is a file, not a folder" in capsys.readouterr().err

    def full(fd):
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr("guiapp.core.png_output.os.fsync", full)
    assert main(["batch", str(tiny), "--out", str(tmp_path / "o"), "-t", "goldfish", *CPU]) == 2
    assert "no space left on the device" in capsys.readouterr().err
    assert calls == []


def _coffee_folder(folder: Path, n: int) -> Path:
    """n small copies of the coffee sample, img0.jpg ... img{n-1}.jpg."""
    folder.mkdir()
    for i in range(n):
        Image.open(SAMPLES / "coffee.jpg").resize((64, 48)).save(folder / f"img{i}.jpg")
    return folder


def _record_attacks(monkeypatch) -> list:
    """The inputs the batch job attacks, in order (the real attack still runs)."""
    import guiapp.core.batch.task as job

    attacked: list = []
    real_prepare = job.prepare_run
    monkeypatch.setattr(job, "prepare_run",
                        lambda *a, **k: attacked.append(a[0].image.path) or real_prepare(*a, **k))
    return attacked


def test_too_little_free_space_stops_the_batch(tmp_path, capsys, monkeypatch):
    # The disk has room for the probe but not for a PNG: found by the free-space check
    # before each attack. It used to become an error row per image (19 of 20, exit 1).
    from guiapp.core import png_output

    inp = _coffee_folder(tmp_path / "in", 3)
    attacked = _record_attacks(monkeypatch)
    real_usage = png_output.shutil.disk_usage
    monkeypatch.setattr(png_output.shutil, "disk_usage", lambda path: real_usage(path)._replace(free=1000))
    out = tmp_path / "out"
    assert main(["batch", str(inp), "--out", str(out), "-t", "goldfish", "--workers", "1", *CPU]) == 2
    text = capsys.readouterr()
    assert len(attacked) == 1  # the first image found it; the others were not tried
    assert "only 0.0 MB are free" in text.err and "3 images not attacked" in text.err
    assert "3 pending (stopped)" in text.out and "error" not in _report(out)["rows"][0]["status"]


def test_full_disk_stops_the_batch_at_the_first_image(tmp_path, capsys, monkeypatch):
    inp = _coffee_folder(tmp_path / "in", 4)
    attacked = _record_attacks(monkeypatch)
    real_save = Image.Image.save

    def save(self, fp, *args, **kwargs):  # the disk fills up after the probe: PNG writes fail
        if kwargs.get("format") == "PNG":
            raise OSError(errno.ENOSPC, "No space left on device")
        return real_save(self, fp, *args, **kwargs)

    monkeypatch.setattr(Image.Image, "save", save)
    out = tmp_path / "out"
    assert main(["batch", str(inp), "--out", str(out), "-t", "goldfish", *CPU]) == 2
    text = capsys.readouterr()
    assert len(attacked) == 1  # stopped at the first failure, the rest not burnt
    assert "no space left on the device" in text.err and "4 images not attacked" in text.err
    assert "done 0/4" in text.out and "4 pending (stopped)" in text.out
    assert not list(out.glob("*.png")) and not list(out.glob(".*.tmp"))
    summary = _report(out)["summary"]
    assert summary["state"] == "stopped" and summary["pending"] == 4

    monkeypatch.setattr(Image.Image, "save", real_save)  # space freed: the same command resumes
    assert main(["batch", str(inp), "--out", str(out), "-t", "goldfish", *CPU]) == 0
    assert "done 4/4: 4 succeeded" in capsys.readouterr().out


def test_stale_temp_files_are_removed(tiny, tmp_path, capsys):
    out = tmp_path / "out"
    (out / "sub").mkdir(parents=True)
    ours = [out / ".coffee.png.k2j4_x9a.tmp", out / "sub" / ".a.png.abcdefgh.tmp",
            out / ".report.json.q1w2e3r4.tmp", out / ".guiapp-probe-zz11yy22.tmp"]
    theirs = [out / ".notes.tmp", out / "keep.png.abcdefgh.tmp", out / ".photo.jpg.abcdefgh.tmp"]
    for p in ours + theirs:
        p.write_bytes(b"half")
    assert main(["batch", str(tiny), "--out", str(out), "-t", "goldfish", *CPU]) == 0
    assert "removed 4 temp files left by an interrupted run" in capsys.readouterr().err
    assert not any(p.exists() for p in ours) and all(p.exists() for p in theirs)


def test_second_batch_on_the_same_output_is_refused(tiny, tmp_path, capsys):
    out = tmp_path / "out"
    out.mkdir()
    with OutputLock(out):  # as a running batch holds it
        assert main(["batch", str(tiny), "--out", str(out), "-t", "goldfish", *CPU]) == 2
        err = capsys.readouterr().err
        assert f"another batch (process {os.getpid()}) is writing to {out}" in err
        assert main(["batch-report", str(out)]) == 2  # no journal yet
        assert not list(out.glob("*.png"))
    assert main(["batch", str(tiny), "--out", str(out), "-t", "goldfish", *CPU]) == 0


def test_batch_report_needs_a_journal(tmp_path, capsys):
    assert main(["batch-report", str(tmp_path)]) == 2
    assert "no batch journal" in capsys.readouterr().err


@pytest.mark.slow
def test_workers_give_byte_identical_outputs(tiny, tmp_path, capsys):
    one, two = tmp_path / "one", tmp_path / "two"
    assert main(["batch", str(tiny), "--out", str(one), "-t", "goldfish", "--workers", "1", *CPU]) == 0
    assert main(["batch", str(tiny), "--out", str(two), "-t", "goldfish", "--workers", "2", *CPU]) == 0
    assert "(2 workers)" in capsys.readouterr().out
    for name in ("chelsea_cat.png", "coffee.png"):
        assert (one / name).read_bytes() == (two / name).read_bytes()


@pytest.mark.slow
def test_a_killed_worker_costs_one_error_row_not_the_batch(tmp_path, capsys):
    import multiprocessing

    inp, out = tmp_path / "in", tmp_path / "out"
    inp.mkdir()
    for i in range(4):
        Image.open(SAMPLES / "coffee.jpg").resize((48 + 4 * i, 40)).save(inp / f"img{i}.jpg")

    def kill_workers_mid_image():  # as the out-of-memory killer would
        deadline = time.time() + 120
        while time.time() < deadline and not list(out.glob("*.png")):
            time.sleep(0.02)
        for proc in multiprocessing.active_children():
            if proc.name.startswith("guiapp-batch-"):
                os.kill(proc.pid, signal.SIGKILL)

    killer = threading.Thread(target=kill_workers_mid_image, daemon=True)
    killer.start()
    rc = main(["batch", str(inp), "--out", str(out), "-t", "goldfish", "--workers", "2", *CPU])
    killer.join()
    text = capsys.readouterr()
    died = [r for r in _rows(out).values() if "worker process died" in r["error"]]
    assert rc == 1 and "done 4/4" in text.out, text.out + text.err
    assert 1 <= len(died) <= 2 and "killed by signal 9" in died[0]["error"]
    assert sum(r["status"] == "ok" for r in _rows(out).values()) == 4 - len(died)


def _journal_rows(out: Path) -> list[str]:
    with sqlite3.connect(out / JOURNAL_NAME) as conn:
        return [r[0] for r in conn.execute("SELECT input FROM results")]


@pytest.mark.slow
def test_sigkill_loses_only_images_in_flight(tmp_path, capsys):
    import subprocess
    import sys

    inp, out = tmp_path / "in", tmp_path / "out"
    inp.mkdir()
    for i in range(8):
        Image.open(SAMPLES / "coffee.jpg").resize((48 + 4 * i, 40)).save(inp / f"img{i}.jpg")
    cmd = [sys.executable, "-m", "guiapp.cli", "batch", str(inp), "--out", str(out), "-t", "goldfish", *CPU]
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.time() + 120
    committed: list[str] = []
    while time.time() < deadline and len(committed) < 2:
        time.sleep(0.05)
        if (out / JOURNAL_NAME).exists():
            try:
                committed = _journal_rows(out)
            except sqlite3.OperationalError:
                pass  # created but not yet initialised
    proc.kill()
    proc.wait()
    committed = _journal_rows(out)
    assert 2 <= len(committed) < 8, "the batch was not killed mid-run"
    stamps = {name: (out / Path(name).with_suffix(".png")).stat().st_mtime_ns for name in committed}

    # the OS dropped the lock; the report has the folder's totals
    assert main(["batch-report", str(out)]) == 0
    assert f"done {len(committed)}/8" in capsys.readouterr().out
    summary = _report(out)["summary"]
    assert summary["state"] == "interrupted" and summary["cancelled"] and summary["pending"] == 8 - len(committed)
    # batch-report loads no model, yet a pending image's target has its name (it gave "goldfish"
    # only while the batch ran): the run wrote its targets' names down
    pending = [r for r in _rows(out).values() if r["status"] == "pending"]
    assert pending and all(r["target"] == 1 and r["target_name"] == "goldfish" for r in pending), pending

    assert main(["batch", str(inp), "--out", str(out), "-t", "goldfish", *CPU]) == 0
    assert f"8 succeeded ({len(committed)} in an earlier run)" in capsys.readouterr().out
    journal = _journal_rows(out)
    assert sorted(set(journal)) == sorted(p.name for p in inp.iterdir())  # none lost
    for name, stamp in stamps.items():  # none redone
        assert journal.count(name) == 1
        assert (out / Path(name).with_suffix(".png")).stat().st_mtime_ns == stamp
    for row in _rows(out).values():  # the report says what the files on disk carry
        meta = read_png_metadata(out / row["output"])
        assert row["status"] == "ok" and meta["target"] == "1 goldfish"
    assert not list(out.glob(".*.tmp"))


@pytest.mark.slow
def test_transfer_mode_runs_the_same_job_and_resumes(tiny, tmp_path, capsys):
    out = tmp_path / "out"
    args = ["batch", str(tiny), "--out", str(out), "-t", "goldfish", "--mode", "transfer", "--preset", "loud",
            "--iterations", "8", *CPU]
    rc = main(args)
    assert rc in (0, 1), capsys.readouterr().err  # 8 iterations may not fool both surrogates
    report = _report(out)
    assert report["config"]["mode"] == "transfer" and report["config"]["iterations"] == 8
    assert {r["status"] for r in report["rows"]} <= {"ok", "failed"}
    for row in report["rows"]:
        meta = read_png_metadata(out / row["output"])
        assert meta["mode"] == "transfer" and meta["target"] == "1 goldfish" and meta["batch"]
        assert meta["model"] == "efficientnet-lite0+efficientnet-lite1"
    done = {r["output"]: (out / r["output"]).stat().st_mtime_ns for r in report["rows"] if r["status"] == "ok"}
    assert done, "no image reached the target on both surrogates in 8 iterations"
    # The same command again keeps what it made: the PNG carries the surrogates' weights.
    main(args)
    assert "in an earlier run" in capsys.readouterr().out
    assert {o: (out / o).stat().st_mtime_ns for o in done} == done


def test_runner_api_stop_and_summary(tree, model):
    inp, out, _ = tree
    runner = BatchRunner(inp, out, model, TargetSpec(label="goldfish"), AttackConfig(), recursive=True)
    for progress in runner.run():
        if progress.row.status == "ok":
            runner.stop_after_current()  # as the GUI's cancel-after-current does
    summary = runner.summary()
    assert summary.cancelled and summary.total == 6 and summary.pending == 6 - summary.done
    assert f"{summary.pending} pending (cancelled)" in summary.line()


def test_output_inside_input_is_refused(tree, model):
    inp, _, _ = tree
    with pytest.raises(OutputError, match="inside the input") as info:
        BatchRunner(inp, inp / "adv", model, TargetSpec(label="goldfish"))
    assert "--" not in str(info.value)  # core messages name no CLI flag (the GUI shows them too)


def test_targets_csv_and_random_targets(tree, model, tmp_path):
    inp, _, _ = tree
    csv_path = tmp_path / "t.csv"
    csv_path.write_text("path,label\ncat.jpg,goldfish\nnested/coffee.jpg,n01443537\n")
    assert read_targets_csv(csv_path, inp) == {"cat.jpg": "goldfish", "nested/coffee.jpg": "n01443537"}
    csv_path.write_text("cat.jpg,crane\n")
    with pytest.raises(GuiappError, match="bad labels"):
        BatchRunner(inp, tmp_path / "o", model, TargetSpec(mapping=read_targets_csv(csv_path, inp)))
    # Excel's encodings: UTF-16 with its BOM reads; Latin-1 is a one-line error, not a traceback
    csv_path.write_text("path,label\ncat.jpg,goldfish\n", encoding="utf-16")
    assert read_targets_csv(csv_path, inp) == {"cat.jpg": "goldfish"}
    csv_path.write_bytes("café.jpg,goldfish\n".encode("latin-1"))
    with pytest.raises(GuiappError, match="is not UTF-8 text .*CSV UTF-8"):
        read_targets_csv(csv_path, inp)
    # one image listed with two labels is refused (which one was meant?); the same label twice is not
    csv_path.write_text("cat.jpg,goldfish\n./cat.jpg,goldfish\nnested/coffee.jpg,tench\ncat.jpg,tench\n")
    with pytest.raises(GuiappError, match=r"t.csv:4: cat.jpg is listed twice, as 'goldfish' \(line 2\)"):
        read_targets_csv(csv_path, inp)
    targets = {random_target(f"f{i}.jpg", 7, 5, 1000) for i in range(50)}
    assert 5 not in targets and len(targets) > 40
    assert random_target("a.jpg", 7, 5, 1000) == random_target("a.jpg", 7, 5, 1000)


def test_name_collisions_keep_both(tmp_path, model):
    inp = tmp_path / "in"
    inp.mkdir()
    shutil.copy(SAMPLES / "chelsea_cat.jpg", inp / "a.jpg")
    Image.open(SAMPLES / "chelsea_cat.jpg").save(inp / "a.png")
    runner = BatchRunner(inp, tmp_path / "out", model, TargetSpec(label="goldfish"))
    taken: set = set()
    names = [runner.folder.output_for(p, taken).name for p in runner.plan()[0]]
    assert names == ["a.png", "a.png.png"]


@pytest.mark.slow
def test_workers_killed_while_idle_do_not_hang_the_batch(model, tmp_path):
    """Workers killed while they wait for their next task: with one queue shared by all
    workers, the reader that was waiting kept the queue's lock and the replacements hung
    (seen once in CI); with a pipe per worker the replacements take the waiting tasks."""
    from guiapp.core.batch.executors import ProcessExecutor
    from guiapp.core.batch.task import ImageTask, ModelSpec, TaskSettings

    inp, out = tmp_path / "in", tmp_path / "out"
    inp.mkdir()
    out.mkdir()
    for i in range(4):
        Image.open(SAMPLES / "coffee.jpg").resize((48 + 4 * i, 40)).save(inp / f"img{i}.png")
    settings = TaskSettings(str(inp), str(out), ModelSpec.of(model), AttackConfig(max_steps=3), None)
    executor = ProcessExecutor(settings, ["cpu", "cpu"])
    timer = threading.Timer(0, lambda: None)
    try:
        deadline = time.time() + 120  # both workers up and idle: waiting for a task
        while time.time() < deadline and not all(p.is_alive() for p in executor._procs.values()):
            time.sleep(0.05)
        time.sleep(3)
        for proc in executor._procs.values():  # one of them holds a shared queue's reader lock
            os.kill(proc.pid, signal.SIGKILL)
        for i in range(4):
            executor.submit(ImageTask(f"img{i}.png", f"img{i}_adv.png", 1, None, "k"))
        done, watchdog = [], threading.Event()
        timer = threading.Timer(180, watchdog.set)  # a hang fails the test instead of the suite
        timer.start()
        while len(done) < 4 and not watchdog.is_set():
            done.append(executor.next_result(watchdog))
        assert not watchdog.is_set(), "the batch hung after a worker died"
        assert sorted(r.task.rel for r in done) == [f"img{i}.png" for i in range(4)]
        assert all(r.row is not None for r in done)  # every image attacked or given an error row
    finally:
        timer.cancel()
        executor.cancel_now()
        executor.close()


def test_transfer_group_gives_the_same_pngs_as_one_at_a_time(tree, tmp_path, capsys):
    """`--group 3` runs the images in one loop (the surrogates batched across them), with
    an RGBA PNG and broken files among them: the same rows and byte-identical PNGs."""
    inp, _, originals = tree
    outs = {}
    for group in (1, 3):
        outs[group] = tmp_path / f"group{group}"
        rc = main(["batch", str(inp), "--out", str(outs[group]), "--random-targets", "--recursive", "--mode",
                   "transfer", "--iterations", "4", "--group", str(group), *CPU])
        assert rc in (0, 1), capsys.readouterr().err
    assert "3 images per group" in capsys.readouterr().out
    rows = {g: [(r["input"], r["status"], r["target"], r["steps"]) for r in _report(out)["rows"]]
            for g, out in outs.items()}
    assert rows[1] == rows[3]
    made = [r["output"] for r in _report(outs[1])["rows"] if r["output"]]
    assert len(made) == 3  # cat, coffee, the RGBA rocket; the broken files are error rows in both
    for name in made:
        assert (outs[1] / name).read_bytes() == (outs[3] / name).read_bytes(), name
    assert {p: p.read_bytes() for p in originals} == originals  # inputs untouched


def test_group_needs_one_worker(tiny, tmp_path, capsys):
    rc = main(["batch", str(tiny), "--out", str(tmp_path / "o"), "-t", "goldfish", "--mode", "transfer",
               "--group", "2", "--workers", "2", *CPU])
    assert rc == 2 and "a group of images runs in one worker" in capsys.readouterr().err
    assert main(["batch", str(tiny), "--out", str(tmp_path / "o"), "-t", "goldfish", "--group", "65", *CPU]) == 2
    assert "--group" in capsys.readouterr().err


def test_a_targets_row_naming_no_image_of_the_folder_is_refused_before_any_work(tree, tmp_path, capsys):
    from guiapp.cli import main

    inp, _, _ = tree
    csv_path = tmp_path / "t.csv"
    csv_path.write_text("cat.jpg,goldfish\nphotos/cat.jpg,tench\n")  # the second: relative to somewhere else
    out = tmp_path / "o"
    assert main(["batch", str(inp), "--out", str(out), "--targets", str(csv_path), "--device", "cpu"]) == 2
    err = capsys.readouterr().err
    assert "names 1 file that is not an image of" in err and "photos/cat.jpg" in err
    assert "relative to the input folder" in err
    assert not out.exists() or not any(out.iterdir())  # nothing written: no journal, no report


def test_the_summary_line_says_one_error_not_one_errors():
    from guiapp.core.batch.report import BatchSummary

    one = BatchSummary(total=2, succeeded=1, failed=0, errors=1, skipped=0, cancelled=False, seconds=1.0,
                       images_per_second=1.0)
    assert "1 succeeded, 0 failed, 1 error, 0 skipped" in one.line()
    two = BatchSummary(total=2, succeeded=0, failed=0, errors=2, skipped=0, cancelled=False, seconds=1.0,
                       images_per_second=1.0)
    assert ", 2 errors, " in two.line()
