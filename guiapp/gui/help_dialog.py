"""Help > How it works, and Help > Keyboard shortcuts (listed from the window's own actions,
so the list cannot drift from the menus)."""

from __future__ import annotations

import html
from typing import TYPE_CHECKING

from PySide6.QtGui import QKeySequence
from PySide6.QtWidgets import QDialog, QDialogButtonBox, QTextBrowser, QVBoxLayout, QWidget

if TYPE_CHECKING:
    from .main_window import MainWindow

HOW_IT_WORKS = """
<h3>How it works</h3>
<p><b>The idea.</b> A classifier turns an image into a score for each of its classes (ImageNet's 1000 here).
guiapp changes the pixels of your photo, each by at most a few levels out of 255 (the <i>budget</i>),
until the classifier's top answer is the <i>target</i> you typed. The changes are too small to see,
but they are exactly where the model is sensitive.</p>
<p><b>Step by step.</b> Each step asks the model how the target's score changes when each pixel
changes (its gradient) and moves every pixel a little in that direction, staying within the budget.
The plot shows the losses falling and the target's confidence rising. Once the target is reached,
<i>refine steps</i> shrink the noise while keeping the target, so it becomes even less visible.</p>
<p><b>What the model sees.</b> The model never sees your whole photo: its preprocessing resizes the
short side and keeps the centre square (outlined on the views). Noise only helps there, so that is
where the white-box modes put it; quiet transfer covers the whole photo, since an unknown model may
see all of it. The <i>Model's view</i> tab shows where the model finds evidence for its answer
(saliency), before and after.</p>
<p><b>Modes.</b> <i>default</i>: the smallest noise that fools the chosen model. <i>robust</i>: noise that
also survives JPEG compression, rescaling, bit-depth reduction and median filters. <i>transfer</i>: the
noise is crafted on stand-in models (<i>surrogates</i>) only, hoping it also fools models it never saw;
tick <i>judges</i>, models that take no part, to find out. Its <i>quiet</i> preset (the default) changes
only brightness, hides the change in the photo's texture and covers the whole photo, so the image
looks unchanged; it fools an unseen model less often than the <i>loud</i> preset, whose coloured
noise is plainly visible. <i>query</i>: for a model you can only ask (a web service, the
<i>Victim</i>): the transfer mode's noise, steered by the victim's answers, a few questions per photo
(<i>Max queries</i>); success is the victim's own answer about the saved file. <i>Noise: perceptual</i>
gives the other modes the same brightness-only, texture-weighted noise.</p>
<p><b>Your own model.</b> Model &gt; Add model… opens a model file (ONNX, TorchScript) with its card,
a small JSON file beside it that gives its labels and preprocessing; the target is then one of its
own labels.</p>
<p><b>As saved.</b> The result is measured on the 8-bit PNG exactly as saved, through the same
preprocessing any other program uses. The live line shows the optimiser's own numbers and, a few
times per run, these "as saved" numbers.</p>
<p><b>Defences.</b> A defender may purify images before classifying them (JPEG, rescaling, filters).
The Defences tab tries them on the result: does the target survive?</p>
<p><b>Saving.</b> Save PNG writes a lossless PNG (JPEG would destroy the noise), re-reads it from disk
and says what the model sees in it. Every run on the image is kept in the History tab, after a
restart too; opening another image or quitting after a run nobody saved asks first.</p>
"""


def shortcuts(win: MainWindow) -> list[tuple[str, str]]:
    """(keys, what) for every action of the window that has a shortcut."""
    rows = []
    for action in win.findChildren(type(win.act_open)):
        keys = action.shortcut().toString(QKeySequence.SequenceFormat.NativeText)
        if keys:
            rows.append((keys, action.text().replace("&", "").rstrip("…")))
    return sorted(set(rows), key=lambda r: r[1].lower())


def _dialog(parent: QWidget, title: str, body: str) -> QDialog:
    dialog = QDialog(parent)
    dialog.setWindowTitle(title)
    dialog.resize(620, 560)
    text = QTextBrowser()
    text.setHtml(body)
    text.setOpenExternalLinks(False)
    buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Close)
    buttons.rejected.connect(dialog.reject)
    lay = QVBoxLayout(dialog)
    lay.addWidget(text)
    lay.addWidget(buttons)
    dialog.text = text  # type: ignore[attr-defined]
    dialog.open()
    return dialog


def show_how_it_works(win: MainWindow) -> QDialog:
    return _dialog(win, "How it works", HOW_IT_WORKS)


def show_shortcuts(win: MainWindow) -> QDialog:
    rows = "".join(f"<tr><td><b>{html.escape(keys)}</b>&nbsp;&nbsp;&nbsp;</td><td>{html.escape(what)}</td></tr>"
                   for keys, what in shortcuts(win))
    extra = ("<p>In the views: the mouse wheel zooms, dragging pans (all three views move together). "
             "In the target field: type to get suggestions, Enter takes the first.</p>")
    return _dialog(win, "Keyboard shortcuts", f"<h3>Keyboard shortcuts</h3><table>{rows}</table>{extra}")
