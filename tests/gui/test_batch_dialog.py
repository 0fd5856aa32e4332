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
    assert dialog.progress.value() == dialog.progress.maximum()
    # Issue 34 item 9: a row's full message, cut in its cell, shows under the table when chosen.
    skipped = next(r for r in range(2) if dialog.table.item(r, 0).text() == "readme.txt")
    dialog.table.setCurrentCell(skipped, 3)
    assert dialog.detail_label.text().startswith("readme.txt (skipped): ")
    assert dialog.detail_label.text().endswith(dialog.table.item(skipped, 3).toolTip())
    first = [dialog.table.item(r, c).text() for r in range(2) for c in range(5) if dialog.table.item(r, c)]
    # Again with the same settings: the result is kept, and its row still shows its figures
    # (found walking the app: a kept row's target, result and PSNR were blank)
    with qtbot.waitSignal(dialog.finished_batch, timeout=120000):
        dialog.start()
    rows = {dialog.table.item(r, 0).text(): [dialog.table.item(r, c).text() for c in range(1, 5)] for r in range(2)}
    status, target, result, psnr = rows["coffee.jpg"]
    assert status == "kept" and target == "goldfish" and result == "goldfish" and psnr.endswith(" dB")
    assert psnr in first  # the first run's figure
    dialog.target_combo.set_target(2)  # other settings on the same output: refused
    with qtbot.waitSignal(dialog.jobs.failed, timeout=60000):
        dialog.start()
    assert "other settings" in dialog.summary_label.text()
    assert dialog.eta_label.text() == "not started: nothing was changed"
    assert dialog.progress.value() == 0  # the bar said 100% over "stopped by an error"
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


def test_batch_dialog_messages_name_no_command_line_flags(qtbot, window, tmp_path):
    window.open_batch_dialog()
    dialog = window._batch_dialog
    dialog.input_edit.setText(str(tmp_path))
    dialog.output_edit.setText(str(tmp_path / "out" / "deeper"))
    dialog.target_combo.set_target(1)
    dialog.start()
    text = dialog.summary_label.text()
    assert "inside the input folder" in text and "--" not in text
    dialog.close()


def test_batch_cancel_reports_what_was_not_processed(qtbot, window, tmp_path):
    inp, out = tmp_path / "in", tmp_path / "out"
    inp.mkdir()
    for name in ("a", "b", "c"):
        shutil.copy(SAMPLES / "coffee.jpg", inp / f"{name}.jpg")
    window.open_batch_dialog()
    dialog = window._batch_dialog
    dialog.input_edit.setText(str(inp))
    dialog.output_edit.setText(str(out))
    dialog.target_combo.set_target(1)
    with qtbot.waitSignal(dialog.finished_batch, timeout=120000) as blocker:
        dialog.start()
        dialog.cancel()
        assert dialog.eta_label.text() == "cancelling…"
    assert blocker.args[0].cancelled
    assert dialog.eta_label.text() == "cancelled"  # not "cancelling…" forever
    summary = dialog.summary_label.text()
    assert "Cancelled. 0 of 3 files have a result" in summary and "3 not processed" in summary
    assert dialog.start_button.isEnabled() and not dialog.cancel_button.isEnabled()
    dialog.close()


def test_batch_shortcut_opens_the_dialog(qtbot, window):
    window.act_batch.trigger()
    assert window._batch_dialog.isVisible()
    window._batch_dialog.close()


def test_batch_dialog_takes_the_target_typed_in_the_window(qtbot, window):
    # Typing "goldfish" (not picking it from the list) left the dialog's target empty.
    qtbot.keyClicks(window.target_combo.lineEdit(), "goldfish")
    window.act_batch.trigger()
    dialog = window._batch_dialog
    assert dialog.target_combo.target_index() == 1 and dialog.target_combo.currentText().startswith("goldfish")
    dialog.close()
    window.target_combo.lineEdit().clear()
    qtbot.keyClicks(window.target_combo.lineEdit(), "golfish")  # not a class: shown as typed
    window.act_batch.trigger()
    dialog = window._batch_dialog
    assert dialog.target_combo.currentText() == "golfish"
    dialog.close()


def test_a_batch_result_opens_in_the_window_as_a_run(qtbot, window, tmp_path):
    # Issue 34 (reproducibility): a row of the batch, opened in the main window: its photo,
    # its PNG as a run in the History (views, the table's verdict, defences, report).
    import numpy as np
    from PIL import Image

    inp, out = tmp_path / "in", tmp_path / "out"
    inp.mkdir()
    shutil.copy(SAMPLES / "coffee.jpg", inp / "coffee.jpg")
    window.open_batch_dialog()
    dialog = window._batch_dialog
    dialog.input_edit.setText(str(inp))
    dialog.output_edit.setText(str(out))
    dialog.target_combo.set_target(1)
    with qtbot.waitSignal(dialog.finished_batch, timeout=120000):
        dialog.start()
    assert dialog.table.item(0, 1).text() == "ok"
    dialog.open_row(0)  # what a double-click on the row does
    qtbot.waitUntil(lambda: bool(window.history.entries) and window.history.entries[-1].dist is not None,
                    timeout=60000)
    entry = window.history.entries[-1]
    assert window.image.path == (inp / "coffee.jpg").absolute()
    saved = np.asarray(Image.open(out / "coffee.png").convert("RGB"))
    assert np.array_equal(window.result.adversarial, saved) and np.array_equal(window.views.adversarial, saved)
    assert entry.saved == [str((out / "coffee.png").absolute())] and not entry.unsaved
    assert entry.preds[0].name == "goldfish"  # the table's model on the file
    assert "goldfish" in window.result_label.text()
    assert window.act_export_report.isEnabled() and window.act_copy_command.isEnabled()
    window.act_copy_command.trigger()
    from PySide6.QtWidgets import QApplication

    line = QApplication.clipboard().text()
    assert line.startswith("guiapp-cli attack ") and "coffee.jpg -t goldfish" in line and "coffee.png" in line
    dialog.close()
    from guiapp.gui.export import write_report

    with qtbot.waitSignal(window.report_written, timeout=60000):
        write_report(window, entry, tmp_path / "row.html")
    assert "coffee.jpg → goldfish" in (tmp_path / "row.html").read_text()
    with qtbot.waitSignal(window.defence_done, timeout=30000):
        window.apply_defence()  # on the batch's PNG


def test_a_setting_whose_default_is_empty_says_none():
    """Walked: "Not the defaults: Victim http://127.0.0.1:18666/ (default )"."""
    from guiapp.core.attacks import make_config
    from guiapp.gui.batch_dialog import describe_config

    config = make_config("query", victim="http://127.0.0.1:18666/")
    line = describe_config(config, [("Victim", "http://127.0.0.1:18666/", "")])
    assert "Victim http://127.0.0.1:18666/ (default none)" in line and "(default )" not in line
