"""Export a run: the plot as PNG or SVG, and a one-page HTML report (the three images, the
settings, the figures, the plot, the noise heatmap and the run's own saliency maps),
written by guiapp.core.run_report_html off the GUI thread."""

from __future__ import annotations

import time
from pathlib import Path
from typing import TYPE_CHECKING, Any

from PySide6.QtCore import QBuffer, QByteArray, QIODevice
from PySide6.QtWidgets import QFileDialog

from ..core.noise_stats import heatmap, noise_stats
from ..core.options import readable_settings
from ..core.run_report_html import ReportData, render_report
from .insights import overlay_map, saliency_maps
from .save_flow import output_folder, remember_output_folder
from .view_pixels import amplified_difference

if TYPE_CHECKING:
    from .main_window import MainWindow


def export_plot_with_dialog(win: MainWindow) -> None:
    if win.plot.point_count() == 0:
        return  # no run yet: an empty chart helps nobody (the action is disabled then)
    entry = win.shown_entry()
    stem = win.image.path.stem if win.image is not None and win.image.path else "image"
    name = f"{stem}_run{entry.number}_plot.png" if entry is not None else f"{stem}_plot.png"  # not always plot.png
    start = str(output_folder(win, _image_folder(win)) / name)
    path, _ = QFileDialog.getSaveFileName(win, "Export plot", start, "PNG image (*.png);;SVG drawing (*.svg)")
    if path:
        if not path.lower().endswith((".png", ".svg")):
            path += ".png"
        remember_output_folder(win, Path(path))
        win.plot.export(path)
        win.statusBar().showMessage(f"Plot saved as {path}", 5000)


def _image_folder(win: MainWindow) -> Path:
    if win.image is not None and win.image.path is not None:
        return win.image.path.parent
    return Path(str(win.settings.value("last_dir", str(Path.home()))))


def report_with_dialog(win: MainWindow, entry: Any = None) -> None:
    entry = entry or win.shown_entry()
    if entry is None or win.image is None:
        return
    stem = win.image.path.stem if win.image.path else "image"
    start = str(output_folder(win, _image_folder(win)) / f"{stem}_run{entry.number}_report.html")
    path, _ = QFileDialog.getSaveFileName(win, "Export report", start, "Web page (*.html)")
    if path:
        remember_output_folder(win, Path(path))
        write_report(win, entry, Path(path if path.lower().endswith((".html", ".htm")) else path + ".html"))


def plot_png(win: MainWindow) -> bytes:
    image = win.plot.image()
    data = QByteArray()
    buf = QBuffer(data)
    buf.open(QIODevice.OpenModeFlag.WriteOnly)
    image.save(buf, "PNG")
    return bytes(data.data())


def report_data(win: MainWindow, entry: Any) -> ReportData:
    """What the report of `entry` shows, but its saliency maps (report_maps adds them off
    the GUI thread). The entry is shown in the window first, so the plot is its own."""
    if win.shown_entry() is not entry:
        win.show_entry(entry)
    plan, result = entry.run.plan, entry.result
    gain = win.views.factor.value()
    stats = noise_stats(plan.image.rgb, result.adversarial)
    extra = [("noise magnitude (dark: unchanged)", heatmap(stats.magnitude))]
    name = plan.image.path.name if plan.image.path else "image"
    return ReportData(
        title=f"{name} → {plan.target_name}",
        subtitle=f"guiapp run #{entry.number}, {time.strftime('%Y-%m-%d %H:%M', time.localtime(entry.made))} · "
                 f"{entry.settings} · {stats.summary()}",
        success=result.success,
        original=plan.image.rgb,
        adversarial=result.adversarial,
        difference=amplified_difference(plan.image.rgb, result.adversarial, gain),
        difference_caption=f"difference x{gain} (mid-grey: unchanged)",
        settings=readable_settings(plan.config),  # labels and units, not raw keys ("refine_steps None")
        figures=entry.figures(),
        original_top=[(p.name, p.confidence) for p in win.original_preds],
        adversarial_top=[(p.name, p.confidence) for p in entry.preds],
        target_name=plan.target_name,
        plot_png=plot_png(win),
        extra=extra,
    )


def report_maps(model: Any, run: Any, method: str) -> list[tuple[str, Any]]:
    """(caption, image) of the saliency maps of `run`, computed for it. Never the maps the
    Model's view tab shows: they belong to whatever run was last computed there (another
    run's when a run is shown again from the History and the tab is hidden), and a report
    must be built from the run it names (issue 34 item 2)."""
    if model is None:
        return []  # the model is loading: a report without maps rather than another run's
    return [(caption, overlay_map(view, cam)) for view, cam, caption in
            saliency_maps(model, run.plan.image.rgb, run, method)]


def write_report(win: MainWindow, entry: Any, path: Path) -> None:
    data = report_data(win, entry)
    model, run, method = win.model, entry.run, win.saliency_panel.current_method()

    def work() -> Path:
        data.extra.extend(report_maps(model, run, method))
        path.write_text(render_report(data), encoding="utf-8")
        return path

    def done(written: Path) -> None:
        win.statusBar().showMessage(f"Report saved as {written}", 8000)
        win.report_written.emit(str(written))

    win.jobs.run("report", work, done, message=f"Writing {path.name}…")
