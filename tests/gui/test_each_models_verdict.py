"""Issue 34 item 3: with several crafting models, each one's own verdict is shown, in the
result line and after saving; their average is never worded as if one model said it."""

import html

from window_steps import SAMPLES, open_image

from guiapp.core.attack_report import seen_phrase


def test_transfer_shows_what_each_surrogate_sees(qtbot, window, tmp_path):
    open_image(qtbot, window, SAMPLES / "coffee.jpg")
    form = window.form
    form.set_mode("transfer")
    form.field("iterations").setValue(2)
    form.field("surrogates").set_checked(["efficientnet-lite0", "efficientnet-lite1"])
    form.judges.set_checked([])
    window.target_combo.set_target(1)
    with qtbot.waitSignal(window.attack_finished, timeout=180000) as blocker:
        window.start_attack()
    result = blocker.args[0]
    # As a person reads it: no-break spaces and hyphens as plain ones.
    line = html.unescape(window.result_label.text()).replace("\xa0", " ").replace("\u2011", "-")
    for verdict in window.history.entries[-1].report.crafters_see:  # each model's own top class and score
        assert seen_phrase(verdict, window.run.plan.target_name) in line
    assert len(result.seen_by) == 2 and "which see" not in line
    # The compare view and the exported report list the same verdicts, one row per model.
    entry = window.history.entries[-1]
    assert [v for k, v in entry.figures() if k == "crafting model"] == entry.report.crafters_verdicts()
    with qtbot.waitSignal(window.saved, timeout=60000):
        window.save_result(tmp_path / "out.png")
    saved = window.save_label.text()
    assert "efficientnet-lite0 sees" in saved and "efficientnet-lite1 sees" in saved
    assert "classify it as" not in saved
