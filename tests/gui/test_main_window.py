from pathlib import Path

import numpy as np
import pytest
from PIL import Image
from window_steps import keep_live_lines
from window_steps import open_image as _open

from guiapp.core.predict import classify_pil
from guiapp.gui.defence_box import IDLE_TEXT

SAMPLES = Path(__file__).resolve().parents[2] / "resources" / "samples"



def test_attack_runs_live_and_saves_verified_png(qtbot, window, tmp_path, monkeypatch):
    _open(qtbot, window, SAMPLES / "chelsea_cat.jpg")
    assert window.views.filled() == [True, False, False]
    assert window.pred_original.top_name() in ("Egyptian cat", "tiger cat", "tabby")
    window.target_combo.set_target(1)  # goldfish
    window.form.field("max_steps").setValue(60)
    with qtbot.waitSignal(window.attack_finished, timeout=120000) as blocker:
        window.start_attack()
    result = blocker.args[0]
    assert result.success and not result.cancelled
    assert window.plot.point_count() == result.steps > 0
    assert window.views.filled() == [True, True, True]
    assert window.pred_adversarial.top_name() == "goldfish"
    assert window.act_save.isEnabled()

    # The image passed the app's own limit (Preferences); the re-read of the saved file must
    # not apply the core's default instead (a photo above 64 MP, allowed in Preferences,
    # was refused after the save). A default below this photo's 135_300 px shows it.
    from guiapp.core import imageio

    monkeypatch.setattr(imageio.load_image, "__defaults__", (100_000,))
    out = tmp_path / "adv.png"
    with qtbot.waitSignal(window.saved, timeout=30000):
        window.save_result(out)
    assert "goldfish" in window.save_label.text()
    assert int(classify_pil(window.model, Image.open(out)).argmax()) == 1


def test_stop_mid_run(qtbot, window):
    _open(qtbot, window, SAMPLES / "coffee.jpg")
    window.target_combo.set_target(1)
    window.form.field("max_steps").setValue(5000)
    window.form.field("eps").setValue(0.5)  # too small to succeed: it would run for long
    with qtbot.waitSignal(window.attack_finished, timeout=60000) as blocker:
        window.start_attack()
        qtbot.waitUntil(lambda: window.plot.point_count() >= 2, timeout=30000)
        window.stop_attack()
    assert blocker.args[0].cancelled
    assert window.plot.point_count() < 100
    assert "is unfinished, so it is not kept and cannot be saved" in window.result_label.text()
    assert not window.act_save.isEnabled()
    assert window.act_start.isEnabled() and not window.act_stop.isEnabled()


def test_restart_drops_stale_job(qtbot, window):
    _open(qtbot, window, SAMPLES / "coffee.jpg")
    window.target_combo.set_target(1)
    window.form.field("max_steps").setValue(30)
    window.start_attack()
    qtbot.waitUntil(lambda: window.plot.point_count() >= 1, timeout=30000)
    first = window.jobs.worker("attack")
    window.target_combo.set_target(2)
    with qtbot.waitSignal(window.attack_finished, timeout=120000) as blocker:
        window.start_attack()
    assert window.jobs.worker("attack") is not first
    assert blocker.args[0].target == 2  # only the new job's result arrived


def test_close_mid_run_leaves_no_thread(qtbot, settings):
    from guiapp.gui.main_window import MainWindow
    from guiapp.gui.workers import live_threads

    win = MainWindow(settings=settings, device="cpu")
    qtbot.addWidget(win)
    win.show()
    qtbot.waitUntil(lambda: win.model is not None, timeout=30000)
    with qtbot.waitSignal(win.image_ready, timeout=30000):
        win.open_image(SAMPLES / "coffee.jpg")
    win.target_combo.set_target(1)
    win.form.field("max_steps").setValue(5000)
    win.form.field("eps").setValue(0.5)
    win.start_attack()
    qtbot.waitUntil(lambda: win.plot.point_count() >= 1, timeout=30000)
    win.close()
    assert live_threads() == []


def test_bad_file_shows_error(qtbot, window, tmp_path):
    bad = tmp_path / "broken.jpg"
    bad.write_text("definitely not a jpeg")
    with qtbot.waitSignal(window.error_shown, timeout=10000) as blocker:
        window.open_image(bad)
    assert "not an image" in blocker.args[0]
    assert window.image is None


def test_ambiguous_label_offers_the_classes_to_click_without_a_modal(qtbot, window):
    # Issue 22, defect 6: "crane" got a message box and no choice to click.
    _open(qtbot, window, SAMPLES / "coffee.jpg")
    errors = []
    window.error_shown.connect(errors.append)
    window.target_combo.setEditText("crane")
    with qtbot.waitSignal(window.target_field.problem, timeout=5000) as blocker:
        window.start_button.click()
    assert "ambiguous" in blocker.args[0] and errors == [] and not window.jobs.running("attack")
    hint = window.target_field.hint
    assert hint.isVisible() and "crane (bird)" in hint.text() and "crane (machine)" in hint.text()
    bird = window.model.labels.resolve("n02012849")
    assert bird in window.target_field.choice_links()
    hint.linkActivated.emit(str(bird))  # what clicking the link does
    assert window.target_combo.target_index() == bird and not hint.isVisible()


def test_start_is_disabled_without_a_target_and_says_why(qtbot, window):
    # Issue 22, defect 6: Start was enabled with an empty target and answered with a modal.
    _open(qtbot, window, SAMPLES / "coffee.jpg")
    window.target_combo.lineEdit().clear()
    assert not window.start_button.isEnabled() and not window.act_start.isEnabled()
    assert window.panel.start_hint.isVisible() and "target" in window.panel.start_hint.text()
    qtbot.keyClicks(window.target_combo.lineEdit(), "goldfish")
    assert window.start_button.isEnabled() and not window.panel.start_hint.isVisible()


def test_save_refuses_input(qtbot, window, tmp_path):
    src = tmp_path / "in.png"
    Image.open(SAMPLES / "coffee.jpg").save(src)
    before = src.read_bytes()
    _open(qtbot, window, src)
    window.target_combo.set_target(1)
    with qtbot.waitSignal(window.attack_finished, timeout=120000):
        window.start_attack()
    with qtbot.waitSignal(window.error_shown, timeout=5000):
        window.save_result(src)
    assert src.read_bytes() == before


def test_settings_and_recent_files_persist(qtbot, settings, tmp_path):
    from guiapp.gui.main_window import MainWindow

    win = MainWindow(settings=settings, device="cpu")
    qtbot.addWidget(win)
    qtbot.waitUntil(lambda: win.model is not None, timeout=30000)
    with qtbot.waitSignal(win.image_ready, timeout=30000):
        win.open_image(SAMPLES / "coffee.jpg")
    win.form.field("eps").setValue(7.5)
    win.target_combo.set_target(42)
    win.close()
    again = MainWindow(settings=settings, device="cpu")
    qtbot.addWidget(again)
    qtbot.waitUntil(lambda: again.model is not None, timeout=30000)
    assert again.form.field("eps").value() == 7.5
    assert int(again.target_combo.currentData()) == 42
    assert again.recent_files()[0].endswith("coffee.jpg")
    again.close()


def test_difference_view_amplifies():
    from guiapp.gui.view_pixels import amplified_difference

    a = np.full((4, 4, 3), 100, np.uint8)
    b = a.copy()
    b[0, 0, 0] = 101
    d = amplified_difference(a, b, 20)
    assert d[0, 0, 0] == 148 and d[1, 1, 1] == 128


def test_defence_panel_reports_survival(qtbot, window):
    _open(qtbot, window, SAMPLES / "chelsea_cat.jpg")
    window.target_combo.set_target(1)
    window.form.set_mode("robust")
    with qtbot.waitSignal(window.attack_finished, timeout=120000) as blocker:
        window.start_attack()
    assert blocker.args[0].success
    # Issue 34 item 9: the result line says what the robust result was checked against.
    line = window.result_label.text()
    assert "survives " in line and "jpeg quality 50/75/90" in line and "median size 3/5" in line
    window.defences.combo.setCurrentIndex(window.defences.combo.findData("jpeg"))
    with qtbot.waitSignal(window.defence_done, timeout=30000) as done:
        window.apply_defence()
    assert done.args[0] is True  # robust noise survives JPEG-75
    assert "survived" in window.defences.label.text()
    assert window.defences.image.pixmap() is not None and not window.defences.image.pixmap().isNull()


# ---------------------------------------------------------------- rough edges (issue 10)
def _short_run(qtbot, window, target=1, steps=60):
    window.target_combo.set_target(target)
    window.form.field("max_steps").setValue(steps)
    with qtbot.waitSignal(window.attack_finished, timeout=120000) as blocker:
        window.start_attack()
    return blocker.args[0]


def test_stop_says_stopped_not_optimising(qtbot, window):
    _open(qtbot, window, SAMPLES / "coffee.jpg")
    window.target_combo.set_target(1)
    window.form.field("max_steps").setValue(5000)
    window.form.field("eps").setValue(0.5)
    with qtbot.waitSignal(window.attack_finished, timeout=60000) as blocker:
        window.start_attack()
        qtbot.waitUntil(lambda: window.plot.point_count() >= 2, timeout=30000)
        window.stop_attack()
    result = blocker.args[0]
    title = window.views.titles[1].text()
    assert "optimising" not in title and f"stopped at step {result.steps}" in title
    assert "Stopped" in window.result_label.text()
    assert not window.live_label.isVisible() or window.live_label.text() == ""
    # Issue 34 item 9: the status bar no longer shows the stopped run's rate as if running.
    assert window.status_rate.text() == f"stopped after {result.steps} steps"


def test_opening_another_image_clears_the_last_run(qtbot, window):
    _open(qtbot, window, SAMPLES / "chelsea_cat.jpg")
    _short_run(qtbot, window)
    with qtbot.waitSignal(window.defence_done, timeout=30000):
        window.apply_defence()
    assert not window.defences.image.pixmap().isNull()
    window.panel.show_line(window.live_label, "live: step 3")  # as during a run
    _open(qtbot, window, SAMPLES / "coffee.jpg")
    assert window.defences.image.pixmap().isNull()
    assert window.defences.label.text() == IDLE_TEXT
    for label in (window.live_label, window.result_label, window.save_label):
        assert label.text() == ""
    assert window.pred_adversarial.top_name() == ""
    assert window.views.filled() == [True, False, False]
    assert window.plot.point_count() == 0


def test_a_running_defence_is_cancelled_by_its_button(qtbot, window):
    # Deep Image Prior takes minutes on a busy CPU and its button stayed "Apply": nothing
    # stopped it short of opening another image. The old defence's picture also stayed.
    from guiapp.gui.workers import live_threads

    _open(qtbot, window, SAMPLES / "chelsea_cat.jpg")
    errors = []
    window.error_shown.connect(errors.append)
    box = window.defences
    with qtbot.waitSignal(window.defence_done, timeout=30000):
        box.button.click()  # rescale, on the original
    assert not box.image.pixmap().isNull()
    box.combo.setCurrentIndex(box.combo.findData("dip"))
    box.button.click()
    assert box.running and box.button.text() == "Cancel" and box.image.pixmap().isNull()
    box.button.click()
    # Cancelled: the rescale's picture and line come back (issue 34 item 7).
    cancelled = box.label.text()
    assert not box.running and box.button.text() == "Apply" and cancelled.startswith("Cancelled dip")
    assert "rescale" in cancelled and not box.image.pixmap().isNull()
    qtbot.waitUntil(lambda: not live_threads(), timeout=60000)  # the worker really stopped
    assert box.label.text() == cancelled and errors == []  # its late "cancelled" failure is not shown
    box.combo.setCurrentIndex(box.combo.findData("median"))
    with qtbot.waitSignal(window.defence_done, timeout=30000):
        box.button.click()
    assert box.button.text() == "Apply" and "the model now sees" in box.label.text()
    box.combo.setCurrentIndex(box.combo.findData("dip"))
    box.button.click()
    with qtbot.waitSignal(window.model_ready, timeout=60000):
        window.load_model("efficientnet-lite0")  # another model (the same name: cheap) mid-defence
    assert not box.running and box.button.text() == "Apply" and box.label.text() == IDLE_TEXT
    qtbot.waitUntil(lambda: not live_threads(), timeout=60000)


def test_a_new_run_clears_the_last_defence(qtbot, window):
    _open(qtbot, window, SAMPLES / "chelsea_cat.jpg")
    _short_run(qtbot, window)
    with qtbot.waitSignal(window.defence_done, timeout=30000):
        window.apply_defence()
    _short_run(qtbot, window, target=2)
    assert window.defences.image.pixmap().isNull() and window.defences.label.text() == IDLE_TEXT


def test_step_axis_has_whole_steps_and_legends_outside_the_plots(window):
    plot = window.plot
    for low, high, pixels in ((0, 2, 400), (1, 7, 500), (0, 10, 300), (1, 1.5, 400)):
        for _spacing, values in plot.loss_plot.getAxis("bottom").tickValues(low, high, pixels):
            assert all(float(v).is_integer() for v in values), values
    for item in (plot.loss_plot, plot.conf_plot):
        assert item.legend is None  # no legend box inside the plot area for a curve to cross
    assert "class&nbsp;loss" in plot.legend.text() and "source" in plot.legend.text()


def test_result_line_says_what_is_measured(qtbot, window):
    _open(qtbot, window, SAMPLES / "chelsea_cat.jpg")
    result = _short_run(qtbot, window)
    assert result.success
    text = window.result_label.text()
    assert "Target reached" in text and "PSNR" in text and "SSIM" in text
    assert "saved 8-bit image, efficientnet&#8209;lite0: goldfish" in text
    first = next(r.step for r in result.history if r.adversarial)  # the plot's dashed line
    assert (f"at step {first} of {result.steps}" if first < result.steps else f"in {result.steps} steps") in text
    assert "as saved" in window.predictions.adversarial_caption.text()
    assert "Live values" in window.live_label.toolTip() and "as saved" in window.live_label.toolTip()


def test_save_as_jpeg_offers_png_and_keeps_the_result_line(qtbot, window, tmp_path, monkeypatch):
    from PySide6.QtWidgets import QFileDialog, QMessageBox

    _open(qtbot, window, SAMPLES / "chelsea_cat.jpg")
    _short_run(qtbot, window)
    asked = []
    monkeypatch.setattr(QFileDialog, "getSaveFileName", lambda *a, **k: (str(tmp_path / "x.jpg"), ""))
    monkeypatch.setattr(QMessageBox, "question", lambda parent, title, text, *a: asked.append(text) or QMessageBox.Save)
    with qtbot.waitSignal(window.saved, timeout=30000) as blocker:
        window.act_save.trigger()
    assert blocker.args[0] == str(tmp_path / "x.png")
    assert (tmp_path / "x.png").exists() and not (tmp_path / "x.jpg").exists() and not (tmp_path / "x.jpg.png").exists()
    assert len(asked) == 1 and "JPG would destroy the noise" in asked[0] and "x.png" in asked[0]
    assert "Saved" in window.save_label.text() and "Target reached" in window.result_label.text()


def test_save_over_the_input_is_refused_before_asking_to_replace(qtbot, window, tmp_path, monkeypatch):
    from PySide6.QtWidgets import QFileDialog, QMessageBox

    src = tmp_path / "in.png"
    Image.open(SAMPLES / "coffee.jpg").save(src)
    before = src.read_bytes()
    _open(qtbot, window, src)
    _short_run(qtbot, window)
    options, asked = [], []

    def fake_dialog(parent, caption, directory, filter, *args, **kwargs):
        options.append(kwargs.get("options", args[1] if len(args) > 1 else None))
        return str(src), ""

    monkeypatch.setattr(QFileDialog, "getSaveFileName", fake_dialog)
    monkeypatch.setattr(QMessageBox, "question", lambda *a: asked.append(a) or QMessageBox.Yes)
    with qtbot.waitSignal(window.error_shown, timeout=5000) as blocker:
        window.act_save.trigger()
    assert "refusing to overwrite the input" in blocker.args[0]
    assert asked == []  # nobody was asked "Replace?" for a save we refuse anyway
    assert options[0] & QFileDialog.Option.DontConfirmOverwrite  # Qt's own "Replace?" is off
    assert src.read_bytes() == before


def test_save_asks_before_replacing_another_file(qtbot, window, tmp_path, monkeypatch):
    from PySide6.QtWidgets import QFileDialog, QMessageBox

    _open(qtbot, window, SAMPLES / "chelsea_cat.jpg")
    _short_run(qtbot, window)
    existing = tmp_path / "old.png"
    existing.write_bytes(b"keep me")
    monkeypatch.setattr(QFileDialog, "getSaveFileName", lambda *a, **k: (str(existing), ""))
    monkeypatch.setattr(QMessageBox, "question", lambda *a: QMessageBox.No)
    window.act_save.trigger()
    qtbot.wait(200)
    assert existing.read_bytes() == b"keep me"


def test_label_completer_suggests_misspellings_and_ranks_cats(qtbot, window):
    from PySide6.QtTest import QTest

    combo = window.target_combo
    combo.lineEdit().clear()
    QTest.keyClicks(combo.lineEdit(), "golfish")
    rows = combo.suggestions.stringList()
    assert rows and rows[0].startswith("goldfish")
    qtbot.waitUntil(lambda: combo.completer().popup().isVisible(), timeout=2000)
    assert combo.lineEdit().text() == "golfish"  # suggestions never overwrite what is typed
    combo.lineEdit().clear()
    QTest.keyClicks(combo.lineEdit(), "cat")
    names = [row.split("  (")[0] for row in combo.suggestions.stringList()]
    assert names[:5] == ["tabby", "tiger cat", "Persian cat", "Siamese cat", "Egyptian cat"]
    texts = [combo.itemText(i) for i in range(combo.count())]
    assert any(t.startswith("crane (bird)") for t in texts) and any(t.startswith("crane (machine)") for t in texts)


def test_unknown_label_error_suggests_without_naming_the_cli(qtbot, window):
    _open(qtbot, window, SAMPLES / "coffee.jpg")
    window.target_combo.setEditText("golfish")
    with qtbot.waitSignal(window.target_field.problem, timeout=5000) as blocker:
        window.start_attack()
    hint = window.target_field.hint.text()
    assert "goldfish" in blocker.args[0] and "guiapp-cli" not in hint and "goldfish" in hint
    assert window.target_field.choice_links()[0] == 1


def test_a_label_near_nothing_says_what_to_type_instead(qtbot, window):
    # Walked: "Unknown label 'blorptastic'." and no next step.
    _open(qtbot, window, SAMPLES / "coffee.jpg")
    window.target_combo.setEditText("blorptastic")
    with qtbot.waitSignal(window.target_field.problem, timeout=5000):
        window.start_attack()
    hint = window.target_field.hint.text()
    assert "blorptastic" in hint and "Type part of a class name" in hint and "0-999" in hint
    assert window.target_field.choice_links() == []


def test_window_fits_1366x768_with_everything_visible(qtbot, window):
    from PySide6.QtCore import QPoint, QSize

    from guiapp.gui.window_state import default_size

    assert default_size(QSize(1366, 768)) == QSize(1366, 768)
    assert default_size(QSize(1920, 1080)) == QSize(1400, 880)
    window.resize(1366, 728)  # a 768-px screen less a panel
    qtbot.wait(100)
    assert window.minimumSizeHint().height() <= 728 and window.minimumSizeHint().width() <= 1366
    viewport = window.side_scroll.viewport()
    for widget in (window.form, window.start_button):
        bottom = widget.mapTo(viewport, QPoint(0, widget.height())).y()
        assert 0 <= bottom <= viewport.height(), f"{type(widget).__name__} ends at {bottom} > {viewport.height()}"
    for widget in (window.views, window.plot, window.predictions):
        assert widget.isVisible() and widget.height() > 100
    window.show_tab(3)
    qtbot.wait(50)
    assert window.defences.button.isVisible() and window.defences.image.height() >= 96


def test_help_about_and_shortcuts(qtbot, window):
    from PySide6.QtGui import QKeySequence

    from guiapp import __version__

    menus = [a.text().replace("&", "") for a in window.menuBar().actions()]
    assert "Help" in menus and "View" in menus
    box = window.show_about()
    text = box.text()
    assert __version__ in text and "efficientnet-lite0" in text and "cpu" in text and "MIT" in text
    box.close()
    assert window.act_batch.shortcut() == QKeySequence("Ctrl+B")
    assert window.act_start.shortcut() == QKeySequence("Ctrl+R")


def test_captions_under_the_views_are_readable(qtbot, window):
    from PySide6.QtGui import QPalette

    def luminance(c):
        def lin(v):
            v /= 255
            return v / 12.92 if v <= 0.03928 else ((v + 0.055) / 1.055) ** 2.4
        return 0.2126 * lin(c.red()) + 0.7152 * lin(c.green()) + 0.0722 * lin(c.blue())

    _open(qtbot, window, SAMPLES / "coffee.jpg")
    for label in (window.views.caption, *window.views.titles):
        fg = label.palette().color(QPalette.WindowText)
        bg = label.palette().color(QPalette.Window)
        light, dark = sorted((luminance(fg), luminance(bg)), reverse=True)
        assert (light + 0.05) / (dark + 0.05) >= 4.5, f"{label.text()!r}: contrast below WCAG AA"


def test_preferences_limit_is_used_when_opening(qtbot, window):
    dialog = window.open_preferences()
    dialog.megapixels.setValue(0.1)  # 100,000 pixels: the 600x400 coffee is 240,000
    dialog.accept()
    with qtbot.waitSignal(window.error_shown, timeout=10000) as blocker:
        window.open_image(SAMPLES / "coffee.jpg")
    assert "over the limit" in blocker.args[0] and "Preferences" in blocker.args[0]
    assert window.image is None
    dialog = window.open_preferences()
    dialog.megapixels.setValue(64)
    dialog.accept()
    _open(qtbot, window, SAMPLES / "coffee.jpg")


def test_mode_choice_and_a_form_generated_from_the_options(qtbot, window):
    from guiapp.core.attacks import MODES, TransferConfig, options_of

    form = window.form
    assert [form.mode.itemData(i) for i in range(form.mode.count())] == list(MODES)
    form.set_mode("robust")
    assert form.config().mode == "robust"
    form.set_mode("transfer")
    config = form.config()
    assert isinstance(config, TransferConfig) and config.surrogates
    # every option marked for the window has a row, shown only in its own mode
    shown = {s.name for s in options_of("transfer") if s.meta.gui}
    assert {"iterations", "surrogates", "centroid_weight", "eps"} <= shown
    assert all(form.field(name).isVisibleTo(window) for name in shown)
    assert not form.field("refine_steps", "default").isVisibleTo(window)
    assert form.judges.isVisibleTo(window)
    # each mode has its own centroid weight, with its own default
    assert not form.field("centroid_weight", "default").isVisibleTo(window)
    assert config.centroid_weight == TransferConfig().centroid_weight > 0
    form.field("centroid_weight").setValue(0.0)
    assert form.config().centroid_weight == 0.0
    form.set_mode("default")
    assert form.field("refine_steps").isVisibleTo(window) and form.judges.isVisibleTo(window)
    assert not form.field("centroid_weight", "transfer").isVisibleTo(window)
    assert form.config().centroid_weight == 0.0 and form.field("centroid_weight").value() == 0.0
    # "auto" is the lowest value of the refine spin box and means None (the mode's default)
    assert form.field("refine_steps").specialValueText() == "auto" and form.config().refine_steps is None


@pytest.mark.slow
def test_transfer_mode_shows_surrogates_and_judges_verdicts(qtbot, window, monkeypatch):
    form = window.form
    _open(qtbot, window, SAMPLES / "chelsea_cat.jpg")
    window.target_combo.set_target(1)
    form.set_mode("transfer")
    form.field("iterations").setValue(3)
    form.field("surrogates").set_checked(["efficientnet-lite0"])
    form.judges.set_checked(["efficientnet-lite1"])
    shown = keep_live_lines(monkeypatch, window)
    with qtbot.waitSignal(window.judges_done, timeout=180000) as judged:
        with qtbot.waitSignal(window.attack_finished, timeout=180000) as blocker:
            window.start_attack()
    result = blocker.args[0]
    assert not result.cancelled and result.steps >= 1
    seen = [text for text, _ in shown if text]  # a 3-step run may end before a step is shown
    assert seen and "transfer on efficientnet-lite0" in seen[-1], shown
    assert "crafting model: efficientnet-lite0 sees" in window.result_label.text()
    (name, top, conf, hit), = judged.args[0]
    assert name == "efficientnet-lite1" and 0 <= conf <= 1 and hit == (top == "goldfish")
    text = window.panel.judges_label.text()
    assert "efficientnet-lite1" in text and ("not fooled" in text or "fooled" in text)


def test_transfer_without_centroids_for_a_surrogate_says_what_to_do(qtbot, window, monkeypatch, tmp_path):
    monkeypatch.setattr("guiapp.core.attacks.centroid_terms.default_centroid_path",
                        lambda name: tmp_path / f"{name}.npz")
    form = window.form
    _open(qtbot, window, SAMPLES / "coffee.jpg")
    window.target_combo.set_target(1)
    form.set_mode("transfer")
    form.field("surrogates").set_checked(["efficientnet-lite0"])
    with qtbot.waitSignal(window.error_shown, timeout=60000) as blocker:
        window.start_attack()
    assert "no centroids for surrogate efficientnet-lite0" in blocker.args[0]
    assert "set the centroid weight to 0" in blocker.args[0]
    qtbot.waitUntil(lambda: window.act_start.isEnabled(), timeout=10000)
    assert not window.live_label.isVisibleTo(window)  # no "starting…" left under a run that never started
    assert window.views.titles[1].text() == "Adversarial (failed)"


def test_start_refuses_an_attack_that_would_not_fit(qtbot, window, monkeypatch):
    from guiapp.core import memory

    _open(qtbot, window, SAMPLES / "coffee.jpg")
    monkeypatch.delenv("GUIAPP_MEMORY_CHECK", raising=False)
    monkeypatch.setattr(memory, "available_bytes", lambda device=None: (50 * memory.MIB, "RAM"))
    window.target_combo.set_target(1)
    with qtbot.waitSignal(window.error_shown, timeout=5000) as blocker:
        window.start_attack()
    assert "GiB of RAM" in blocker.args[0] and "Edit > Preferences" in blocker.args[0]
    assert not window.jobs.running("attack") and window.act_start.isEnabled()


def test_what_reading_changed_stays_in_the_status_bar(qtbot, window, tmp_path):
    # "animated GIF: only the first frame is used" flashed for an instant: "Classifying…"
    # replaced it and was then cleared, so a user never saw it.
    frames = [Image.open(SAMPLES / "coffee.jpg").convert("RGB").rotate(a) for a in (0, 30)]
    gif = tmp_path / "anim.gif"
    frames[0].save(gif, save_all=True, append_images=frames[1:], duration=100)
    _open(qtbot, window, gif)
    qtbot.waitUntil(lambda: not window.busy.isVisible(), timeout=30000)
    assert "only the first frame is used" in window.statusBar().currentMessage()
    _open(qtbot, window, SAMPLES / "coffee.jpg")  # nothing changed in reading this one
    qtbot.waitUntil(lambda: not window.busy.isVisible(), timeout=30000)
    assert window.statusBar().currentMessage() == ""


@pytest.mark.slow
def test_a_transfer_result_saved_from_the_window_is_the_one_the_cli_writes(qtbot, window, tmp_path, capsys):
    """One pipeline for every front-end: the same image, target, settings and seed give the
    same PNG metadata (crafting models and their weights, not the window's model) and the
    same judge verdicts from the window as from guiapp-cli attack."""
    import json

    from guiapp.cli import main
    from guiapp.core.png_output import read_png_metadata

    src = tmp_path / "coffee.jpg"
    src.write_bytes((SAMPLES / "coffee.jpg").read_bytes())
    form = window.form
    _open(qtbot, window, src)
    window.target_combo.set_target(1)
    form.set_mode("transfer")
    form.field("iterations").setValue(2)
    form.field("surrogates").set_checked(["efficientnet-lite1"])
    form.judges.set_checked(["efficientnet-lite0"])
    with qtbot.waitSignal(window.judges_done, timeout=180000) as judged:
        with qtbot.waitSignal(window.attack_finished, timeout=180000):
            window.start_attack()
    with qtbot.waitSignal(window.saved, timeout=60000):
        window.save_result(tmp_path / "window.png")

    rc = main(["attack", str(src), "-t", "1", "--mode", "transfer", "--iterations", "2",
               "--surrogates", "efficientnet-lite1", "--judge", "efficientnet-lite0", "--device", "cpu",
               "-o", str(tmp_path / "cli.png"), "--json"])
    report = json.loads(capsys.readouterr().out)
    assert rc in (0, 1)
    window_meta, cli_meta = read_png_metadata(tmp_path / "window.png"), read_png_metadata(tmp_path / "cli.png")
    assert window_meta == cli_meta
    assert window_meta["model"] == "efficientnet-lite1" and window_meta["mode"] == "transfer"
    (name, top, conf, hit), = judged.args[0]
    cli_verdict = report["judges"]["efficientnet-lite0"]
    assert (name, top, hit) == ("efficientnet-lite0", cli_verdict["top1_name"], cli_verdict["success"])
    assert conf == pytest.approx(cli_verdict["confidence"], abs=1e-6)
    # and the window's save line is the CLI's verification: the surrogate re-reads the file
    assert report["final_name"] in window.save_label.text()


def test_the_verdict_names_the_step_that_reached_the_target():
    # A run that goes on after its first hit (refining; the transfer mode's fixed iterations)
    # said "Target reached in 150 steps" with the plot's first-hit line at 125.
    import numpy as np

    from guiapp.core.attacks.base import AttackResult, StepRecord
    from guiapp.gui.run_report import verdict

    def record(step, hit):
        return StepRecord(step=step, phase="search", loss=1.0, class_loss=1.0, centroid_loss=0.0, target_conf=0.5,
                          source_conf=0.1, top1=1, linf=3.0, psnr=45.0, adversarial=hit, best_psnr=45.0)

    def result(hits):
        return AttackResult(adversarial=np.zeros((2, 2, 3), np.uint8), success=True, cancelled=False,
                            steps=len(hits), source=0, target=1, target_conf=0.5, top1=1, top1_conf=0.5,
                            history=[record(i + 1, hit) for i, hit in enumerate(hits)])

    assert "at step 2 of 4" in verdict(result([False, True, True, False]))
    assert "in 3 steps" in verdict(result([False, False, True]))
