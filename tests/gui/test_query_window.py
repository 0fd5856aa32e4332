"""The query mode in the window: a Victim field, run against a victim on the loopback."""

import socket
import time

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


def dead_victim_url() -> str:
    """A loopback URL nothing listens at: a port the system just handed out, closed again."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    return f"http://127.0.0.1:{port}/classify"


def answer_of_test(qtbot, row, timeout=30000) -> str:
    """Click Test and wait for its answer (or its error) to replace "Asking…"."""
    row.button.click()
    qtbot.waitUntil(lambda: row.button.isEnabled() and row.answer.text() not in ("", "Asking…"), timeout=timeout)
    return row.answer.text()


def test_the_test_answer_is_forgotten_when_the_victim_the_mode_or_the_image_changes(qtbot, window):
    """Walked: an error about port 18999 stayed after typing 18666, and the cat's answer
    stayed beside a grey photo. The line is about one victim and one image: it clears when
    either changes, or the mode does."""
    from guiapp.core.labels import imagenet_labels

    names = [", ".join(c.synonyms) for c in imagenet_labels().classes]
    victim = VictimServer(None, "stubborn", names)  # always its first class: no model needed
    try:
        open_image(qtbot, window, SAMPLES / "coffee.jpg")
        form, row = window.form, window.victim_test
        form.set_mode("query")
        form.field("victim").setText(dead_victim_url())
        assert answer_of_test(qtbot, row) and not row.answer.text().startswith("It answers:")  # an error
        form.field("victim").setText(victim.url)  # another victim: the error was about the old one
        assert row.answer.text() == ""
        assert answer_of_test(qtbot, row).startswith("It answers:")
        form.field("iterations").setValue(form.field("iterations").value() + 1)  # not about the victim: kept
        assert row.answer.text().startswith("It answers:")
        form.set_mode("transfer")
        form.set_mode("query")
        assert row.answer.text() == ""
        assert answer_of_test(qtbot, row).startswith("It answers:")
        open_image(qtbot, window, SAMPLES / "chelsea_cat.jpg")
        assert row.answer.text() == ""
        assert victim.count == 2
    finally:
        victim.close()


def test_a_long_test_error_takes_three_lines_at_most_and_its_tooltip_the_rest(qtbot, window):
    """Walked: a stale error 7 lines tall pushed a later run's progress and result off a
    1366x768 screen. The line is capped at three; the whole message is in its tooltip."""
    from guiapp.gui.victim_test import MAX_LINES

    window.resize(1366, 768)
    open_image(qtbot, window, SAMPLES / "coffee.jpg")
    form, row = window.form, window.victim_test
    form.set_mode("query")
    form.field("victim").setText(dead_victim_url())
    shown = answer_of_test(qtbot, row)
    full = row.answer.toolTip()
    assert len(full) > 120 and "victim" in full  # long enough to wrap past three lines in the side panel
    qtbot.wait(100)  # the row laid out again at the answer's height
    label = row.answer  # the height its text takes at its width (the row is the button's height at least)
    assert MAX_LINES == 3 and label.heightForWidth(label.width()) <= 3 * label.fontMetrics().lineSpacing() + 2
    assert shown.endswith("…") and full.startswith(shown[:-1].rstrip())


def test_testing_a_dead_victim_says_at_once_that_nothing_answers_as_start_does(qtbot, window):
    """Walked: Test of a URL nobody listens at said "Asking…" for 5-8 s (4 tries with backoff);
    Start said at once that nothing answers there. Test now checks the connection first."""
    open_image(qtbot, window, SAMPLES / "coffee.jpg")
    form, row = window.form, window.victim_test
    form.set_mode("query")
    url = dead_victim_url()
    form.field("victim").setText(url)
    boxes: list[str] = []
    window.error_shown.connect(boxes.append)
    began = time.monotonic()
    answer_of_test(qtbot, row)
    took = time.monotonic() - began
    full = row.answer.toolTip() or row.answer.text()
    port = url.split(":")[2].split("/")[0]
    assert f"nothing answers at the victim's 127.0.0.1:{port}" in full and "server running?" in full
    assert took < 3.0, took
    qtbot.wait(200)
    assert boxes == []  # said in the row only (walked: an error box said it again)
