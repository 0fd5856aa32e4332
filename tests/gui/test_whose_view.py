"""Whose view the window shows (walked by a new user at 1366x768): the query mode's verdict
was below the side panel's edge while a surrogate's green target filled the table; after
changing the model, one table heading covered two models' columns."""

from test_query_mode import VictimServer
from window_steps import SAMPLES, open_image, run_attack


def _in_view(window, widget) -> bool:
    """Is all of `widget` inside the side panel's visible part?"""
    viewport = window.side_scroll.viewport()
    top_left = widget.mapTo(viewport, widget.rect().topLeft())
    return widget.isVisible() and viewport.rect().contains(top_left) and \
        top_left.y() + min(widget.height(), 40) <= viewport.height()


def test_the_query_verdict_is_in_view_and_the_table_says_it_is_not_the_victim(qtbot, window):
    from guiapp.core.labels import imagenet_labels
    from guiapp.core.models import load_model

    names = [", ".join(c.synonyms) for c in imagenet_labels().classes]
    victim = VictimServer(load_model("efficientnet-lite0", "cpu"), "topk", names)
    try:
        open_image(qtbot, window, SAMPLES / "coffee.jpg")
        form = window.form
        form.set_mode("query")
        form.field("victim").setText(victim.url)
        form.field("surrogates").set_checked(["efficientnet-lite0"])
        # A form taller than the window, as a user's model's card note and a real font made it at
        # 1366x768 (the offscreen platform's font is smaller).
        window.panel.show_model_note("<br>".join(["what the card says"] * 30))
        run_attack(qtbot, window, target=1, iterations=2, max_queries=1)
        qtbot.waitUntil(lambda: "the victim" in window.result_label.text(), timeout=60000)
        qtbot.waitUntil(lambda: _in_view(window, window.result_label), timeout=5000)
        assert window.side_scroll.verticalScrollBar().maximum() > 0  # the form is taller than the window here
        assert "(a surrogate, not the victim)" in window.predictions.title()
    finally:
        victim.close()


def test_another_models_view_of_a_run_says_so_and_both_columns_are_its(qtbot, window):
    open_image(qtbot, window, SAMPLES / "coffee.jpg")
    run_attack(qtbot, window, target=1)
    qtbot.waitUntil(lambda: window.shown_entry() is not None and window.shown_entry().dist is not None,
                    timeout=60000)
    first = window.shown_entry()
    assert first.table_model == "efficientnet-lite0"
    assert window.predictions.title() == "Predictions of efficientnet-lite0"
    with qtbot.waitSignal(window.model_ready, timeout=60000):
        window.load_model("efficientnet-lite1")
    # The run's noise through the model chosen since, beside the verdict of the one that crafted it.
    qtbot.waitUntil(lambda: window.predictions.title()
                    == "Predictions of efficientnet-lite1 (did not craft this noise)", timeout=60000)
    qtbot.waitUntil(lambda: window.original_preds != [], timeout=60000)
    # The run again from the history: it was measured with lite0, but the Original column is
    # lite1's now, so its Adversarial column is measured again with lite1.
    window.show_entry(first)
    qtbot.waitUntil(lambda: first.table_model == "efficientnet-lite1", timeout=60000)
    assert window.predictions.title() == "Predictions of efficientnet-lite1 (did not craft this noise)"
    assert "efficientnet&#8209;lite1" in window.result_label.text()  # the saved image through lite1
