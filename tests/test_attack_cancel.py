"""A cancel stops the white-box loop at once, whatever pass the step is in (issue 33 item 3).

On a 60000x32 strip one step is seconds of preprocessing (the resize to the model's scale,
forward and backward); after a cancel (a DELETE, --attack-timeout) the loop used to finish
the step's backward pass and then classify the last iterate through PIL, which held the
server's worker 15-60 s. These tests watch which passes still run after the cancel, through
the Python API's attack_file, on a small image (the same code path, quick).
"""

from __future__ import annotations

import torch
from PIL import Image

import guiapp.core.attacks.whitebox as whitebox
from guiapp.core.pipeline import attack_file


def _small(tmp_path, cat_path):
    path = tmp_path / "cat.png"
    Image.open(cat_path).convert("RGB").resize((64, 48)).save(path)
    return path


class Watch:
    """Counts the gradient passes and PIL-path classifications that run after `cancelled`."""

    def __init__(self, monkeypatch) -> None:
        self.cancelled = False
        self.runs: list = []
        self.after: list[str] = []
        self.grads_interrupted = 0
        real_grad, real_classify = torch.autograd.grad, whitebox.classify_pil

        def grad(*args, **kwargs):
            if self.cancelled:
                self.after.append("backward started")
            try:
                return real_grad(*args, **kwargs)
            except Exception:
                self.grads_interrupted += 1
                raise

        def classify(*args, **kwargs):
            if self.cancelled:
                self.after.append("PIL classification")
            return real_classify(*args, **kwargs)

        monkeypatch.setattr(torch.autograd, "grad", grad)
        monkeypatch.setattr(whitebox, "classify_pil", classify)

    def cancel(self) -> None:
        self.cancelled = True
        for run in self.runs:
            run.cancel()


def test_a_cancel_at_a_steps_record_skips_its_backward_and_the_pil_check(tmp_path, cat_path, model, monkeypatch):
    watch = Watch(monkeypatch)
    report = attack_file(_small(tmp_path, cat_path), "goldfish", tmp_path / "out.png", model=model, device="cpu",
                         on_step=lambda r: r.step == 2 and watch.cancel(), attack_hook=watch.runs.append,
                         probe_output=False)
    assert report.cancelled and report.steps == 2
    assert watch.after == []  # before the fix: the step's backward, then a PIL classification
    assert not (tmp_path / "out.png").exists()


def test_a_cancel_during_the_backward_stops_it_before_the_preprocessing(tmp_path, cat_path, model, monkeypatch):
    """The cancel arrives while the model's layers are being differentiated: the gradient
    never goes on into the preprocessing (the costly part on a large image)."""
    watch = Watch(monkeypatch)
    real_head = model.head
    armed: list[bool] = []

    def head(features):
        logits = real_head(features)
        if armed and logits.requires_grad:  # step 3's forward: cancel during its backward
            armed.clear()
            logits.register_hook(lambda grad: watch.cancel())
        return logits

    monkeypatch.setattr(model, "head", head)
    report = attack_file(_small(tmp_path, cat_path), "goldfish", tmp_path / "out.png", model=model, device="cpu",
                         on_step=lambda r: r.step == 2 and armed.append(True), attack_hook=watch.runs.append,
                         probe_output=False)
    assert report.cancelled and report.steps == 3
    assert watch.grads_interrupted == 1  # before the fix the backward ran to the image's pixels
    assert watch.after == []
