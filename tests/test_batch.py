import json
import shutil
from pathlib import Path

import pytest
from PIL import Image

from guiapp.cli import main
from guiapp.core import AttackConfig
from guiapp.core.batch import BatchRunner, TargetSpec, random_target, read_targets_csv
from guiapp.core.errors import GuiappError, OutputError

SAMPLES = Path(__file__).resolve().parents[1] / "resources" / "samples"



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


def _rows(out):
    return {r["input"]: r for r in json.loads((out / "report.json").read_text())["rows"]}


def test_batch_outputs_report_and_exit_code(tree, capsys):
    inp, out, originals = tree
    rc = main(["batch", str(inp), "--out", str(out), "-t", "goldfish", "-r", "--device", "cpu"])
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
    assert (out / "report.csv").read_text().startswith("input,output,status")
    assert "3 succeeded, 0 failed, 2 errors, 1 skipped" in text.out
    assert {p: p.read_bytes() for p in originals} == originals  # inputs untouched


def test_interrupted_run_resumes(tree, model):
    inp, out, _ = tree
    spec = TargetSpec(label="goldfish")
    first = BatchRunner(inp, out, model, spec, AttackConfig(), recursive=True)
    for progress in first.run():
        if progress.row.status == "ok":
            first.stop_after_current()  # as Ctrl-C does
    assert first.summary().cancelled
    done_before = {k for k, r in _rows(out).items() if r["status"] == "ok"}
    assert len(done_before) == 1
    stamp = {k: (out / _rows(out)[k]["output"]).stat().st_mtime_ns for k in done_before}

    second = BatchRunner(inp, out, model, spec, AttackConfig(), recursive=True)
    statuses = {p.row.input: p.row.status for p in second.run()}
    for key in done_before:
        assert statuses[key] == "skipped"
        assert (out / _rows(out)[key]["output"]).stat().st_mtime_ns == stamp[key]
    assert sum(r["status"] == "ok" for r in _rows(out).values()) == 3
    summary = second.summary()
    assert summary.succeeded == 3 and summary.resumed == len(done_before)
    assert f"({len(done_before)} in an earlier run)" in summary.line()


def test_output_inside_input_is_refused(tree, model):
    inp, _, _ = tree
    with pytest.raises(OutputError, match="inside the input"):
        BatchRunner(inp, inp / "adv", model, TargetSpec(label="goldfish"))


def test_targets_csv_and_random_targets(tree, model, tmp_path):
    inp, _, _ = tree
    csv_path = tmp_path / "t.csv"
    csv_path.write_text("path,label\ncat.jpg,goldfish\nnested/coffee.jpg,n01443537\n")
    assert read_targets_csv(csv_path, inp) == {"cat.jpg": "goldfish", "nested/coffee.jpg": "n01443537"}
    csv_path.write_text("cat.jpg,crane\n")
    with pytest.raises(GuiappError, match="bad labels"):
        BatchRunner(inp, tmp_path / "o", model, TargetSpec(mapping=read_targets_csv(csv_path, inp)))
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
    names = [runner.output_for(p, taken).name for p in runner.plan()[0]]
    assert names == ["a.png", "a.png.png"]
