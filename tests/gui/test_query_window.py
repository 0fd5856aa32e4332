"""The query mode in the window: a Victim field, run against a victim on the loopback."""

from test_query_mode import VictimServer
from window_steps import SAMPLES, open_image


def test_query_mode_asks_the_victim_named_in_the_form(qtbot, window):
    from guiapp.core.labels import imagenet_labels
    from guiapp.core.models import load_model

    names = [", ".join(c.synonyms) for c in imagenet_labels().classes]  # as hosted models name them
    victim = VictimServer(load_model("efficientnet-lite0", "cpu"), "topk", names)
    try:
        open_image(qtbot, window, SAMPLES / "coffee.jpg")
        form = window.form
        form.set_mode("query")
        field = form.field("victim")
        assert field.isVisibleTo(window) and "https://" in field.placeholderText()
        field.setText(victim.url)
        form.field("surrogates").set_checked(["efficientnet-lite0"])
        form.field("iterations").setValue(2)
        form.field("max_queries").setValue(3)
        window.target_combo.set_target(1)
        with qtbot.waitSignal(window.attack_finished, timeout=180000) as blocker:
            window.start_attack()
        result = blocker.args[0]
        assert victim.count == len(result.queries) >= 1  # every question reached the victim, and was counted
        assert result.success == any(q["agrees"] for q in result.queries)
        # Each question is a point of its own on the live plot: the victim's score of the target.
        plotted = window.plot.data.victim
        assert len(plotted) == victim.count and "victim" in window.plot.legend.text()
        assert [round(c, 4) for _, c in plotted] == [
            round(q["target_score"] if q["target_score"] is not None else float(q["agrees"]), 4)
            for q in result.queries]
        qtbot.waitUntil(lambda: "the victim" in window.result_label.text(), timeout=60000)
        line = window.result_label.text()
        assert f"after {victim.count} question" in line and "crafting model" not in line  # the victim says it
    finally:
        victim.close()


def test_the_test_button_asks_the_victim_once_and_shows_its_answer(qtbot, window):
    from guiapp.core.labels import imagenet_labels
    from guiapp.core.models import load_model

    names = [", ".join(c.synonyms) for c in imagenet_labels().classes]
    victim = VictimServer(load_model("efficientnet-lite0", "cpu"), "topk", names)
    try:
        open_image(qtbot, window, SAMPLES / "coffee.jpg")
        window.form.set_mode("query")
        row = window.victim_test
        assert row.isVisibleTo(window)
        row.button.click()
        assert "victim first" in row.answer.text()  # nothing named yet: nobody asked
        window.form.field("victim").setText(victim.url)
        row.button.click()
        qtbot.waitUntil(lambda: row.answer.text().startswith("It answers:"), timeout=60000)
        assert victim.count == 1 and "espresso" in row.answer.text()  # one question, its answer shown
        window.form.set_mode("transfer")
        assert not row.isVisibleTo(window)
    finally:
        victim.close()


def test_start_waits_for_a_victim_in_the_query_mode_and_says_so(qtbot, window):
    """Walked: Start with the Victim field empty opened an error box quoting the CLI's
    --victim; Start now stays disabled with a line that says what to type."""
    open_image(qtbot, window, SAMPLES / "coffee.jpg")
    window.target_combo.set_target(1)
    form = window.form
    form.set_mode("query")
    form.field("victim").setText("")
    hint = window.panel.start_hint
    assert not window.start_button.isEnabled() and not window.act_start.isEnabled()
    assert hint.isVisibleTo(window) and "Type the victim above" in hint.text()
    form.field("victim").setText("http://127.0.0.1:9/")
    assert window.start_button.isEnabled() and not hint.isVisibleTo(window)
    form.field("victim").setText("")
    form.field("max_queries").setValue(0)  # nobody asked: the transfer mode's result, no victim needed
    assert window.start_button.isEnabled()
