
import numpy as np
import pytest
from PIL import Image

from guiapp.core import AttackConfig, RobustConfig, TargetedAttack, attack_file
from guiapp.core.errors import LabelError, OutputError
from guiapp.core.imageio import load_image
from guiapp.core.png_output import read_png_metadata
from guiapp.core.predict import classify_pil


def test_end_to_end_saved_png_is_classified_as_target(model, cat_path, tmp_path):
    before = cat_path.read_bytes()
    steps = []
    report = attack_file(cat_path, "goldfish", tmp_path / "out.png", model=model, on_step=steps.append)
    assert report.success and report.final == 1 and report.final_name == "goldfish"
    assert report.source in (281, 282, 285)  # a cat
    # Independent re-check of the file on disk, through the PIL path.
    probs = classify_pil(model, Image.open(tmp_path / "out.png"))
    assert int(probs.argmax()) == 1
    saved = load_image(tmp_path / "out.png")
    assert saved.size == load_image(cat_path).size == (451, 300)
    assert report.psnr > 40 and report.linf <= 16
    assert steps and steps[-1].step == report.steps and len(steps) == report.steps
    assert read_png_metadata(tmp_path / "out.png")["target"] == "1 goldfish"
    assert cat_path.read_bytes() == before


def test_confidence_is_honoured(model, coffee_path, tmp_path):
    report = attack_file(
        coffee_path, "tabby", tmp_path / "o.png", model=model, config=AttackConfig(confidence=0.6)
    )
    assert report.success and report.target_conf >= 0.6


def test_full_resolution_is_kept(model, tmp_path, cat_path):
    big = Image.open(cat_path).resize((1200, 800), Image.BICUBIC)
    big.save(tmp_path / "big.png")
    report = attack_file(tmp_path / "big.png", "tench", tmp_path / "big_adv.png", model=model)
    assert report.success
    assert load_image(tmp_path / "big_adv.png").size == (1200, 800)


def test_deterministic_for_a_seed(model, cat_path):
    img = load_image(cat_path).rgb
    outs = []
    for _ in range(2):
        a = TargetedAttack(model, img, 1, AttackConfig(max_steps=8, refine_steps=2, seed=3))
        list(a.steps())
        outs.append(a.result.adversarial)
    assert np.array_equal(outs[0], outs[1])


def test_cancel_stops_between_steps(model, cat_path):
    a = TargetedAttack(model, load_image(cat_path).rgb, 1)
    seen = 0
    for record in a.steps():
        seen += 1
        if record.step == 2:
            a.cancel()
    assert seen == 2 and a.result.cancelled and not a.result.success


def test_cancelled_file_attack_writes_nothing(model, cat_path, tmp_path):
    holder = {}

    def cancel_on_first_step(record):
        holder["attack"].cancel()

    report = attack_file(
        cat_path, 1, tmp_path / "o.png", model=model, on_step=cancel_on_first_step,
        attack_hook=lambda a: holder.setdefault("attack", a),
    )
    assert report.cancelled and not report.success and report.output is None
    assert not (tmp_path / "o.png").exists()


def test_failure_is_reported_not_faked(model, cat_path, tmp_path):
    report = attack_file(
        cat_path, "goldfish", tmp_path / "o.png", model=model, config=AttackConfig(max_steps=1, eps=1)
    )
    assert not report.success and report.final != 1


def test_bad_label_and_output_fail_before_work(model, cat_path):
    with pytest.raises(LabelError):
        attack_file(cat_path, "crane", model=model)
    with pytest.raises(OutputError):
        attack_file(cat_path, "goldfish", cat_path, model=model)


def test_config_validation():
    with pytest.raises(ValueError):
        AttackConfig(eps=0)
    with pytest.raises(ValueError):
        AttackConfig(confidence=1.5)


def test_mode_defaults_and_explicit_refine():
    plain, robust = AttackConfig(), RobustConfig()
    assert (plain.refine_budget, plain.start_box) == (2, 2.0)
    assert (robust.refine_budget, robust.start_box) == (10, 4.0)
    assert RobustConfig(refine_steps=0).refine_budget == 0
    assert AttackConfig(eps=1.5).start_box == 1.5  # never above the budget


def test_auto_refine_goes_on_only_while_psnr_is_low(model, cat_path):
    from guiapp.core.attacks.whitebox import REFINE_FLOOR_DB

    assert 40.0 < REFINE_FLOOR_DB < 50.0  # the PSNRs used below sit on either side
    img = load_image(cat_path).rgb
    auto = TargetedAttack(model, img, 1)
    assert not auto._refine_done(2, best_psnr=40.0)  # low PSNR: keep shrinking
    assert auto._refine_done(2, best_psnr=50.0)
    extra = AttackConfig.REFINE_EXTRA
    assert auto._refine_done(2 + extra, best_psnr=40.0)  # but only up to REFINE_EXTRA more
    explicit = TargetedAttack(model, img, 1, AttackConfig(refine_steps=2))
    assert explicit._refine_done(2, best_psnr=40.0)  # an explicit count is exact


def test_source_is_known_even_if_cancelled_before_the_first_step(model, cat_path):
    a = TargetedAttack(model, load_image(cat_path).rgb, 1)
    a.cancel()
    list(a.steps())
    assert a.result.source in (281, 282, 285) and a.result.steps == 0


def test_success_criteria_are_objects():
    import torch

    from guiapp.core.criteria import AllOf, TargetedTop1, TopK, met_by_all

    probs = torch.tensor([0.1, 0.6, 0.3])
    assert TargetedTop1(1).met(probs) and not TargetedTop1(2).met(probs)
    assert not TargetedTop1(1, confidence=0.7).met(probs)
    assert TopK(2, 2).met(probs) and not TopK(0, 2).met(probs)
    both = TargetedTop1(1) & TopK(1, 1)
    assert isinstance(both, AllOf) and both.met(probs) and "top-1 is class 1" in both.describe()
    assert met_by_all(TargetedTop1(1), [probs, probs]) and not met_by_all(TargetedTop1(1), [])
