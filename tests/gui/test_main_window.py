from pathlib import Path

import numpy as np
from PIL import Image

from guiapp.core.attack import classify_pil

SAMPLES = Path(__file__).resolve().parents[2] / "resources" / "samples"


def _open(qtbot, window, path):
    with qtbot.waitSignal(window.image_ready, timeout=30000):
        window.open_image(path)


def test_attack_runs_live_and_saves_verified_png(qtbot, window, tmp_path):
    _open(qtbot, window, SAMPLES / "chelsea_cat.jpg")
    assert window.views.filled() == [True, False, False]
    assert window.pred_original.top_name() in ("Egyptian cat", "tiger cat", "tabby")
    window.target_combo.set_target(1)  # goldfish
    window.form.steps.setValue(60)
    with qtbot.waitSignal(window.attack_finished, timeout=120000) as blocker:
        window.start_attack()
    result = blocker.args[0]
    assert result.success and not result.cancelled
    assert window.plot.point_count() == result.steps > 0
    assert window.views.filled() == [True, True, True]
    assert window.pred_adversarial.top_name() == "goldfish"
    assert window.act_save.isEnabled()

    out = tmp_path / "adv.png"
    with qtbot.waitSignal(window.saved, timeout=30000):
        window.save_result(out)
    assert "goldfish" in window.save_label.text()
    assert int(classify_pil(window.model, Image.open(out)).argmax()) == 1


def test_stop_mid_run(qtbot, window):
    _open(qtbot, window, SAMPLES / "coffee.jpg")
    window.target_combo.set_target(1)
    window.form.steps.setValue(5000)
    window.form.eps.setValue(0.5)  # too small to succeed: it would run for long
    with qtbot.waitSignal(window.attack_finished, timeout=60000) as blocker:
        window.start_attack()
        qtbot.waitUntil(lambda: window.plot.point_count() >= 2, timeout=30000)
        window.stop_attack()
    assert blocker.args[0].cancelled
    assert window.plot.point_count() < 100
    assert window.act_start.isEnabled() and not window.act_stop.isEnabled()


def test_restart_drops_stale_job(qtbot, window):
    _open(qtbot, window, SAMPLES / "coffee.jpg")
    window.target_combo.set_target(1)
    window.form.steps.setValue(30)
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
    win.form.steps.setValue(5000)
    win.form.eps.setValue(0.5)
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


def test_unknown_label_shows_error(qtbot, window):
    _open(qtbot, window, SAMPLES / "coffee.jpg")
    window.target_combo.setEditText("crane")
    with qtbot.waitSignal(window.error_shown, timeout=5000) as blocker:
        window.start_attack()
    assert "ambiguous" in blocker.args[0]


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
    win.form.eps.setValue(7.5)
    win.target_combo.set_target(42)
    win.close()
    again = MainWindow(settings=settings, device="cpu")
    qtbot.addWidget(again)
    qtbot.waitUntil(lambda: again.model is not None, timeout=30000)
    assert again.form.eps.value() == 7.5
    assert int(again.target_combo.currentData()) == 42
    assert again.recent_files()[0].endswith("coffee.jpg")
    again.close()


def test_difference_view_amplifies():
    from guiapp.gui.image_views import amplified_difference

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
    window.defences.combo.setCurrentIndex(window.defences.combo.findData("jpeg"))
    with qtbot.waitSignal(window.defence_done, timeout=30000) as done:
        window.apply_defence()
    assert done.args[0] is True  # robust noise survives JPEG-75
    assert "survived" in window.defences.label.text()
    assert window.defences.image.pixmap() is not None and not window.defences.image.pixmap().isNull()
