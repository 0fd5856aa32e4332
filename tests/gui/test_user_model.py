"""A user's own model in the window: Add model…, its labels in the target field, an attack
by label name, remembered across a restart, and Check on a folder."""

from __future__ import annotations

import pytest
from PySide6.QtCore import Qt
from PySide6.QtWidgets import QFileDialog, QMessageBox

from guiapp.gui.user_model_ui import remember, remembered

from _user_models import COLOURS, ColourNet, colour_photos, export_all, photo, write_card
from _user_models import fruit_onnx as make_fruit_onnx

pytest.importorskip("onnxruntime")


@pytest.fixture
def fruit_onnx(tmp_path):
    return make_fruit_onnx(tmp_path)


def add_model(qtbot, window, monkeypatch, path):
    monkeypatch.setattr(QFileDialog, "getOpenFileName", lambda *a, **k: (str(path), ""))
    with qtbot.waitSignal(window.model_ready, timeout=60000):
        window.act_add_model.trigger()


def test_add_model_labels_attack_and_remembered(qtbot, window, monkeypatch, fruit_onnx, tmp_path, settings):
    add_model(qtbot, window, monkeypatch, fruit_onnx)
    assert window.model.name == str(fruit_onnx) and window.model_combo.currentText() == "fruit.onnx"
    assert window.target_combo.count() == 10 and window.target_combo.itemText(9).startswith("date")
    note = window.panel.model_note.text()
    assert window.panel.model_note.isVisibleTo(window) and "10 classes (apple, banana, cherry" in note
    # the target field searches this model's labels
    window.target_combo.setEditText("dried date")
    assert window.target_field.resolve() == 9
    from window_steps import open_image

    open_image(qtbot, window, photo(tmp_path / "p.png"))
    window.target_combo.setEditText("dried date")
    with qtbot.waitSignal(window.attack_finished, timeout=120000) as blocker:
        window.start_attack()
    result = blocker.args[0]
    assert result.success and result.target == 9
    assert "date" in window.panel.result_label.text()
    window.close()

    # A new window with the same settings lists the model and starts with it.
    from guiapp.gui.main_window import MainWindow

    again = MainWindow(settings=settings, device="cpu")
    qtbot.addWidget(again)
    again.show()
    qtbot.waitUntil(lambda: again.model is not None, timeout=60000)
    assert again.model.name == str(fruit_onnx) and again.model_combo.findData(str(fruit_onnx)) >= 0
    assert again.target_combo.count() == 10
    assert again.form.judges.findItems("fruit.onnx (crafting)", Qt.MatchFlag.MatchExactly)  # listed again (it crafts)


def test_add_model_cancelled_keeps_the_model(qtbot, window, monkeypatch):
    before = window.model.name
    monkeypatch.setattr(QFileDialog, "getOpenFileName", lambda *a, **k: ("", ""))
    window.act_add_model.trigger()
    assert window.model.name == before and window.model_combo.currentData() == before


def test_a_file_that_is_not_a_model_says_why_then_the_model_in_use_is_back(qtbot, window, monkeypatch, tmp_path,
                                                                            settings):
    # Walked: after the error box, the list stayed on bad.onnx, Start off under "The model is
    # loading…" for good, "no model" in the status bar, and bad.onnx listed as a choice.
    from window_steps import SAMPLES, open_image

    open_image(qtbot, window, SAMPLES / "chelsea_cat.jpg")
    window.target_combo.set_target(1)
    before, status = window.model.name, window.status_model.text()
    assert window.start_button.isEnabled()
    bad = tmp_path / "bad.onnx"
    bad.write_text("not a model, a text file")
    monkeypatch.setattr(QFileDialog, "getOpenFileName", lambda *a, **k: (str(bad), ""))
    errors = []
    window.error_shown.connect(errors.append)
    window.act_add_model.trigger()
    qtbot.waitUntil(lambda: window.model is not None, timeout=60000)
    assert len(errors) == 1 and "is not an ONNX model" in errors[0]
    assert window.model.name == before and window.model_combo.currentData() == before
    assert window.status_model.text() == status
    assert window.start_button.isEnabled() and not window.panel.start_hint.isVisibleTo(window)
    assert window.model_combo.findData(str(bad)) < 0  # not left as a choice
    assert str(bad) not in remembered(settings)


def test_a_bad_model_with_none_before_says_pick_another(qtbot, monkeypatch, tmp_path, settings):
    # A remembered file that is no model now: nothing was in use before it.
    bad = tmp_path / "bad.onnx"
    bad.write_text("not a model, a text file")
    settings.setValue("model", str(bad))
    remember(settings, str(bad))
    from guiapp.gui.main_window import MainWindow

    win = MainWindow(settings=settings, device="cpu")
    qtbot.addWidget(win)
    errors = []
    win.error_shown.connect(errors.append)
    win.show()
    qtbot.waitUntil(lambda: bool(errors), timeout=60000)
    assert "is not an ONNX model" in errors[0] and win.model is None
    hint = win.panel.start_hint.text()
    assert "pick another" in hint and "loading" not in hint and not win.start_button.isEnabled()
    assert "pick another" in win.status_model.text()
    assert win.model_combo.findData(str(bad)) < 0 and win.model_combo.currentIndex() == -1
    assert str(bad) not in remembered(settings)
    # Another model picked: it loads, and the hint moves on.
    with qtbot.waitSignal(win.model_ready, timeout=60000):
        win.load_model("efficientnet-lite0")
    assert "pick another" not in win.panel.start_hint.text() and win.model is not None


def test_check_on_a_folder_without_labelled_images_says_so_once(qtbot, window, monkeypatch):
    # Walked: "no labelled images in …" in a "Check model" box, then again in a "guiapp" box.
    from window_steps import SAMPLES

    monkeypatch.setattr(QFileDialog, "getExistingDirectory", lambda *a, **k: str(SAMPLES))
    said = []
    monkeypatch.setattr(QMessageBox, "warning", lambda *a, **k: said.append((a[1], a[2])) or QMessageBox.Ok)
    monkeypatch.setattr(QMessageBox, "information", lambda *a, **k: said.append((a[1], a[2])) or QMessageBox.Ok)
    window.error_shown.connect(lambda message: said.append(("guiapp", message)))
    window.act_check_model.trigger()
    qtbot.waitUntil(lambda: not window.jobs.running("check"), timeout=60000)
    qtbot.wait(200)  # anything queued after the job's end would say it again
    assert len(said) == 1, said
    title, text = said[0]
    assert title == "Check model" and "no labelled images in" in text


def test_check_on_a_folder_shows_a_wrong_card(qtbot, window, monkeypatch, tmp_path):
    photos = colour_photos(tmp_path / "photos")
    (tmp_path / "colours.txt").write_text("\n".join(COLOURS))
    model_file = export_all(ColourNet().eval(), tmp_path / "m", "colour")["onnx"]
    write_card(model_file.with_suffix(".json"), labels="../colours.txt", channel_order="BGR")  # wrong
    add_model(qtbot, window, monkeypatch, model_file)
    monkeypatch.setattr(QFileDialog, "getExistingDirectory", lambda *a, **k: str(photos))
    said = []
    monkeypatch.setattr(QMessageBox, "warning", lambda *a, **k: said.append(("warning", a[2])) or QMessageBox.Ok)
    monkeypatch.setattr(QMessageBox, "information", lambda *a, **k: said.append(("info", a[2])) or QMessageBox.Ok)
    window.act_check_model.trigger()
    qtbot.waitUntil(lambda: bool(said), timeout=60000)
    kind, text = said[0]
    assert kind == "warning" and "top-1 33.3% (3/9)" in text and "near chance" in text


def test_a_models_note_says_each_thing_once_and_names_no_path():
    """Walked at 1366x768: a SqueezeNet file's note said "features: logits (no linear last layer
    to split at)" and then the same in a note starting with the file's whole path (9 lines)."""
    from types import SimpleNamespace

    from guiapp.core.labels import imagenet_labels
    from guiapp.core.models.split import LOGITS_LAYER
    from guiapp.gui.user_model_ui import describe

    name = "/very/long/folder/of/models/squeezenet1_0.pt"
    model = SimpleNamespace(
        name=name, labels=imagenet_labels(), feature_layer=LOGITS_LAYER, differentiable=True,
        spec=SimpleNamespace(squash=False, resize=256, crop=224), channel_order="BGR",
        notes=(f"{name}: its last layer is not linear, so its 'features' are its logits (centroids are built "
               "in logit space)",))
    text = describe(model)
    assert "features:" not in text and name not in text and text.count("logits") == 1
    assert "<i>its last layer is not linear" in text and "BGR" in text
    model.feature_layer = "classifier.0"  # a linear last layer: its feature layer is named
    assert "features: classifier.0" in describe(model)


def test_an_added_model_is_offered_as_a_judge_and_a_surrogate(qtbot, window, monkeypatch, fruit_onnx, settings):
    """Walked: an added model was never offered as a Surrogate or a Judge, though the CLI's
    --surrogates and --judge take any model spec. A judge with labels of its own is asked
    about the target by name: a fruit model cannot see a goldfish."""
    from window_steps import SAMPLES, open_image, run_attack

    tall = window.form.judges.height()
    add_model(qtbot, window, monkeypatch, fruit_onnx)
    spec = str(fruit_onnx)
    assert window.form.judges.height() > tall  # room for the new row (walked: it was half cut off)
    assert window.form.judges.findItems("fruit.onnx", Qt.MatchFlag.MatchExactly)  # one list for every mode
    surrogates = window.form.field("surrogates", "transfer")
    assert surrogates.findItems("fruit.onnx", Qt.MatchFlag.MatchExactly)
    with qtbot.waitSignal(window.model_ready, timeout=60000):
        window.load_model("efficientnet-lite0")
    open_image(qtbot, window, SAMPLES / "coffee.jpg")
    window.form.judges.set_checked([spec])
    with qtbot.waitSignal(window.judges_done, timeout=120000) as judged:
        run_attack(qtbot, window, target=1)
    assert [(name, hit) for name, _top, _conf, hit in judged.args[0]] == [(spec, False)]
    assert "fruit.onnx: " in window.judges_label.text() and "not fooled" in window.judges_label.text()
