"""The main window's actions, menus and toolbar (shortcuts in one place). Light: built
before the engine is imported; the actions that need the studio stay disabled until it
is built (MainWindow.set_running)."""

from __future__ import annotations

from pathlib import Path

from PySide6.QtCore import Qt
from PySide6.QtGui import QAction, QKeySequence
from PySide6.QtWidgets import QStyle, QToolBar

SAMPLES_DIR = Path(__file__).resolve().parents[2] / "resources" / "samples"
# Actions that need the studio (the widgets built once the engine is imported).
STUDIO_ACTIONS = ("act_fit", "act_actual", "act_crop", "act_export_plot", "act_export_report", "act_batch",
                  "act_add_model", "act_check_model", "act_copy_command", "act_blink", "act_swipe", "act_zoom2",
                  "act_zoom4")


def _action(win, icon, text: str, slot, shortcut=None, tip: str = "") -> QAction:
    action = QAction(win.style().standardIcon(icon), text, win) if icon is not None else QAction(text, win)
    if shortcut is not None:
        action.setShortcut(shortcut)
    if tip:
        action.setToolTip(tip)
    action.triggered.connect(slot)
    return action


def build(win) -> None:
    """Create win.act_* (the actions the window and the tests use), the menus, the toolbar."""
    win.act_open = _action(win, QStyle.StandardPixmap.SP_DialogOpenButton, "&Open…", win._open_dialog,
                           QKeySequence.StandardKey.Open, "Open an image (Ctrl+O)")
    win.act_start = _action(win, QStyle.StandardPixmap.SP_MediaPlay, "&Start", win.start_attack, "Ctrl+R",
                            "Start the optimisation (Ctrl+R)")
    win.act_stop = _action(win, QStyle.StandardPixmap.SP_MediaStop, "S&top", win.stop_attack, "Esc", "Stop (Esc)")
    win.act_save = _action(win, QStyle.StandardPixmap.SP_DialogSaveButton, "&Save PNG…", win._save_dialog,
                           QKeySequence.StandardKey.Save, "Save the adversarial image as PNG (Ctrl+S)")
    win.act_batch = _action(win, QStyle.StandardPixmap.SP_DirIcon, "&Batch…", win.open_batch_dialog, "Ctrl+B",
                            "Attack a whole folder (Ctrl+B)")
    win.act_export_plot = _action(win, None, "Export &plot…", win.export_plot, "Ctrl+Shift+E",
                                  "Save the live plot as PNG or SVG")
    win.act_export_report = _action(win, None, "Export &report…", win.export_report, "Ctrl+E",
                                    "A one-page HTML report of the run shown: images, settings, figures, plot")
    win.act_copy_command = _action(win, None, "Copy as &command", win.copy_command, "Ctrl+Shift+C",
                                   "The guiapp-cli line that repeats the run shown, on the clipboard")
    # Plain keys: a line edit or spin box with the focus takes them as text first.
    win.act_fit = _action(win, None, "&Fit image", lambda: win.views.fit(), "F", "Show the whole image (F)")
    win.act_actual = _action(win, None, "&100%", lambda: win.views.actual_size(), "1",
                             "One image pixel per screen pixel (1)")
    win.act_zoom2 = _action(win, None, "&200% (loupe)", lambda: win.views.actual_size(2.0), "2",
                            "Two screen pixels per image pixel (2)")
    win.act_zoom4 = _action(win, None, "&400% (loupe)", lambda: win.views.actual_size(4.0), "4",
                            "Four screen pixels per image pixel (4)")
    win.act_blink = _action(win, None, "&Blink original / result", lambda: win.views.toggle_blink(), "B",
                            "Show the original in the Adversarial view's place, and again the result (B)")
    win.act_swipe = _action(win, None, "S&wipe original / result", lambda: win.views.toggle_swipe(), "W",
                            "In the Adversarial view, the original left of the pointer and the result right of it (W)")
    win.act_crop = _action(win, None, "Model's &crop", lambda on: win.views.show_crop(on), "C",
                           "Outline the square the model classifies (C)")
    win.act_crop.setCheckable(True)
    win.act_crop.setChecked(True)
    win.act_add_model = _action(win, None, "&Add model…", win.add_model, None,
                                "Your own classifier: an ONNX, TorchScript or torch.export file, or its card")
    win.act_check_model = _action(win, None, "&Check on a folder…", win.check_model, None,
                                  "Top-1/top-5 of the current model on labelled photos: is its card right?")
    win.act_prefs = _action(win, None, "&Preferences…", win.open_preferences, QKeySequence.StandardKey.Preferences)
    win.act_about = _action(win, None, "&About guiapp", win.show_about)
    win.act_how = _action(win, None, "&How it works", win.show_how_it_works, QKeySequence.StandardKey.HelpContents)
    win.act_keys = _action(win, None, "&Keyboard shortcuts", win.show_shortcuts, "Ctrl+/")

    menu = win.menuBar().addMenu("&File")
    menu.addAction(win.act_open)
    win.samples_menu = menu.addMenu("Open &sample")
    for p in sorted(SAMPLES_DIR.glob("*.jpg")):
        win.samples_menu.addAction(p.stem.replace("_", " "), lambda p=p: win.open_image(p))
    win.recent_menu = menu.addMenu("Open &recent")
    menu.addAction(win.act_save)
    menu.addActions([win.act_export_plot, win.act_export_report])
    menu.addAction(win.act_batch)
    menu.addSeparator()
    # Ctrl+Q spelled out: QKeySequence.Quit is empty on some platforms (Windows, Qt's offscreen
    # platform used by the tests), where Quit then had no key at all.
    menu.addAction("&Quit", QKeySequence("Ctrl+Q"), win.close)
    edit_menu = win.menuBar().addMenu("&Edit")
    edit_menu.addAction(win.act_copy_command)
    edit_menu.addSeparator()
    edit_menu.addAction(win.act_prefs)
    view_menu = win.menuBar().addMenu("&View")
    view_menu.addActions([win.act_fit, win.act_actual, win.act_zoom2, win.act_zoom4, win.act_blink, win.act_swipe,
                          win.act_crop])
    view_menu.addSeparator()
    win.tab_actions = []
    for i, name in enumerate(("Plot", "Noise", "Model's view", "Defences", "History")):
        action = _action(win, None, f"{name} tab", lambda _=False, i=i: win.show_tab(i), f"Ctrl+{i + 1}")
        view_menu.addAction(action)
        win.tab_actions.append(action)
    model_menu = win.menuBar().addMenu("&Model")
    model_menu.addActions([win.act_add_model, win.act_check_model])
    run_menu = win.menuBar().addMenu("&Run")
    run_menu.addActions([win.act_start, win.act_stop])
    help_menu = win.menuBar().addMenu("&Help")
    help_menu.addActions([win.act_how, win.act_keys])
    help_menu.addSeparator()
    help_menu.addAction(win.act_about)

    tools = QToolBar("Main")
    tools.setObjectName("main_toolbar")
    tools.setToolButtonStyle(Qt.ToolButtonStyle.ToolButtonTextBesideIcon)
    tools.addActions([win.act_open, win.act_start, win.act_stop, win.act_save, win.act_batch])
    win.addToolBar(tools)
