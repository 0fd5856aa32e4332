"""A user's own model in the window: Add model…, its labels in the target field, an attack
by label name, remembered across a restart, and Check on a folder."""

from __future__ import annotations

import pytest
from PySide6.QtWidgets import QFileDialog, QMessageBox

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


def test_add_model_cancelled_keeps_the_model_and_a_bad_file_says_why(qtbot, window, monkeypatch, tmp_path):
    before = window.model.name
    monkeypatch.setattr(QFileDialog, "getOpenFileName", lambda *a, **k: ("", ""))
    window.act_add_model.trigger()
    assert window.model.name == before and window.model_combo.currentData() == before
    bad = tmp_path / "broken.onnx"
    bad.write_bytes(b"not a model")
    shown = []
    monkeypatch.setattr(QMessageBox, "critical", lambda *a, **k: shown.append(a[2]) or QMessageBox.Ok)
    monkeypatch.setattr(QMessageBox, "warning", lambda *a, **k: shown.append(a[2]) or QMessageBox.Ok)
    monkeypatch.setattr(QFileDialog, "getOpenFileName", lambda *a, **k: (str(bad), ""))
    window.act_add_model.trigger()
    qtbot.waitUntil(lambda: "no model" in window.status_model.text(), timeout=60000)


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
