"""The transfer presets in the window: quiet (the default) and loud, chosen in the Preset
box, run and saved as a user would, and remembered between sessions."""

from pathlib import Path

import numpy as np
from PIL import Image

SAMPLES = Path(__file__).resolve().parents[2] / "resources" / "samples"


def _choose(box, name):
    """Pick a preset as the user does (the box's activated signal)."""
    i = box.findData(name)
    box.setCurrentIndex(i)
    box.activated.emit(i)


def _run_and_save(qtbot, window, path):
    window.form.field("iterations").setValue(2)
    window.form.field("surrogates").set_checked(["efficientnet-lite0"])
    window.target_combo.set_target(1)
    with qtbot.waitSignal(window.attack_finished, timeout=180000):
        window.start_attack()
    with qtbot.waitSignal(window.saved, timeout=60000):
        window.save_result(path)
    return np.asarray(Image.open(path).convert("RGB")).astype(int)


def test_presets_set_the_fields_run_and_are_remembered(qtbot, window, settings, tmp_path):
    with qtbot.waitSignal(window.image_ready, timeout=30000):
        window.open_image(SAMPLES / "coffee.jpg")
    form = window.form
    form.set_mode("transfer")
    box = form.presets["transfer"]
    assert box.isVisibleTo(window) and form.preset() == "quiet" and form.config().budget == "perceptual"
    assert "loud" in box.toolTip() and "16/255" in box.toolTip()

    _choose(box, "loud")
    assert form.field("eps").value() == 16 and form.field("iterations").value() == 100
    # Issue 34 item 9: loud's own values are not changes (Iterations was bold at loud's 100).
    label = form.form.labelForField(form.fields["transfer"]["iterations"].widget)
    assert not label.font().bold()
    form.field("iterations").setValue(120)
    assert label.font().bold() and "loud preset's value (100)" in label.toolTip()
    form.field("iterations").setValue(100)
    config = form.config()
    assert config.budget == "linf" and config.p_full == 0 and config.zoom_max == 1  # hidden options too
    psnr_field = form.field("budget_psnr")
    assert not psnr_field.isEnabled() and "Not used: budget is linf" in psnr_field.toolTip()
    original = window.image.rgb.astype(int)
    inside = ((original > 20) & (original < 235)).all(2)
    loud = _run_and_save(qtbot, window, tmp_path / "loud.png") - original
    assert (loud.max(2) - loud.min(2))[inside].max() > 1  # colour noise

    _choose(box, "quiet")
    assert form.config().budget == "perceptual" and form.field("iterations").value() != 2  # the preset's value
    assert psnr_field.isEnabled()
    quiet = _run_and_save(qtbot, window, tmp_path / "quiet.png") - original
    assert np.abs(quiet).max() > 0 and (quiet.max(2) - quiet.min(2))[inside].max() <= 1  # brightness only
    qtbot.waitUntil(lambda: "HaarPSI" in window.result_label.text(), timeout=60000)
    line = window.result_label.text()  # the perceptual figures beside PSNR and SSIM
    assert "PSNR" in line and "SSIM" in line and "CIEDE2000" in line and "HaarPSI" in line
    # 2 quiet iterations cannot reach a goldfish: the advice fits the quiet budget
    assert "Target not reached" in line and "lower Budget PSNR" in line and "loud preset" in line
    # The table's model crafted this noise, and its heading says so until another image opens
    assert window.predictions.title() == "Predictions of efficientnet-lite0 (a surrogate of this run)"
    with qtbot.waitSignal(window.image_ready, timeout=30000):
        window.open_image(SAMPLES / "chelsea_cat.jpg")
    assert window.predictions.title() == "Predictions of efficientnet-lite0"

    form.set_mode("default")
    assert not box.isVisibleTo(window)  # the default mode has no presets
    form.set_mode("transfer")
    _choose(box, "loud")
    window.close()

    from guiapp.gui.main_window import MainWindow

    again = MainWindow(settings=settings, device="cpu")
    qtbot.addWidget(again)
    qtbot.waitUntil(lambda: again.model is not None, timeout=60000)
    assert again.form.current_mode() == "transfer" and again.form.preset("transfer") == "loud"
    assert again.form.config().budget == "linf"
    again.close()
