"""Issue 34 (the desktop app, round 4), through the real window."""

from pathlib import Path

from PySide6.QtCore import Qt
from window_steps import open_image as _open
from window_steps import run_attack as _run

SAMPLES = Path(__file__).resolve().parents[2] / "resources" / "samples"


# 2 ---------------------------------------------------------------------------------------
def test_a_report_of_a_run_shown_again_has_that_run_s_saliency(qtbot, window, tmp_path):
    # Walked: show run 3 from the History, Export report: the page said "why goldfish"
    # (run 1's map) for a school-bus result. The Model's view tab held the maps of the run
    # last computed there, and the report copied them.
    from guiapp.gui.export import write_report

    _open(qtbot, window, SAMPLES / "chelsea_cat.jpg")
    _run(qtbot, window, target=1, max_steps=40)  # goldfish
    window.show_tab(2)  # the Model's view: its maps are computed for the run shown
    with qtbot.waitSignal(window.insights.saliency_done, timeout=60000):
        _run(qtbot, window, target=2, max_steps=40)  # great white shark
    assert "why great white shark" in window.saliency_panel.captions[1].text()
    window.show_tab(4)
    first = window.history.entries[0]
    window.history.select(first)  # a click on run 1
    assert window.shown_entry() is first
    out = tmp_path / "run1.html"
    with qtbot.waitSignal(window.report_written, timeout=60000):
        write_report(window, first, out)
    page = out.read_text()
    maps = page[page.index("The noise and the model"):]
    assert "Result: why goldfish" in maps and "great white shark" not in maps
    assert "goldfish (1)" in page  # its own figures: the target it names
    # Item 9: the Settings table reads as the form does, not raw keys and Python values.
    settings = page[page.index("<h2>Settings</h2>"):]
    assert "Max steps" in settings and "40 steps" in settings and "Refine steps" in settings
    assert "refine_steps" not in settings and "None" not in settings


# 1 ---------------------------------------------------------------------------------------
def test_runs_survive_opening_another_image_and_come_back(qtbot, window, go_on_without_saving):
    # Walked: opening another image wiped the History (5 runs, two of them 49 s and 103 s).
    _open(qtbot, window, SAMPLES / "chelsea_cat.jpg")
    first = _run(qtbot, window, target=1, max_steps=40)
    _run(qtbot, window, target=2, max_steps=40)
    _open(qtbot, window, SAMPLES / "coffee.jpg")
    assert go_on_without_saving == ["Open another image?"]  # asked once (answered: go on)
    assert window.history.list.count() == 0 and window.result is None  # coffee's own History: empty
    assert window.views.difference_scale.isHidden()  # walked: the cat's range stayed over an empty view
    _run(qtbot, window, target=3, max_steps=40)  # a run on the other image: nothing more to ask
    assert go_on_without_saving == ["Open another image?"] and window.history.list.count() == 1
    coffee = window.session.runs
    _open(qtbot, window, SAMPLES / "chelsea_cat.jpg")  # back: its two runs are there
    history = window.history
    qtbot.waitUntil(lambda: history.list.count() == 2, timeout=30000)  # read back from disk
    assert [e.target_name for e in history.entries] == ["goldfish", "great white shark"]
    history.select(history.entries[0])
    assert (window.result.adversarial == first.adversarial).all()
    assert (window.views.adversarial == first.adversarial).all() and window.pred_adversarial.top_name() == "goldfish"
    qtbot.waitUntil(lambda: not coffee.entries)  # left, its run on disk: its memory is let go


def test_opening_another_image_after_an_unsaved_run_asks_cancel_or_save(qtbot, window, monkeypatch, tmp_path):
    from guiapp.gui import dialogs, save_flow

    _open(qtbot, window, SAMPLES / "chelsea_cat.jpg")
    _run(qtbot, window, target=1, max_steps=40)
    asked, answers = [], ["cancel"]
    monkeypatch.setattr(dialogs, "ask_unsaved", lambda parent, title, text, detail, save, discard:
                        asked.append((title, text, save)) or answers.pop(0))
    window.open_image(SAMPLES / "coffee.jpg")
    qtbot.waitUntil(lambda: bool(asked), timeout=60000)  # asked once the file is read
    title, text, save = asked[0]
    assert title == "Open another image?" and "#1 (goldfish, chelsea_cat.jpg) is not saved" in text
    assert save == "Save run #1…"
    assert window.image.path.name == "chelsea_cat.jpg" and not window.jobs.running("image")  # cancelled
    assert window.history.list.count() == 1  # the cat's run still shown

    # A file that is not an image says so, and nothing is asked (walked: the question came
    # first, then the error).
    fake = tmp_path / "notes.jpg"
    fake.write_text("not an image")
    with qtbot.waitSignal(window.error_shown, timeout=60000) as error:
        window.open_image(fake)
    assert "notes.jpg" in error.args[0] and len(asked) == 1 and window.image.path.name == "chelsea_cat.jpg"
    answers.append("save")
    monkeypatch.setattr(save_flow, "choose_output", lambda *a: tmp_path / "kept.png")  # the file dialog
    with qtbot.waitSignal(window.image_ready, timeout=60000):  # saved, then opened
        window.open_image(SAMPLES / "coffee.jpg")
    assert (tmp_path / "kept.png").is_file() and window.image.path.name == "coffee.jpg" and len(asked) == 2


def test_quitting_after_an_unsaved_run_asks(qtbot, window, monkeypatch, tmp_path):
    from guiapp.gui import dialogs, save_flow

    _open(qtbot, window, SAMPLES / "chelsea_cat.jpg")
    _run(qtbot, window, target=1, max_steps=40)
    file_menu = window.menuBar().actions()[0].menu()
    quit_action = next(a for a in file_menu.actions() if a.text() == "&Quit")
    assert quit_action.shortcut().toString() == "Ctrl+Q"
    asked, answers = [], ["cancel", "save"]
    monkeypatch.setattr(dialogs, "ask_unsaved", lambda parent, title, text, *a: asked.append(title)
                        or answers.pop(0))
    window.activateWindow()
    qtbot.waitUntil(window.isActiveWindow)
    qtbot.keyClick(window, Qt.Key_Q, Qt.ControlModifier)
    assert asked == ["Quit guiapp?"] and window.isVisible()  # cancelled: still there
    monkeypatch.setattr(save_flow, "choose_output", lambda *a: tmp_path / "before_quitting.png")
    qtbot.keyClick(window, Qt.Key_Q, Qt.ControlModifier)  # save, then quit
    qtbot.waitUntil(lambda: not window.isVisible(), timeout=60000)
    assert (tmp_path / "before_quitting.png").is_file() and asked == ["Quit guiapp?"] * 2


def test_opening_an_image_mid_run_asks_first(qtbot, window, monkeypatch):
    # Walked: opening an image during a run stopped and discarded it without a word.
    from guiapp.gui import dialogs

    _open(qtbot, window, SAMPLES / "coffee.jpg")
    window.target_combo.set_target(1)
    window.form.field("max_steps").setValue(5000)
    window.form.field("eps").setValue(0.5)
    asked, answers = [], [False]
    monkeypatch.setattr(dialogs, "confirm_stop", lambda parent, what, doing: asked.append((what, doing))
                        or answers.pop(0))
    window.start_attack()
    qtbot.waitUntil(lambda: window.plot.point_count() >= 2, timeout=60000)
    window.open_image(SAMPLES / "chelsea_cat.jpg")
    assert window.attack.running and window.image.path.name == "coffee.jpg"  # "keep working"
    assert not window.jobs.running("image")
    what, doing = asked[0]
    assert "An attack is running (step" in what and doing == "Opening chelsea_cat.jpg"
    answers.append(True)
    _open(qtbot, window, SAMPLES / "chelsea_cat.jpg")
    assert not window.attack.running and window.image.path.name == "chelsea_cat.jpg" and len(asked) == 2


# 5 ---------------------------------------------------------------------------------------
def test_first_launch_keeps_the_frame_and_status_bar_on_screen(qtbot, settings, monkeypatch):
    # Walked at 1366x768 under Openbox: the window was as tall as the screen's free area and
    # its title bar came on top, so the status bar was below the screen. Qt's offscreen
    # platform draws no frame: here the window manager's is a 30-px title bar and 1-px borders.
    from PySide6.QtCore import QMargins, QPoint

    from guiapp.gui.main_window import MainWindow

    monkeypatch.setattr(MainWindow, "frameGeometry", lambda self: self.geometry() + QMargins(1, 30, 1, 1))
    win = MainWindow(settings=settings, device="cpu")  # a first launch: nothing remembered
    qtbot.addWidget(win)
    win.show()
    free = win.screen().availableGeometry()
    qtbot.waitUntil(lambda: free.contains(win.frameGeometry()), timeout=5000)
    bar = win.statusBar()
    bottom = bar.mapToGlobal(QPoint(0, bar.height() - 1)).y()
    assert bar.isVisible() and free.top() <= bottom <= free.bottom()
    assert win.height() >= free.height() - 31 - 40  # it still uses the screen: not shrunk away


def test_fitted_moves_and_shrinks_a_frame_onto_the_free_area():
    from PySide6.QtCore import QRect

    from guiapp.gui.window_state import fitted

    free = QRect(0, 0, 1366, 768)
    inner = QRect(0, 0, 1366, 768)  # a window as large as the screen, placed under its title bar
    frame = QRect(-1, -24, 1368, 793)
    assert fitted(frame, inner, free) == QRect(1, 24, 1364, 743)
    small = QRect(1101, 624, 300, 200)  # small enough, but hangs off the bottom right: moved, not shrunk
    assert fitted(small.adjusted(-1, -24, 1, 1), small, free) == QRect(1065, 567, 300, 200)


def test_runs_kept_before_reports_were_stored_come_back_with_their_result_line(qtbot, window, tmp_path,
                                                                               go_on_without_saving):
    # The History index of an earlier version has no AttackReport per run: the run is read
    # back all the same, and its result line is built from what the run measured.
    import pickle

    _open(qtbot, window, SAMPLES / "chelsea_cat.jpg")
    _run(qtbot, window, target=1, max_steps=40)
    qtbot.waitUntil(lambda: window.session.entries[0].report is not None, timeout=60000)
    qtbot.waitUntil(lambda: next((tmp_path / "history").glob("*/runs.pkl"), None) is not None, timeout=30000)
    cat = window.session.runs
    _open(qtbot, window, SAMPLES / "coffee.jpg")
    qtbot.waitUntil(lambda: not cat.entries, timeout=30000)  # on disk, let go from memory
    index = next((tmp_path / "history").glob("*/runs.pkl"))
    data = pickle.loads(index.read_bytes())
    assert all("report" in record for record in data["runs"])
    for record in data["runs"]:
        del record["report"]
    index.write_bytes(pickle.dumps(data))
    _open(qtbot, window, SAMPLES / "chelsea_cat.jpg")
    qtbot.waitUntil(lambda: window.history.list.count() == 1, timeout=30000)
    entry = window.history.entries[0]
    assert entry.report is None
    window.history.select(entry)
    line = window.result_label.text()
    assert "Target reached" in line and "PSNR" in line and f"{entry.dist.psnr:.1f}" in line


# 6 ---------------------------------------------------------------------------------------
def test_export_plot_waits_for_a_run(qtbot, window):
    # Walked: Export plot was enabled before any run and wrote an empty chart.
    assert not window.act_export_plot.isEnabled()
    _open(qtbot, window, SAMPLES / "chelsea_cat.jpg")
    assert not window.act_export_plot.isEnabled()
    _run(qtbot, window, target=1, max_steps=10)
    assert window.act_export_plot.isEnabled() and window.plot.point_count() > 0
    _open(qtbot, window, SAMPLES / "coffee.jpg")  # another image: its plot is empty again
    assert not window.act_export_plot.isEnabled()


# 8 ---------------------------------------------------------------------------------------
def test_closing_the_batch_dialog_mid_run_asks_first(qtbot, window, monkeypatch, tmp_path):
    # Walked: closing the Batch dialog mid-run cancelled the batch without asking.
    import shutil

    from guiapp.gui import dialogs

    folder = tmp_path / "in"
    folder.mkdir()
    for i in range(3):
        shutil.copy(SAMPLES / "coffee.jpg", folder / f"coffee{i}.jpg")
    window.target_combo.set_target(1)
    window.form.field("max_steps").setValue(5000)  # long enough to be mid-run when closed
    window.form.field("eps").setValue(0.5)
    window.open_batch_dialog()
    dialog = window._batch_dialog
    dialog.input_edit.setText(str(folder))
    dialog.output_edit.setText(str(tmp_path / "out"))
    asked, answers = [], [False]
    monkeypatch.setattr(dialogs, "confirm_stop", lambda parent, what, doing, outcome: asked.append(
        (what, doing, outcome)) or answers.pop(0))
    dialog.start()
    assert dialog.worker is not None
    dialog.close()  # the window manager's close: keep running
    assert dialog.isVisible() and dialog.worker is not None and dialog.jobs.running("batch")
    what, doing, outcome = asked[0]
    assert what.startswith("A batch is running (") and "of 3 files done" in what and doing == "Closing this window"
    assert "finished ones are kept" in outcome
    answers.append(True)
    with qtbot.waitSignal(dialog.finished_batch, timeout=120000) as blocker:
        qtbot.keyClick(dialog, Qt.Key_Escape)  # Esc: stop it this time
    assert blocker.args[0].cancelled and not dialog.isVisible() and len(asked) == 2


# 7 ---------------------------------------------------------------------------------------
def test_cancelling_deep_image_prior_keeps_the_apply_all_table_and_image(qtbot, window):
    # Walked: cancelling Deep Image Prior wiped the previous Apply-all table and image, and
    # while it ran the last defence's caption stayed over an empty image.
    import numpy as np

    _open(qtbot, window, SAMPLES / "chelsea_cat.jpg")
    _run(qtbot, window, target=1, max_steps=20)
    box = window.defences
    with qtbot.waitSignal(box.all_done, timeout=120000) as blocker:
        window.apply_all_defences()
    rows = blocker.args[0]
    box.table.selectRow(1)  # a click on the JPEG row: its image
    shown, caption, line = box.image.rgb, box.after_caption.text(), box.label.text()
    assert np.array_equal(shown, rows[1][3]) and caption.startswith("after jpeg")
    box.combo.setCurrentIndex(box.combo.findData("dip"))
    window.apply_defence()  # Deep Image Prior: minutes on a CPU
    assert box.running and box.button.text() == "Cancel"
    assert box.after_caption.text() == f"after {box.current().label}: running…"  # not the last one's
    assert box.table.rowCount() == len(rows)  # the table stays while it runs
    window.apply_defence()  # the same button cancels it
    assert not box.running and box.button.text() == "Apply"
    assert box.table.rowCount() == len(rows) and box.table.item(1, 0).text() == "jpeg (quality 75)"
    assert np.array_equal(box.image.rgb, shown) and box.after_caption.text() == caption
    assert box.label.text().startswith("Cancelled dip") and line in box.label.text()


def _new_window(qtbot, settings):
    from guiapp.gui.main_window import MainWindow

    win = MainWindow(settings=settings, device="cpu")
    qtbot.addWidget(win)
    win.show()
    qtbot.waitUntil(lambda: win.model is not None, timeout=30000)
    return win


def test_runs_come_back_after_a_restart(qtbot, settings, tmp_path, go_on_without_saving):
    # The History is kept on disk (the settings' History folder: here under tmp_path).
    import numpy as np

    from guiapp.gui.export import write_report

    win = _new_window(qtbot, settings)
    _open(qtbot, win, SAMPLES / "chelsea_cat.jpg")
    first = _run(qtbot, win, target=1, max_steps=40)
    first_line = win.result_label.text()
    with qtbot.waitSignal(win.saved, timeout=60000):
        win.save_result(tmp_path / "made.png")
    _run(qtbot, win, target=2, max_steps=40)  # not saved
    win.close()
    assert not win.isVisible() and go_on_without_saving == ["Quit guiapp?"]

    again = _new_window(qtbot, settings)  # a restart
    _open(qtbot, again, SAMPLES / "chelsea_cat.jpg")
    history = again.history
    qtbot.waitUntil(lambda: history.list.count() == 2, timeout=30000)
    kept = history.entries
    assert [e.target_name for e in kept] == ["goldfish", "great white shark"] and [e.number for e in kept] == [1, 2]
    assert kept[0].saved == [str(tmp_path / "made.png")] and not kept[1].saved
    assert np.array_equal(kept[0].result.adversarial, first.adversarial)
    history.select(kept[0])  # shown again: the same result line, measured in the first session
    assert again.result is kept[0].result and again.result_label.text() == first_line
    with qtbot.waitSignal(again.saved, timeout=60000):
        again.save_result(tmp_path / "again.png", kept[0])
    assert (tmp_path / "again.png").read_bytes() == (tmp_path / "made.png").read_bytes()  # byte for byte
    with qtbot.waitSignal(again.report_written, timeout=60000):
        write_report(again, kept[0], tmp_path / "kept.html")
    assert "Result: why goldfish" in (tmp_path / "kept.html").read_text()
    _run(qtbot, again, target=3, max_steps=20)
    assert [e.number for e in history.entries] == [1, 2, 3]


def test_runs_of_a_picture_since_replaced_are_not_read_back(qtbot, window, tmp_path):
    # Another picture under the same name: the kept runs' differences would be wrong.
    import shutil

    photo = tmp_path / "photo.jpg"
    shutil.copy(SAMPLES / "chelsea_cat.jpg", photo)
    _open(qtbot, window, photo)
    _run(qtbot, window, target=1, max_steps=20)
    history_folder = tmp_path / "history"
    qtbot.waitUntil(lambda: any(history_folder.glob("*/runs.pkl")), timeout=30000)  # written
    _open(qtbot, window, SAMPLES / "coffee.jpg")
    shutil.copy(SAMPLES / "coffee.jpg", photo)  # replaced
    _open(qtbot, window, photo)
    qtbot.waitUntil(lambda: window.session.runs.read, timeout=30000)
    assert window.history.list.count() == 0 and window.history.entries == []


# 6 ---------------------------------------------------------------------------------------
def test_svg_plot_is_vectors_only(qtbot, window, tmp_path):
    # Walked: in the SVG the as-saved dots were 8x8 bitmaps and the background a raster.
    from PySide6.QtWidgets import QGraphicsView

    from guiapp.gui.live_plot import CHECK_COLOUR

    _open(qtbot, window, SAMPLES / "chelsea_cat.jpg")
    _run(qtbot, window, target=1, max_steps=40)
    window.plot.add_check(1, 0.5)  # a dot more, as the worker's as-saved check adds them (a short run may have none)
    checks = len(window.plot.data.checks)
    window.plot.export(str(tmp_path / "plot.svg"))
    svg = (tmp_path / "plot.svg").read_text()
    assert "<image" not in svg  # no bitmap anywhere
    assert svg.count(f'fill="{CHECK_COLOUR.lower()}"') >= checks + 1  # each dot a path, and the legend's
    assert window.plot.canvas.cacheMode() == QGraphicsView.CacheModeFlag.CacheBackground  # the screen's, back


def test_a_kept_record_of_an_older_version_gains_the_new_fields_defaults():
    # A run kept by an older guiapp: its pickled dataclasses lack the fields added since
    # (the plot's query-mode points came after the History was first kept).
    import pickle

    from guiapp.gui.live_plot import PlotData
    from guiapp.gui.run_store import _completed

    old = PlotData(steps=[1, 2])
    del old.__dict__["victim"]  # as unpickled from before the field existed
    back = _completed([pickle.loads(pickle.dumps(old))])[0]
    assert back.victim == [] and back.steps == [1, 2]


# Reproducibility ---------------------------------------------------------------------------
def test_copy_as_command_gives_the_line_that_repeats_the_run(qtbot, window, tmp_path):
    # Edit > Copy as command: the run shown as a guiapp-cli line; the CLI's own parser reads
    # it back to the run's config, image, target and (once saved) file.
    import shlex

    from PySide6.QtWidgets import QApplication

    from guiapp.cli.attack_options import config_from_args
    from guiapp.cli.parser import build_parser

    assert not window.act_copy_command.isEnabled()  # nothing to copy before a run
    _open(qtbot, window, SAMPLES / "chelsea_cat.jpg")
    _run(qtbot, window, target=1, max_steps=37, eps=12.0)  # goldfish
    assert window.act_copy_command.isEnabled()
    window.act_copy_command.trigger()
    line = QApplication.clipboard().text()
    assert line.startswith("guiapp-cli attack ") and line in window.statusBar().currentMessage()
    args = build_parser().parse_args(shlex.split(line)[1:])
    assert args.image == SAMPLES / "chelsea_cat.jpg" and args.target == "goldfish" and args.output is None
    config = config_from_args(args)
    assert config == window.shown_entry().run.plan.config
    assert (config.max_steps, config.eps) == (37, 12.0)


# Judging "looks unchanged" by eye ----------------------------------------------------------
def test_blink_swipe_loupe_pixel_readout_and_the_difference_colour_bar(qtbot, window):
    import numpy as np
    from PySide6.QtCore import QPointF

    from guiapp.gui.view_pixels import pixel_readout

    _open(qtbot, window, SAMPLES / "chelsea_cat.jpg")
    views = window.views
    window.act_blink.trigger()  # nothing to blink before a result
    assert not views.blinked
    assert views.difference_scale.isHidden()  # no range to state over an empty Difference view
    _run(qtbot, window, target=1, max_steps=30)
    assert not views.difference_scale.isHidden()
    shown = lambda: views.items[1].image  # noqa: E731 - what the Adversarial view draws now
    assert np.array_equal(shown(), views.adversarial)
    window.act_blink.trigger()  # B: the original in the result's place
    assert views.blinked and np.array_equal(shown(), views.original)
    assert views.titles[1].text().startswith("Original")
    window.act_blink.trigger()  # B again: the result
    assert not views.blinked and np.array_equal(shown(), views.adversarial)
    # Swipe (W): the original left of the pointer, over the result, in the Adversarial view.
    window.act_swipe.trigger()
    assert views.swipe_button.isChecked() and views.swipe_overlay.item.isVisible()
    vb1 = views.views[1]
    vb1.scene().sigMouseMoved.emit(vb1.mapViewToScene(QPointF(100.5, 50.5)))
    assert views.swipe_overlay.item.image.shape[1] == 100 and np.array_equal(views.swipe_overlay.item.image,
                                                                      views.original[:, :100])
    assert views.swipe_overlay.line.value() == 100
    window.act_swipe.trigger()
    assert not views.swipe_overlay.item.isVisible() and not views.swipe_overlay.line.isVisible()
    # Loupe: 200% and 400%, one image pixel = 2 or 4 screen pixels.
    window.act_zoom4.trigger()
    assert round(views.zoom_percent()) == 400 and not views.fitted
    window.act_zoom2.trigger()
    assert round(views.zoom_percent()) == 200
    # The pixel under the pointer: position, both images, the change.
    changed = np.argwhere(np.any(views.adversarial != views.original, axis=2))[0]
    y, x = int(changed[0]), int(changed[1])
    vb = views.views[2]
    views.actual_size()
    views._centre = (x + 0.5, y + 0.5)
    views._apply()
    vb.scene().sigMouseMoved.emit(vb.mapViewToScene(QPointF(x + 0.5, y + 0.5)))
    text = views.readout.text()
    assert text == pixel_readout(views.original, views.adversarial, x + 0.5, y + 0.5)
    before, after = views.original[y, x].astype(int), views.adversarial[y, x].astype(int)
    assert text.startswith(f"({x}, {y})  {before[0]} {before[1]} {before[2]} → {after[0]} {after[1]} {after[2]}  (")
    # The Difference view's colour bar follows the gain.
    views.factor.setValue(32)
    assert views.difference_scale.text() == "±4 levels" and "4 levels darker" in views.difference_scale.bar.toolTip()
    assert not views.difference_scale.bar.pixmap().isNull()


def test_pixel_readout_outside_the_image_and_before_a_result():
    import numpy as np

    from guiapp.gui.view_pixels import pixel_readout

    grey = np.full((4, 6), 7, np.uint8)
    assert pixel_readout(grey, None, 6.2, 1) == "" and pixel_readout(grey, None, -0.5, 1) == ""
    assert pixel_readout(grey, None, 5.9, 3.9) == "(5, 3)  7"
    rgb = np.zeros((4, 6, 3), np.uint8)
    moved = rgb.copy()
    moved[1, 2] = (3, 0, 255)
    assert pixel_readout(rgb, moved, 2.5, 1.5) == "(2, 1)  0 0 0 → 3 0 255  (+3 0 +255)"


# 9 ---------------------------------------------------------------------------------------
def test_the_image_line_says_the_kind_of_picture_in_words(qtbot, window, tmp_path):
    import sys

    import numpy as np

    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
    from _imagefiles import png_bytes

    rng = np.random.default_rng(0)
    path = tmp_path / "scan16.png"
    path.write_bytes(png_bytes(rng.integers(0, 65536, (40, 48, 3)).astype(np.uint16), 16, 2))
    _open(qtbot, window, path)
    assert window.views.caption.text() == "scan16.png — 48x40, 16-bit RGB"
    assert "read as 8 bits per channel" in window.views.caption.toolTip()
    grey = tmp_path / "grey16.png"
    grey.write_bytes(png_bytes(rng.integers(0, 65536, (40, 48)).astype(np.uint16), 16, 0))
    _open(qtbot, window, grey)
    assert window.views.caption.text() == "grey16.png — 48x40, 16-bit greyscale"


def test_save_and_export_dialogs_open_where_the_user_last_saved(qtbot, window, tmp_path, monkeypatch):
    # Item 9: Save/Export dialogs always opened in the image's folder, and Export plot
    # always suggested plot.png.
    from PySide6.QtWidgets import QFileDialog

    out = tmp_path / "results"
    out.mkdir()
    asked = []

    def dialog(parent, title, start, *a, **k):
        asked.append(start)
        return ("", "")  # cancelled (after the first)

    _open(qtbot, window, SAMPLES / "chelsea_cat.jpg")
    _run(qtbot, window, target=1, max_steps=30)
    monkeypatch.setattr(QFileDialog, "getSaveFileName", lambda *a, **k: (asked.append(a[2]), (str(out / "p.png"),
                                                                                                 ""))[1])
    window.act_export_plot.trigger()
    assert asked[-1] == str(SAMPLES / "chelsea_cat_run1_plot.png")  # the image's folder at first; a name of its own
    assert (out / "p.png").is_file()
    monkeypatch.setattr(QFileDialog, "getSaveFileName", dialog)
    window.act_export_report.trigger()
    assert asked[-1] == str(out / "chelsea_cat_run1_report.html")  # where the plot went
    window.act_save.trigger()
    assert Path(asked[-1]).parent == out and Path(asked[-1]).name.startswith("chelsea_cat_adv_goldfish")


def test_the_noise_tab_has_colour_bars_with_the_runs_own_range(qtbot, window):
    # Item 9: the Noise heatmap had no colour scale.
    import numpy as np

    _open(qtbot, window, SAMPLES / "chelsea_cat.jpg")
    panel = window.noise_panel
    assert panel.magnitude_range.text() == ""
    window.show_tab(1)
    _run(qtbot, window, target=1, max_steps=30)
    qtbot.waitUntil(lambda: panel.magnitude_range.text() != "", timeout=30000)
    diff = np.abs(window.result.adversarial.astype(int) - window.image.rgb.astype(int))
    top = int(diff.max())
    assert panel.magnitude_range.text() == f"0 … {top} levels"
    assert panel.channel_range.text() == f"-{top} … 0 … +{top} levels"


def test_an_rgba_images_transparency_shows_over_a_checkerboard(qtbot, window, tmp_path):
    # Item 9: RGBA showed no transparency in the views.
    import numpy as np
    from PIL import Image

    rgba = np.zeros((48, 64, 4), np.uint8)
    rgba[..., 0] = 200
    rgba[:, 32:, 3] = 255  # left half transparent, right half opaque red
    Image.fromarray(rgba, "RGBA").save(tmp_path / "half.png")
    _open(qtbot, window, tmp_path / "half.png")
    shown = window.views.items[0].image
    assert tuple(shown[0, 40]) == (200, 0, 0)  # opaque: the colour
    assert {tuple(shown[0, 0]), tuple(shown[0, 8])} == {(204, 204, 204), (153, 153, 153)}  # transparent: the board
    assert np.array_equal(window.image.rgb[:, :, 0], np.full((48, 64), 200))  # the attacked pixels are untouched
    assert "kept in the output" in window.views.caption.text()


def test_the_suggestion_list_stays_on_the_screen(qtbot, window):
    # Item 9: suggestions ran off the screen's right edge (the list is as wide as its
    # longest row, and Qt opened it at the field's left edge).
    from PySide6.QtTest import QTest

    combo = window.target_field.combo
    area = combo.screen().availableGeometry()
    window.move(area.right() - window.width() + 1, window.y())  # the field near the right edge
    combo.lineEdit().setFocus()
    QTest.keyClicks(combo.lineEdit(), "snake")
    popup = combo.completer().popup()
    qtbot.waitUntil(popup.isVisible, timeout=5000)
    qtbot.wait(50)  # the placing runs once the list is shown
    assert popup.geometry().right() <= area.right() and popup.geometry().left() >= area.left()
    assert popup.width() > combo.width()  # still as wide as its rows, not cut to the field
