"""A one-page HTML report of one attack: the three images, the settings, the figures and
the plot, in a single self-contained file (images inlined as data: URIs) that any browser
opens, offline, and that can be mailed or attached to a lab notebook as it is.

The window's History > Report… fills a `ReportData` (the plot's PNG comes from the
window's plot exporter); the page loads no script or style from anywhere else. Once the
page has loaded, a small inline script sets its title to "report ready: N of M images"
so a headless browser can check that every image decoded (tests/gui/test_report.py).
"""

from __future__ import annotations

import base64
import html
import io
from dataclasses import dataclass, field

import numpy as np
from PIL import Image

STYLE = """
body { font-family: system-ui, sans-serif; margin: 24px auto; max-width: 1100px; color: #202124; }
h1 { font-size: 22px; margin-bottom: 4px; } h2 { font-size: 16px; margin: 22px 0 8px; }
.sub { color: #5f6368; margin-top: 0; }
.images { display: grid; grid-template-columns: repeat(3, 1fr); gap: 10px; }
.images figure, .extra figure { margin: 0; } .images img, .extra img { width: 100%; image-rendering: auto;
  border: 1px solid #dadce0; } figcaption { font-size: 13px; color: #5f6368; text-align: center; }
.extra { display: grid; grid-template-columns: repeat(4, 1fr); gap: 10px; }
table { border-collapse: collapse; font-size: 14px; } td, th { padding: 3px 12px 3px 0; text-align: left;
  vertical-align: top; } th { color: #5f6368; font-weight: 600; }
.cols { display: grid; grid-template-columns: 1fr 1fr; gap: 24px; }
.ok { color: #188038; font-weight: 600; } .bad { color: #d93025; font-weight: 600; }
.plot img { max-width: 100%; border: 1px solid #dadce0; }
"""
CHECK = """<script>
window.addEventListener('load', function () {
  var imgs = Array.prototype.slice.call(document.images);
  var ok = imgs.filter(function (i) { return i.complete && i.naturalWidth > 0; }).length;
  document.title = 'report ready: ' + ok + ' of ' + imgs.length + ' images';
  document.body.setAttribute('data-images-ok', ok + '/' + imgs.length);
});
</script>"""


def png_data_uri(image: np.ndarray | bytes) -> str:
    """An (H, W, 3) uint8 array, or PNG bytes, as a data: URI."""
    if isinstance(image, np.ndarray):
        buf = io.BytesIO()
        Image.fromarray(image).save(buf, format="PNG")
        image = buf.getvalue()
    return "data:image/png;base64," + base64.b64encode(image).decode("ascii")


@dataclass
class ReportData:
    title: str  # "chelsea_cat.jpg -> goldfish"
    subtitle: str  # when, with what
    success: bool
    original: np.ndarray
    adversarial: np.ndarray
    difference: np.ndarray  # the amplified difference, as shown
    difference_caption: str
    settings: list[tuple[str, str]]  # (option, value)
    figures: list[tuple[str, str]]  # (name, value)
    original_top: list[tuple[str, float]] = field(default_factory=list)
    adversarial_top: list[tuple[str, float]] = field(default_factory=list)
    target_name: str = ""
    plot_png: bytes | None = None
    extra: list[tuple[str, np.ndarray]] = field(default_factory=list)  # (caption, image): heatmap, saliency...


def _table(rows: list[tuple[str, str]]) -> str:
    return "<table>" + "".join(f"<tr><th>{html.escape(k)}</th><td>{html.escape(v)}</td></tr>" for k, v in rows) \
        + "</table>"


def _top(rows: list[tuple[str, float]], target: str) -> str:
    body = "".join(
        f"<tr><td{' class=ok' if name == target else ''}>{html.escape(name)}</td><td>{conf:.1%}</td></tr>"
        for name, conf in rows)
    return f"<table><tr><th>class</th><th>confidence</th></tr>{body}</table>"


def _figure(image: np.ndarray | bytes, caption: str) -> str:
    return (f"<figure><img src='{png_data_uri(image)}' alt='{html.escape(caption)}'>"
            f"<figcaption>{html.escape(caption)}</figcaption></figure>")


def render_report(data: ReportData) -> str:
    """The whole page, as one string."""
    verdict = "<span class=ok>target reached</span>" if data.success else "<span class=bad>target not reached</span>"
    images = "".join(_figure(img, cap) for img, cap in (
        (data.original, "original"), (data.adversarial, "adversarial (as saved, 8-bit)"),
        (data.difference, data.difference_caption)))
    extra = ("<h2>The noise and the model's view</h2><div class=extra>"
             + "".join(_figure(img, cap) for cap, img in data.extra) + "</div>") if data.extra else ""
    plot = (f"<h2>The optimisation</h2><div class=plot><img src='{png_data_uri(data.plot_png)}' "
            "alt='loss and confidence per step'></div>") if data.plot_png else ""
    tops = ""
    if data.original_top or data.adversarial_top:
        tops = (f"<h2>Predictions (top-5)</h2><div class=cols><div><b>original</b>"
                f"{_top(data.original_top, data.target_name)}</div><div><b>adversarial, as saved</b>"
                f"{_top(data.adversarial_top, data.target_name)}</div></div>")
    return (
        "<!DOCTYPE html><html lang=en><head><meta charset=utf-8>"
        f"<title>{html.escape(data.title)}</title><style>{STYLE}</style></head><body>"
        f"<h1>{html.escape(data.title)}: {verdict}</h1><p class=sub>{html.escape(data.subtitle)}</p>"
        f"<div class=images>{images}</div>"
        f"<div class=cols><div><h2>Figures</h2>{_table(data.figures)}</div>"
        f"<div><h2>Settings</h2>{_table(data.settings)}</div></div>"
        f"{tops}{plot}{extra}{CHECK}</body></html>"
    )
