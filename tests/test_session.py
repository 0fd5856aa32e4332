"""The window's session model without Qt (issue 34's house item): images, their runs,
and the events the panels draw from, driven with plain objects and no attack."""

import subprocess
import sys
from types import SimpleNamespace

import numpy as np

from guiapp.gui.session import MAX_RUNS, RunEntry, Session


def fake_run(target_name: str = "goldfish") -> SimpleNamespace:
    strategy = SimpleNamespace(describe=lambda config: f"white-box, {config}", uses_chosen_model=True)
    plan = SimpleNamespace(strategy=strategy, config="PSNR 50 dB", target_name=target_name,
                           crafters=[SimpleNamespace(name="/models/mine.onnx")])
    result = SimpleNamespace(success=True, steps=7, adversarial=np.zeros((2, 2, 3), np.uint8))
    return SimpleNamespace(plan=plan, result=result)


def test_the_session_imports_neither_qt_nor_the_engine():
    # No Qt: a test drives it alone. No torch: the window makes it before the engine is imported.
    code = ("import sys, guiapp.gui.session; "
            "print(sorted(m for m in sys.modules if m.split('.')[0] in ('PySide6', 'torch')))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "[]"


def test_the_run_shown_is_the_sessions_and_observers_hear_of_it():
    session, heard = Session(), []
    session.observe(lambda event, subject: heard.append((event, subject)))
    assert session.current is None and session.result is None and session.current_entry() is None
    session.switch_to("cat.jpg")
    run = fake_run()
    entry = session.add(run, None, [])
    session.show(run)
    assert session.result is run.result and session.current_entry() is entry
    stopped = fake_run()  # a stopped run is shown (its partial result) but never kept
    session.show(stopped)
    assert session.result is stopped.result and session.current_entry() is None
    session.show(None)
    assert session.result is None
    assert [event for event, _ in heard] == ["image", "added", "shown", "shown", "shown"]


def test_each_image_keeps_its_runs_and_observers_hear_every_change():
    session, heard = Session(), []
    session.observe(lambda event, subject: heard.append((event, subject)))
    cat = session.switch_to("cat.jpg")
    first = session.add(fake_run(), plot=None, judges=["resnet18"])
    second = session.add(fake_run("shark"), plot=None, judges=[])
    assert [e.number for e in session.entries] == [1, 2] and first.settings == "white-box, PSNR 50 dB"
    assert first.judges_ticked == ["resnet18"] and session.entry_of(second.run) is second
    coffee = session.switch_to("coffee.jpg")
    assert session.entries == [] and session.entry_of(first.run) is None  # another image: its own runs
    session.changed(first)  # a figure arrived for a run of an image not shown
    assert session.switch_to("cat.jpg") is cat and session.entries == [first, second]
    assert session.runs_holding(second) is cat and coffee.entries == []
    assert heard == [("image", cat), ("added", first), ("added", second), ("image", coffee), ("changed", first),
                     ("image", cat)]


def test_unsaved_runs_of_every_image_oldest_first():
    session = Session()
    session.switch_to("a.png")
    a = session.add(fake_run(), None, [])
    session.switch_to("b.png")
    b = session.add(fake_run(), None, [])
    saved = session.add(fake_run(), None, [])
    saved.saved.append("/tmp/out.png")
    dismissed = session.add(fake_run(), None, [])
    dismissed.dismissed = True
    b.made, a.made = 2.0, 1.0
    assert session.unsaved() == [b]  # the image shown's
    assert session.unsaved(everywhere=True) == [a, b]


def test_runs_past_the_limit_drop_the_oldest_and_say_so():
    session, dropped = Session(), []
    session.observe(lambda event, subject: dropped.append(subject) if event == "dropped" else None)
    session.switch_to("a.png")
    entries = [session.add(fake_run(), None, []) for _ in range(MAX_RUNS + 2)]
    assert dropped == entries[:2] and session.entries == entries[2:]
    assert session.entries[-1].number == MAX_RUNS + 2  # numbers are never reused


def test_runs_read_back_go_first_and_runs_made_meanwhile_are_numbered_after_them():
    session, heard = Session(), []
    runs = session.switch_to("a.png")
    session.observe(lambda event, subject: heard.append(event))
    made_now = session.add(fake_run(), None, [])  # made while the kept ones were being read
    kept = [RunEntry(n, fake_run(), None, [], "kept") for n in (3, 4)]
    session.restore(runs, kept)
    assert session.entries == [*kept, made_now] and made_now.number == 5 and runs.next_number == 6
    assert runs.read and heard == ["added", "restored"]
    assert session.add(fake_run(), None, []).number == 6


def test_a_runs_title_and_figures_say_what_was_measured():
    entry = RunEntry(3, fake_run(), None, [], "white-box, PSNR 50 dB")
    # the model it crafted on (walked: runs on three models read alike), a file by its name
    assert entry.title() == "#3 goldfish — reached in 7 steps\nmine.onnx, white-box, PSNR 50 dB" and entry.unsaved
    entry.run.plan.strategy.uses_chosen_model = False  # transfer, query: `settings` names the surrogates
    assert entry.title() == "#3 goldfish — reached in 7 steps\nwhite-box, PSNR 50 dB"
    entry.dist = SimpleNamespace(psnr=49.96, linf=3, ssim=0.9991)
    assert "· 50.0 dB" in entry.title()
