"""Export a run: the plot as PNG or SVG, and a one-page HTML report (the three images, the
settings, the figures, the plot, the noise heatmap and the saliency maps when shown),
written by guiapp.core.run_report_html off the GUI thread."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

from PySide6.QtCore import QBuffer, QByteArray, QIODevice
from PySide6.QtWidgets import QFileDialog

from ..core.noise_stats import heatmap, noise_stats
from ..core.run_report_html import ReportData, render_report
from .image_views import amplified_difference


def export_plot_with_dialog(win: Any) -> None:
    start = str(Path(win.settings.value("last_dir", str(Path.home()))) / "plot.png")
    path, _ = QFileDialog.getSaveFileName(win, "Export plot", start, "PNG image (*.png);;SVG drawing (*.svg)")
    if path:
        if not path.lower().endswith((".png", ".svg")):
            path += ".png"
        win.plot.export(path)
        win.statusBar().showMessage(f"Plot saved as {path}", 5000)


def report_with_dialog(win: Any, entry: Any = None) -> None:
    entry = entry or win.shown_entry()
    if entry is None or win.image is None:
        return
    stem = win.image.path.stem if win.image.path else "image"
    start = str(Path(win.settings.value("last_dir", str(Path.home()))) / f"{stem}_run{entry.number}_report.html")
    path, _ = QFileDialog.getSaveFileName(win, "Export report", start, "Web page (*.html)")
    if path:
        write_report(win, entry, Path(path if path.lower().endswith((".html", ".htm")) else path + ".html"))


def plot_png(win: Any) -> bytes:
    image = win.plot.image()
    data = QByteArray()
    buf = QBuffer(data)
    buf.open(QIODevice.WriteOnly)
    image.save(buf, "PNG")
    return bytes(data.data())


def report_data(win: Any, entry: Any) -> ReportData:
    """What the report of `entry` shows (the entry is shown in the window first, so the plot
    and the maps are its own)."""
    if win.shown_entry() is not entry:
        win.show_entry(entry)
    plan, result = entry.run.plan, entry.result
    gain = win.views.factor.value()
    extra = []
    maps = win.saliency_panel
    for i in (0, 1):
        if maps.raw[i] is not None and maps.maps[i].rgb is not None:
            extra.append((maps.captions[i].text(), maps.maps[i].rgb))
    stats = noise_stats(plan.image.rgb, result.adversarial)
    extra.insert(0, ("noise magnitude (dark: unchanged)", heatmap(stats.magnitude)))
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
        settings=[(k, ", ".join(v) if isinstance(v, list) else str(v)) for k, v in entry.config().items()],
        figures=entry.figures(),
        original_top=[(p.name, p.confidence) for p in win.original_preds],
        adversarial_top=[(p.name, p.confidence) for p in entry.preds],
        target_name=plan.target_name,
        plot_png=plot_png(win),
        extra=extra,
    )


def write_report(win: Any, entry: Any, path: Path) -> None:
    data = report_data(win, entry)

    def work() -> Path:
        path.write_text(render_report(data), encoding="utf-8")
        return path

    def done(written: Path) -> None:
        win.statusBar().showMessage(f"Report saved as {written}", 8000)
        win.report_written.emit(str(written))

    win.jobs.run("report", work, done, message=f"Writing {path.name}…")
