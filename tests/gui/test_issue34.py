"""Issue 34 (the desktop app, round 4), through the real window."""

from pathlib import Path

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
