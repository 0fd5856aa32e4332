"""What the window tests do as a user would: open an image, run an attack."""

from pathlib import Path

SAMPLES = Path(__file__).resolve().parents[2] / "resources" / "samples"


def open_image(qtbot, window, path):
    with qtbot.waitSignal(window.image_ready, timeout=30000):
        window.open_image(path)


def run_attack(qtbot, window, target=1, **settings):
    """Start an attack with these form settings; the AttackResult once it finishes."""
    window.target_combo.set_target(target)
    for name, value in settings.items():
        window.form.field(name).setValue(value)
    with qtbot.waitSignal(window.attack_finished, timeout=180000) as blocker:
        window.start_attack()
    return blocker.args[0]


def keep_live_lines(monkeypatch, window):
    """Every text the live line is given, with the plot's progress line at that moment.

    Polling the label can miss them all: a short run's queued signals may set the line and
    clear it (the result takes over) within one pass of the event loop.
    """
    shown = []
    show_line = window.panel.show_line

    def keep(label, text):
        if label is window.live_label:
            shown.append((text, window.plot.progress_label.text()))
        show_line(label, text)

    monkeypatch.setattr(window.panel, "show_line", keep)
    return shown
