import shutil
from pathlib import Path

SAMPLES = Path(__file__).resolve().parents[2] / "resources" / "samples"


def test_batch_dialog_runs_and_reports(qtbot, window, tmp_path):
    inp, out = tmp_path / "in", tmp_path / "out"
    inp.mkdir()
    shutil.copy(SAMPLES / "coffee.jpg", inp / "coffee.jpg")
    (inp / "readme.txt").write_text("not an image")
    window.open_batch_dialog()
    dialog = window._batch_dialog
    dialog.input_edit.setText(str(inp))
    dialog.output_edit.setText(str(out))
    dialog.target_combo.set_target(1)
    with qtbot.waitSignal(dialog.finished_batch, timeout=120000) as blocker:
        dialog.start()
    summary = blocker.args[0]
    assert summary.succeeded == 1 and summary.skipped == 1
    assert dialog.table.rowCount() == 2
    assert (out / "coffee.png").exists() and (out / "report.csv").exists()
    dialog.close()


def test_batch_dialog_refuses_output_inside_input(qtbot, window, tmp_path):
    window.open_batch_dialog()
    dialog = window._batch_dialog
    dialog.input_edit.setText(str(tmp_path))
    dialog.output_edit.setText(str(tmp_path / "out"))
    dialog.target_combo.set_target(1)
    dialog.start()
    assert "inside the input" in dialog.summary_label.text()
    assert dialog.worker is None
    dialog.close()
