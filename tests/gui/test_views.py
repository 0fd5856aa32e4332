"""The three image views: equal shares of the canvas, the image fitted, one scale, in sync."""

from pathlib import Path

import pytest
from PIL import Image
from PySide6.QtCore import QPoint, QPointF, Qt
from PySide6.QtGui import QWheelEvent
from PySide6.QtWidgets import QApplication

SAMPLES = Path(__file__).resolve().parents[2] / "resources" / "samples"


@pytest.fixture
def photo_1600(tmp_path) -> Path:
    """A 1600x1200 photo, the size the issue was reported with."""
    path = tmp_path / "coffee_1600.png"
    Image.open(SAMPLES / "coffee.jpg").resize((1600, 1200), Image.LANCZOS).save(path)
    return path


def _settle(qtbot, window):
    qtbot.wait(50)
    QApplication.processEvents()


def _check_filled(window):
    """Fitted width >= 90% of each view's width, the same place and size in all three."""
    rects = window.views.image_rects()
    sizes = window.views.view_sizes()
    widths = [s[0] for s in sizes]
    assert max(widths) - min(widths) <= 1, f"views of unequal width: {widths}"
    for rect, (width, height) in zip(rects, sizes, strict=True):
        assert rect.width() >= 0.9 * width, f"image {rect.width():.0f} px wide in a {width} px view"
        assert rect.height() <= height + 1
    for rect in rects[1:]:
        for a, b in ((rect.left(), rects[0].left()), (rect.top(), rects[0].top()), (rect.width(), rects[0].width())):
            assert abs(a - b) <= 1, f"views show different regions: {rects}"
    return rects[0].width()


@pytest.mark.slow
def test_views_fit_and_stay_fitted_after_runs_and_resizes(qtbot, window, photo_1600):
    window.resize(1600, 1000)
    with qtbot.waitSignal(window.image_ready, timeout=30000):
        window.open_image(photo_1600)
    _settle(qtbot, window)
    first = _check_filled(window)
    assert window.views.fitted and "(fit)" in window.views.zoom_label.text()

    window.target_combo.set_target(1)
    window.form.field("max_steps").setValue(2)  # three short runs: the views must not shrink
    for _ in range(3):
        with qtbot.waitSignal(window.attack_finished, timeout=120000):
            window.start_attack()
        _settle(qtbot, window)
        assert window.views.filled() == [True, True, True]
        assert abs(_check_filled(window) - first) <= 1

    window.resize(1366, 768)
    qtbot.waitUntil(lambda: window.views.view_sizes()[0][0] < first - 50, timeout=5000)
    _settle(qtbot, window)
    smaller = _check_filled(window)
    window.resize(1800, 1000)
    qtbot.waitUntil(lambda: window.views.view_sizes()[0][0] > smaller + 50, timeout=5000)
    _settle(qtbot, window)
    assert _check_filled(window) > smaller + 50  # enlarging the window enlarges the image


def test_fit_and_actual_size_actions(qtbot, window, photo_1600):
    window.resize(1400, 880)
    with qtbot.waitSignal(window.image_ready, timeout=30000):
        window.open_image(photo_1600)
    _settle(qtbot, window)
    window.act_actual.trigger()
    _settle(qtbot, window)
    assert not window.views.fitted
    assert window.views.zoom_label.text() == "100%"
    dpr = window.devicePixelRatioF()
    for rect in window.views.image_rects():
        assert rect.width() == pytest.approx(1600 / dpr, abs=1)
    window.act_fit.trigger()
    _settle(qtbot, window)
    assert window.views.fitted
    _check_filled(window)
    assert window.act_fit.shortcut().toString() == "F" and window.act_actual.shortcut().toString() == "1"


def test_zoom_in_one_view_moves_all_three(qtbot, window, photo_1600):
    window.resize(1400, 880)
    with qtbot.waitSignal(window.image_ready, timeout=30000):
        window.open_image(photo_1600)
    _settle(qtbot, window)
    before = window.views.zoom_percent()
    view = window.views.graphics[1]
    centre = QPointF(view.width() / 2, view.height() / 2)
    wheel = QWheelEvent(centre, view.mapToGlobal(centre), QPoint(0, 0), QPoint(0, 240),
                        Qt.NoButton, Qt.NoModifier, Qt.NoScrollPhase, False)
    QApplication.sendEvent(view.viewport(), wheel)
    _settle(qtbot, window)
    assert window.views.zoom_percent() > before * 1.2
    assert not window.views.fitted and "(fit)" not in window.views.zoom_label.text()
    rects = window.views.image_rects()
    for rect in rects[1:]:
        assert abs(rect.left() - rects[0].left()) <= 1 and abs(rect.width() - rects[0].width()) <= 1
    assert rects[0].width() > window.views.view_sizes()[0][0]  # zoomed in past the view's width


def test_the_noise_histogram_labels_only_the_counts_it_has_room_for(qtbot):
    # Found walking the app: pyqtgraph's log axis labelled 2..9 x 10^k too, and on the Noise
    # tab ("6·10⁴ 4·10⁴...", "9·10² 8·10²...") they printed over each other.
    import math

    from PySide6.QtCore import QRectF

    from guiapp.gui.insights import CountAxis

    axis = CountAxis("left")
    axis.setLogMode(False, True)
    ticks = [math.log10(v) for v in (1e3, 2e3, 3e3, 5e3, 8e3, 1e4, 2e4, 5e4)]
    axis.setRange(math.log10(700), math.log10(6e4))  # ~1.9 decades
    axis.setGeometry(QRectF(0, 0, 40, 120))  # ~62 px a decade: powers of ten only
    assert axis.tickStrings(ticks, 1, 1) == ["10³", "", "", "", "", "10⁴", "", ""]
    axis.setGeometry(QRectF(0, 0, 40, 400))  # ~207 px a decade: 1, 2 and 5 times them
    assert axis.tickStrings(ticks, 1, 1) == ["10³", "2·10³", "", "5·10³", "", "10⁴", "2·10⁴", "5·10⁴"]
