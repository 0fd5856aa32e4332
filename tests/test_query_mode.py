"""The query mode through the CLI against a victim server on the loopback (inside the test),
and the HTTP service's rule that a client may name only victims its operator allows."""

from __future__ import annotations

import io
import json
import math
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import numpy as np
import pytest
from PIL import Image

from guiapp.cli import main
from guiapp.core.models import load_model
from guiapp.core.predict import classify_pil

from _user_models import FRUITS, export_all, photo, tiny_cnn, write_card


@pytest.fixture
def fruit_model(tmp_path):
    path = export_all(tiny_cnn(seed=0), tmp_path / "m", "fruit")["torchscript"]
    (path.parent / "fruits.txt").write_text("\n".join(FRUITS) + "\n")
    write_card(path.with_suffix(".json"), labels="fruits.txt")
    return path


class VictimServer:
    """A hosted classifier on the loopback: answers a POSTed PNG (multipart) from `model`,
    in the shape `style` ("topk", "label" or "fail"), and counts the questions itself."""

    def __init__(self, model, style: str = "topk", names: list[str] | None = None) -> None:
        names_of = names or FRUITS
        self.count = 0
        self.images: list[np.ndarray] = []
        outer = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:  # noqa: N802 - http.server's name
                body = self.rfile.read(int(self.headers["Content-Length"]))
                outer.count += 1
                if style == "fail":
                    self.send_response(500)
                    self.end_headers()
                    return
                if style == "stubborn":  # always its first class, whatever the image
                    data = json.dumps([{"label": names_of[0], "score": 0.9}]).encode()
                    self.send_response(200)
                    self.send_header("Content-Length", str(len(data)))
                    self.end_headers()
                    self.wfile.write(data)
                    return
                png = body.split(b"\r\n\r\n", 1)[1].rsplit(b"\r\n--", 1)[0]
                img = Image.open(io.BytesIO(png)).convert("RGB")
                outer.images.append(np.asarray(img))
                probs = classify_pil(model, img)
                if style == "scored":  # never agrees, but scores the target (cherry) as the model does
                    answer_json = [{"label": names_of[0], "score": 0.99}, {"label": "cherry", "score": float(
                        probs[2]) / 100}]
                    data = json.dumps(answer_json).encode()
                    self.send_response(200)
                    self.send_header("Content-Length", str(len(data)))
                    self.end_headers()
                    self.wfile.write(data)
                    return
                conf, idx = probs.topk(5)
                names = [names_of[int(i)] for i in idx]
                answer = ([{"label": n, "score": float(c)} for n, c in zip(names, conf, strict=True)]
                          if style == "topk" else {"label": names[0]})
                data = json.dumps(answer).encode()
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def log_message(self, *args) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_port}/classify"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


def query_args(image, out, model, url, *more):
    return ["attack", str(image), "-t", "cherry", "--mode", "query", "--surrogates", str(model), "--victim", url,
            "--preset", "loud", "--centroids", "none", "--iterations", "30", "--step-iterations", "3",
            "-o", str(out), "--json", "--device", "cpu", *more]


@pytest.mark.parametrize("style", ["topk", "label"])
def test_query_mode_asks_the_victim_and_counts_every_question(fruit_model, tmp_path, capsys, style):
    model = load_model(str(fruit_model), "cpu")
    victim = VictimServer(model, style)
    try:
        image, out = photo(tmp_path / "p.png"), tmp_path / "out.png"
        rc = main(query_args(image, out, fruit_model, victim.url, "--max-queries", "6"))
        report = json.loads(capsys.readouterr().out)
    finally:
        victim.close()
    assert rc == 0 and report["success"], report
    assert report["queries"] == victim.count == len(report["answers"]) >= 1  # counted by the victim itself
    answers = report["answers"]
    first = next(i for i, a in enumerate(answers) if a["agrees"])
    assert all(not a["agrees"] for a in answers[:first])
    # Once it agreed, the only questions are about less of that noise (settle) ...
    assert all(a["phase"] == "settle" for a in answers[first + 1:])
    kept = max(i for i, a in enumerate(answers) if a["agrees"])
    assert answers[kept]["top1_name"] == "cherry"
    # ... and the quietest image it agreed with is the saved file's exact pixels.
    saved = np.asarray(Image.open(out).convert("RGB"))
    assert np.array_equal(victim.images[kept], saved)
    assert report["psnr"] == pytest.approx(answers[kept]["psnr"], abs=0.01)
    assert report["victim"] == victim.url


def test_the_progress_line_names_the_budgets_parts(fruit_model, tmp_path, capsys):
    """A walk: "(at most 230 steps)" said nothing of where the steps go (crafting, then the
    questions); the line names both, the total beside them."""
    victim = VictimServer(load_model(str(fruit_model), "cpu"), "topk")
    try:
        args = [a for a in query_args(photo(tmp_path / "p.png"), tmp_path / "o.png", fruit_model, victim.url,
                                      "--max-queries", "6") if a != "--json"]
        assert main(args) == 0
    finally:
        victim.close()
    err = capsys.readouterr().err
    assert "attack p.png: 30 crafting steps, then at most 6 questions of 4 steps each; 56 steps at most\n" in err, err


def test_a_victim_naming_two_classes_alike_is_still_understood(tmp_path, capsys):
    """Found on the held-back pairs: ImageNet's two "crane"s share their whole label, and a
    victim's top 5 holding "crane" stopped the image ("not a classification"). Here two of
    the model's classes are both "fig": the answers stand, and neither fig is ever said."""
    names = [*FRUITS[:6], "fig", *FRUITS[7:]]  # classes 5 and 6: both "fig"
    path = export_all(tiny_cnn(seed=0), tmp_path / "m", "fruit")["torchscript"]
    (path.parent / "fruits.txt").write_text("\n".join(names) + "\n")
    write_card(path.with_suffix(".json"), labels="fruits.txt")
    victim = VictimServer(load_model(str(path), "cpu"), "topk", names=names)
    try:
        rc = main(query_args(photo(tmp_path / "p.png"), tmp_path / "out.png", path, victim.url, "--max-queries", "6"))
        report = json.loads(capsys.readouterr().out)
    finally:
        victim.close()
    assert rc == 0 and report["success"], report  # (the target, cherry, is named once)
    assert report["queries"] == victim.count >= 1
    assert all(a["top1_name"] != "fig" for a in report["answers"])  # "fig or fig" when it led, never one of them


def test_query_mode_with_no_questions_is_the_transfer_mode(fruit_model, tmp_path, capsys):
    image = photo(tmp_path / "p.png")
    common = ["--surrogates", str(fruit_model), "--preset", "loud", "--centroids", "none", "--iterations", "20",
              "--device", "cpu", "--json"]
    assert main(["attack", str(image), "-t", "cherry", "--mode", "query", "--max-queries", "0",
                 "-o", str(tmp_path / "q.png"), *common]) in (0, 1)
    query = json.loads(capsys.readouterr().out)
    assert main(["attack", str(image), "-t", "cherry", "--mode", "transfer", "-o", str(tmp_path / "t.png"),
                 *common]) in (0, 1)
    capsys.readouterr()
    same = np.array_equal(np.asarray(Image.open(tmp_path / "q.png")), np.asarray(Image.open(tmp_path / "t.png")))
    assert same and query["queries"] == 0 and not query["success"]  # nobody was asked: no victim's word


def test_a_victim_that_fails_gives_a_clear_error(fruit_model, tmp_path, capsys):
    model = load_model(str(fruit_model), "cpu")
    victim = VictimServer(model, "fail")
    try:
        rc = main(query_args(photo(tmp_path / "p.png"), tmp_path / "out.png", fruit_model, victim.url,
                             "--max-queries", "3", "--victim-retries", "1"))
    finally:
        victim.close()
    err = capsys.readouterr().err
    assert rc != 0 and "did not answer after 2 tries: HTTP 500" in err
    assert victim.count == 2  # one question, retried once


def test_a_victim_nobody_can_ask_fails_before_any_crafting(fruit_model, tmp_path, capsys, monkeypatch):
    """Walked: a dead URL was found only after the whole crafting, and an address without
    http:// was read as a missing model file. Both are said before the first iteration."""
    import socket

    from guiapp.core.attacks.transfer import TransferAttack

    def never(*_args, **_kwargs):
        raise AssertionError("crafted before the victim was checked")

    monkeypatch.setattr(TransferAttack, "iterate", never)
    with socket.socket() as s:  # a loopback port nobody listens on (bound, then closed)
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    image, out = photo(tmp_path / "p.png"), tmp_path / "out.png"
    assert main(query_args(image, out, fruit_model, f"http://127.0.0.1:{port}/classify",
                           "--max-queries", "3")) != 0
    err = capsys.readouterr().err
    assert f"nothing answers at the victim's 127.0.0.1:{port}" in err and "no question was asked" in err
    assert main(query_args(image, out, fruit_model, f"127.0.0.1:{port}/classify", "--max-queries", "3")) != 0
    err = capsys.readouterr().err
    assert "looks like an address, but a victim URL starts with http:// or https://" in err
    assert "model file not found" not in err and not out.exists()


def test_query_mode_needs_a_victim(tmp_path, capsys):
    assert main(["attack", str(photo(tmp_path / "p.png")), "-t", "goldfish", "--mode", "query"]) == 2
    assert "needs a victim" in capsys.readouterr().err


def test_server_allows_only_the_victims_its_operator_named():
    from guiapp.core.labels import imagenet_labels
    from guiapp.serve.errors import ApiError
    from guiapp.serve.options import parse_attack_fields

    labels = imagenet_labels()
    fields = {"target": "goldfish", "mode": "query", "victim": "http://127.0.0.1:9/api/v1"}
    with pytest.raises(ApiError) as off:
        parse_attack_fields(fields, labels, 1000, "efficientnet-lite0")
    assert off.value.status == 403 and "query mode is off" in str(off.value)
    allowed = ("http://127.0.0.1:9/api",)
    with pytest.raises(ApiError) as missing:  # no victim named: a bad option (422), not a refused one
        parse_attack_fields({"target": "goldfish", "mode": "query"}, labels, 1000, "efficientnet-lite0", allowed)
    assert missing.value.status == 422 and "needs a victim" in str(missing.value)
    assert parse_attack_fields(fields, labels, 1000, "efficientnet-lite0", allowed).config.victim == fields["victim"]
    for bad in ("http://127.0.0.1:9.evil.example/api", "http://127.0.0.1:9/apix", "https://127.0.0.1:9/api"):
        with pytest.raises(ApiError) as refused:
            parse_attack_fields({**fields, "victim": bad}, labels, 1000, "efficientnet-lite0", allowed)
        assert refused.value.status == 403
    with pytest.raises(ApiError) as header:
        parse_attack_fields({**fields, "victim_header": "X-Key: $HOME"}, labels, 1000, "efficientnet-lite0", allowed)
    assert header.value.status == 403


def query_batch_args(tmp_path, model, url, photos=2, max_queries=5, iterations=30, step_iterations=3):
    """`guiapp-cli batch` arguments for a query batch over `photos` photos in tmp_path/in (made
    here), cherry as the target, results in tmp_path/out."""
    folder = tmp_path / "in"
    folder.mkdir()
    for seed in range(1, photos + 1):
        photo(folder / f"p{seed}.png", seed=seed)
    return ["batch", str(folder), "--out", str(tmp_path / "out"), "-t", "cherry", "--mode", "query",
            "--surrogates", str(model), "--victim", url, "--max-queries", str(max_queries), "--preset", "loud",
            "--centroids", "none", "--iterations", str(iterations), "--step-iterations", str(step_iterations),
            "--workers", "1", "--device", "cpu"]


def test_batch_reports_each_images_questions_and_a_resume_asks_none_again(fruit_model, tmp_path, capsys):
    import csv

    model = load_model(str(fruit_model), "cpu")
    victim = VictimServer(model, "topk")
    args = query_batch_args(tmp_path, fruit_model, victim.url)
    try:
        assert main(args) == 0
        asked = victim.count
        with open(tmp_path / "out" / "report.csv", newline="") as fh:
            rows = list(csv.DictReader(fh))
        assert sum(int(r["queries"]) for r in rows) == asked >= 2  # every question, counted by the victim
        assert all("(agrees)" in r["answers"] and r["success"] == "True" for r in rows)
        assert main(args) == 0  # resumed: both done with these settings, nobody is asked again
        assert victim.count == asked
    finally:
        victim.close()
    capsys.readouterr()


def test_a_resumed_batch_does_not_ask_again_about_images_the_victim_refused(fruit_model, tmp_path, capsys):
    """Walked: a rerun of a query batch attacked its failures again, asking the victim the
    same questions (and spending the run's total budget on them, so pending images never
    got their turn). A failure that asked its victim is kept; --force asks again."""
    import csv

    model = load_model(str(fruit_model), "cpu")
    victim = VictimServer(model, "stubborn")  # never agrees
    args = query_batch_args(tmp_path, fruit_model, victim.url, max_queries=3, iterations=10, step_iterations=2)
    try:
        assert main(args) == 1  # both failed
        asked = victim.count
        assert asked == 6
        assert "ok 0 failed 2" in capsys.readouterr().err  # the progress bar's last line
        assert main([*args, "-q"]) == 1  # quiet: no progress bar, the summary still
        quiet = capsys.readouterr()
        assert "ok 0 failed" not in quiet.err and "2 failed (2 in an earlier run)" in quiet.out
        assert main(args) == 1  # still two failures, the earlier run's
        out = capsys.readouterr()
        assert victim.count == asked  # nobody asked again
        assert "2 failed (2 in an earlier run)" in out.out
        assert "its victim is not asked again; --force asks again" in out.err
        with open(tmp_path / "out" / "report.csv", newline="") as fh:
            rows = list(csv.DictReader(fh))
        assert [r["status"] for r in rows] == ["failed", "failed"] and all(r["queries"] == "3" for r in rows)
        assert main([*args, "--force"]) == 1
        assert victim.count == asked + 6  # --force asks again
    finally:
        victim.close()
    capsys.readouterr()


def test_batch_total_query_budget_leaves_the_rest_pending(fruit_model, tmp_path, capsys):
    import csv

    model = load_model(str(fruit_model), "cpu")
    victim = VictimServer(model, "topk")
    try:
        rc = main([*query_batch_args(tmp_path, fruit_model, victim.url, photos=3), "--max-queries-total", "6"])
    finally:
        victim.close()
    captured = capsys.readouterr()
    err = captured.err
    with open(tmp_path / "out" / "report.csv", newline="") as fh:
        rows = list(csv.DictReader(fh))
    pending = [r for r in rows if r["status"] == "pending"]
    # Each image reserves its 5 questions while it runs: never more than 6 asked in all.
    assert victim.count <= 6 and pending
    left = 6 - victim.count
    assert (f"the total query budget (6 questions, {victim.count} asked) has {left} left, less than one image's 5"
            in err)
    assert "pending (out of query budget)" in captured.out and "cancelled" not in captured.out
    assert sum(int(r["queries"]) for r in rows if r["queries"]) == victim.count
    # a pending image's target is known before it is attacked (walked: it read -1)
    assert all(r["target"] == "2" and r["target_name"] == "cherry" for r in pending)
    assert rc == 1  # not every image reached its target (not an interruption: 130)


@pytest.mark.slow
def test_the_http_service_runs_the_query_mode_only_against_allowed_victims(fruit_model, tmp_path):
    """A real server: the operator allows one victim URL prefix; a client's query job asks
    that victim (counted by the victim itself) and any other URL is refused with 403."""
    from test_serve_process import Server

    model = load_model(str(fruit_model), "cpu")
    victim = VictimServer(model, "topk")
    prefix = victim.url.rsplit("/", 1)[0]
    server = Server(tmp_path / "server.log", "--model", str(fruit_model), "--allow-victim", prefix)
    try:
        image = photo(tmp_path / "p.png")
        files = {"image": (image.name, image.read_bytes(), "image/png")}
        form = {"target": "cherry", "mode": "query", "surrogates": str(fruit_model), "victim": victim.url,
                "max_queries": "5", "preset": "loud", "iterations": "30", "step_iterations": "3",
                "centroids": "none"}
        listed = server.http.get("/v1/models").json()
        assert "query" in listed["modes"] and listed["victims"] == [prefix]  # what a client may name
        r = server.http.post("/v1/attack", files=files, data=form, params={"format": "json"})
        assert r.status_code == 200, r.text
        report = r.json()["report"]
        assert report["success"] and report["queries"] == victim.count >= 1
        r = server.http.post("/v1/attack", files=files, data={**form, "victim": "http://127.0.0.1:9/elsewhere"})
        assert r.status_code == 403 and r.json()["error"] == "victim_not_allowed"
        # Walked: "PREFIX/../admin" was posted to (a server collapses it to /admin, outside the prefix).
        for escape in ("/../admin", "/%2e%2e/admin", "/./x/../../admin"):
            r = server.http.post("/v1/attack", files=files, data={**form, "victim": prefix + escape})
            assert r.status_code == 403 and r.json()["error"] == "victim_not_allowed", escape
        assert victim.count == report["queries"]  # the refused request asked nobody
    finally:
        server.kill()
        victim.close()


def test_the_search_grows_the_noise_allowed_only_up_to_grow_db(fruit_model, tmp_path, capsys):
    model = load_model(str(fruit_model), "cpu")
    victim = VictimServer(model, "stubborn")  # never agrees: the search uses every question
    try:
        rc = main(query_args(photo(tmp_path / "p.png"), tmp_path / "out.png", fruit_model, victim.url,
                             "--max-queries", "6", "--grow-db", "1"))
        printed = capsys.readouterr().out
    finally:
        victim.close()

    def refuse(constant: str) -> None:  # what JSON.parse does with NaN: strict JSON has none
        raise AssertionError(f"--json printed {constant}")

    report = json.loads(printed, parse_constant=refuse)
    assert rc == 1 and not report["success"] and report["queries"] == victim.count == 6
    assert report["target_conf"] is None  # the stubborn victim never scored the target: null, not NaN
    grown = [a["grown_db"] for a in report["answers"]]
    assert grown == [0, 0, 0.5, 1.0, 1.0, 1.0]  # two ladder rungs, then +0.5 dB per question, capped


@pytest.mark.parametrize("refine", ["patches", "recraft"])
def test_once_the_victim_scores_the_target_the_search_proposes_patches(fruit_model, tmp_path, capsys, refine):
    model = load_model(str(fruit_model), "cpu")
    victim = VictimServer(model, "scored")  # gives cherry a score, never agrees
    try:
        rc = main(query_args(photo(tmp_path / "p.png"), tmp_path / "out.png", fruit_model, victim.url,
                             "--max-queries", "7", "--refine", refine))
        report = json.loads(capsys.readouterr().out)
    finally:
        victim.close()
    assert rc == 1 and report["queries"] == victim.count == 7
    phases = [a["phase"] for a in report["answers"]]
    assert phases[:2] == ["ladder", "ladder"]
    assert set(phases[2:]) == ({"patch"} if refine == "patches" else {"search"})
    # The victim never agreed, so the result is the quiet one, the ladder's answer at the
    # budget (the louder tries bought nothing) ...
    answers = report["answers"]
    assert report["target_conf"] == pytest.approx(answers[1]["target_score"])
    assert report["psnr"] == pytest.approx(answers[1]["psnr"], abs=0.01)
    # ... and the search climbed what the victim scored: the best try it names is the
    # highest target score of all it asked (a proposal scored worse was dropped).
    best = max(answers[1:], key=lambda a: a["target_score"])
    named = [n for n in report["notes"] if "best try" in n]
    if best["query"] == 2:  # no try beat the ladder's: nothing louder to name
        assert named == []
    else:
        assert named and f"best try (question {best['query']}, target score {best['target_score']:.3f}" in named[0]
        # the two images' PSNRs, as the answers give them (not the budget's growth: walked, it read as a PSNR)
        assert f"{best['psnr']:.1f} dB) did not fool" in named[0] and f"{answers[1]['psnr']:.1f} dB);" in named[0]


def half_flat_budget():
    """A quiet budget on a photo whose left half is flat and right half textured."""
    import torch

    from guiapp.core.attacks.noise_budget import PerceptualBudget

    rng = np.random.default_rng(0)
    image = np.full((48, 64, 3), 120, np.uint8)
    image[:, 32:] = rng.integers(0, 255, (48, 32, 3))  # flat left half, textured right half
    x = torch.from_numpy(image).permute(2, 0, 1)[None].float() / 255
    return rng, x, PerceptualBudget(image, x, psnr=33.0, min_ssim=0.955, cap=16.0, ti_size=3)


def test_a_patch_proposal_moves_only_its_window_and_keeps_flat_areas_untouched():
    import torch

    rng, x, budget = half_flat_budget()
    z = budget.zeros().detach()
    direction = torch.from_numpy(rng.standard_normal((1, 1, 48, 64))).float()
    budget.saturate(z, direction, (slice(8, 40), slice(10, 60)), x)
    assert float(z[..., :8, :].abs().max()) == 0 and float(z[..., :, :10].abs().max()) == 0  # outside: as was
    assert float(z[..., :, :20].abs().max()) == 0  # flat: none, window or not
    inside = (slice(8, 40), slice(40, 60))
    assert torch.allclose(z[..., inside[0], inside[1]],
                          -budget.bound[..., inside[0], inside[1]] * direction[..., inside[0], inside[1]].sign())


def test_a_grown_perceptual_budget_keeps_flat_areas_untouched_and_its_cap():
    _, _, budget = half_flat_budget()
    before = budget.bound.clone()
    budget.set_scale(10 ** (3 / 20))
    assert float(budget.bound[..., :20].abs().max()) == 0  # flat: still none
    assert float(budget.bound.max()) <= 16 / 255 + 1e-7
    grew = budget.bound[before > 0] / before[before > 0]
    assert float(grew.max()) == pytest.approx(10 ** (3 / 20), rel=1e-4) and float(grew.min()) >= 1 - 1e-6


def test_the_victims_own_top_class_is_pushed_down_on_the_surrogates(fruit_model):
    """avoid_top: while the victim disagrees, the class it sees is a second term of the
    surrogates' loss (its logit, added: a margin to the target), in each surrogate's list."""
    import torch

    from guiapp.core.attacks import make_config
    from guiapp.core.attacks.query import QueryAttack
    from guiapp.core.attacks.query_answers import QueryRecord

    model = load_model(str(fruit_model), "cpu")
    image = np.random.default_rng(0).integers(0, 255, (64, 64, 3), dtype=np.uint8)
    config = make_config("query", victim="unused", centroid_weight=0.0)
    attack = QueryAttack([model], image, 2, config, None, 0, None)
    said = QueryRecord(query=1, phase="ladder", scale=1.0, grown_db=0.0, top1=0, top1_name="apple",
                       top1_score=0.9, target_score=0.05, agrees=False, psnr=40.0)
    attack._avoid(said)
    assert attack.craft.avoid == [0]
    logits = torch.tensor([[3.0, 0.0, 1.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0]])
    assert float(attack.craft._class_loss(0, logits, 2)) == pytest.approx(-1.0 + 3.0)  # -target + avoided
    attack._avoid(replace_top(said, 2))  # the victim sees the target: nothing to avoid
    assert attack.craft.avoid is None
    plain = make_config("query", victim="unused", avoid_top=False, centroid_weight=0.0)
    off = QueryAttack([model], image, 2, plain, None, 0, None)
    off._avoid(said)
    assert off.craft.avoid is None and float(off.craft._class_loss(0, logits, 2)) == pytest.approx(-1.0)


def replace_top(record, top):
    from dataclasses import replace

    return replace(record, top1=top)


class LoudnessVictim:
    """A victim that sees the target (class 2) once the noise's energy is at least half
    the energy of the second question's (the ladder's full budget): shares of the noise
    >= 1/sqrt(2) pass, 0.6 does not."""

    def __init__(self, labels, original: np.ndarray) -> None:
        from guiapp.core.victims import Victim

        outer = self

        class _Victim(Victim):
            def _ask(self, png: bytes):
                from guiapp.core.victims import Answer

                seen = np.asarray(Image.open(io.BytesIO(png)).convert("RGB"), dtype=np.float64)
                energy = float(((seen - original) ** 2).mean())
                outer.energies.append(energy)
                outer.images.append(seen.astype(np.uint8))
                reference = outer.energies[1] if len(outer.energies) > 1 else math.inf
                return Answer(2, {2: 0.6, 0: 0.3}) if energy >= 0.5 * reference else Answer(0, {0: 0.6, 2: 0.3})

        self.energies: list[float] = []
        self.images: list[np.ndarray] = []
        self.victim = _Victim(labels, "loudness")


@pytest.mark.parametrize("settle", [0, 1, 2, 4])
def test_once_the_victim_agrees_less_noise_is_asked_about_and_the_quietest_agreed_image_is_kept(
        fruit_model, tmp_path, settle):
    """settle_queries: after the victim agrees at the full budget, questions about 90%, 80%,
    ... of the noise until it refuses; the quietest image it still agreed with is the result."""
    from guiapp.core.attacks import make_config
    from guiapp.core.attacks.query import QueryAttack

    model = load_model(str(fruit_model), "cpu")
    image = np.asarray(Image.open(photo(tmp_path / "p.png")).convert("RGB"))
    fake = LoudnessVictim(model.labels, image.astype(np.float64))
    config = make_config("query", victim="unused", preset="loud", centroid_weight=0.0, iterations=20,
                         max_queries=10, settle_queries=settle)
    attack = QueryAttack([model], image, 2, config, None, 0, fake.victim)
    for _ in attack.steps():
        pass
    records = attack.records
    phases = [r.phase for r in records]
    # 0.6 (refused), 1.0 (agreed), then the settle questions: 0.9 and 0.8 (agreed), 0.7
    # (refused: under 1/sqrt(2)), and the refusal ends it (settle 4 asks 3)
    asked = min(settle, 3)
    assert phases == ["ladder", "ladder"] + ["settle"] * asked
    assert [r.agrees for r in records] == [False, True, True, True, False][:2 + asked]
    assert [round(r.scale, 2) for r in records[2:]] == [0.9, 0.8, 0.7][:asked]
    kept = [r for r in records if r.agrees][-1]
    result = attack.result
    assert result.success and result.target_conf == pytest.approx(kept.target_score)
    assert np.array_equal(result.adversarial, fake.images[kept.query - 1])
    assert all(r.psnr > records[1].psnr for r in records[2:])  # each settle question is quieter
    quieter = [n for n in result.notes if "dB quieter" in n]
    assert (quieter == []) if settle == 0 else (f"question {kept.query})" in quieter[0])



def test_a_batch_rows_answers_cell_gives_the_victims_scores():
    """Walked: the report's answers column read "tiger cat | tiger cat", no score at all."""
    from guiapp.core.batch.task import answers_text

    answers = [{"top1_name": "tiger cat", "top1_score": 0.91, "target_score": None, "agrees": False},
               {"top1_name": "tiger cat", "top1_score": 0.55, "target_score": 0.031, "agrees": False},
               {"top1_name": "goldfish", "top1_score": 0.63, "target_score": 0.63, "agrees": True},
               {"top1_name": "goldfish", "top1_score": None, "target_score": None, "agrees": True}]  # label only
    assert answers_text(answers) == ("tiger cat 0.91 | tiger cat 0.55, target 0.031 | goldfish 0.63 (agrees) | "
                                     "goldfish (agrees)")


def test_an_allowed_url_prefix_admits_only_paths_under_it():
    from guiapp.core.attacks.query_strategy import check_victim_allowed
    from guiapp.core.errors import GuiappError

    allowed = ("http://host:8000/api",)
    for ok in ("http://host:8000/api", "http://host:8000/api/", "http://host:8000/api/v1/classify",
               "HTTP://HOST:8000/api/x"):
        check_victim_allowed(ok, allowed)
    for bad in ("http://host:8000/apix", "http://host:8000/api/../admin", "http://host:8000/api/%2E%2E/admin",
                "http://host:8000/api/./../admin", "http://host:8000/api/..", "http://host:8001/api",
                "https://host:8000/api", "http://host:8000@evil/api", "http://host:8000.evil/api"):
        with pytest.raises(GuiappError, match="not one this server's operator allows"):
            check_victim_allowed(bad, allowed)
