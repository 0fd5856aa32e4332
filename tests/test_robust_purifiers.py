"""The robust mode against each purifier, one test each: the attack samples the purifier's
settings (EOT) through its differentiable stand-in at both levels (the file at its own
size, the model's 224-px view), and the saved 8-bit PNG, re-read from disk, keeps its
target after the real purifier at every checked setting and level. Tiny images; the real
figures come from `guiapp-cli evaluate` (docs/EVALUATION.md)."""

import dataclasses
from collections import defaultdict

import numpy as np
import pytest
from PIL import Image

from guiapp.core import attack_file
from guiapp.core import defences as D
from guiapp.core.attacks import make_config
from guiapp.core.defences.survival import survival
from guiapp.core.imageio import load_image

SIZE = (120, 90)  # the file's own size: unlike the 224-px view


@pytest.fixture(scope="module")
def small(tmp_path_factory, coffee_path):
    path = tmp_path_factory.mktemp("robust") / "coffee_small.png"
    Image.open(coffee_path).convert("RGB").resize(SIZE, Image.Resampling.LANCZOS).save(path)
    return path


@pytest.fixture
def tiny_ffdnet(tmp_path, monkeypatch):
    from _tiny_ffdnet import make_tiny_weights

    monkeypatch.setenv("GUIAPP_FFDNET_WEIGHTS", str(make_tiny_weights(tmp_path / "tiny.pth")))


def spy(monkeypatch, name: str) -> dict:
    """Record the settings and input sizes the stand-in of DEFENCES[name] is asked for."""
    seen: dict = defaultdict(set)
    base = D.DEFENCES[name]

    def recording(v, params):
        seen["shape"].add(tuple(v.shape[-2:]))
        for k, x in params.items():
            seen[k].add(x)
        return base.differentiable(v, params)

    monkeypatch.setitem(D.DEFENCES, name, dataclasses.replace(base, differentiable=recording))
    return seen


def robust_attack(model, small, tmp_path, defences: str, **options):
    config = make_config("robust", defences=defences, **options)
    out = tmp_path / "adv.png"
    report = attack_file(small, "goldfish", out, model=model, config=config, centroids=None)
    saved = load_image(out).rgb  # the 8-bit PNG as any program reads it back
    return report, saved, config


@pytest.mark.parametrize("name, varied", [
    ("rescale", None), ("jpeg", "quality"), ("bitdepth", "bits"), ("median", "size")])
def test_robust_survives_each_cheap_purifier(model, small, tmp_path, monkeypatch, name, varied):
    seen = spy(monkeypatch, name)
    report, saved, config = robust_attack(model, small, tmp_path, name)
    assert report.success
    assert {(SIZE[1], SIZE[0]), (224, 224)} <= seen["shape"]  # the file and the view levels
    if varied:
        assert len(seen[varied]) >= 2  # EOT: several of its settings were sampled
    checks = survival(model, saved, report.target, config.defences_to_survive())
    assert checks and all(checks.values()), checks
    assert {k.split(":")[0] for k in checks} == {"file", "view"}


def test_minimal_noise_does_not_survive(model, small, tmp_path):
    """The check can fail: the default mode's minimal noise is removed by the purifiers."""
    out = tmp_path / "plain.png"
    report = attack_file(small, "goldfish", out, model=model, centroids=None)
    assert report.success
    checks = survival(model, load_image(out).rgb, report.target, D.parse_defences("rescale,jpeg,median"))
    assert not all(checks.values())


def test_robust_survives_the_learned_denoiser(model, small, tmp_path, monkeypatch, tiny_ffdnet):
    seen = spy(monkeypatch, "ffdnet")
    report, saved, config = robust_attack(model, small, tmp_path, "ffdnet")
    assert report.success and {(SIZE[1], SIZE[0]), (224, 224)} <= seen["shape"]
    checks = survival(model, saved, report.target, config.defences_to_survive())
    assert checks and all(checks.values()), checks


@pytest.mark.slow  # three short real DIP runs: ~30 s on a busy 2-core CPU
def test_robust_with_deep_image_prior(model, small, tmp_path, monkeypatch):
    """DIP never runs per step: its blur stand-in does (view level only), linearised around
    the real DIP of the clean view and then of each checked candidate; the real DIP runs at
    most 1 + SLOW_CHECKS times, and the saved PNG's survival of it is what the attack said."""
    from guiapp.core.defences.survival import SLOW_CHECKS
    from guiapp.core.pipeline import AttackRun, plan_attack
    from guiapp.core.saved_result import save_result

    seen = spy(monkeypatch, "dip")
    calls = []
    base = D.DEFENCES["dip"]
    monkeypatch.setitem(D.DEFENCES, "dip", dataclasses.replace(
        D.DEFENCES["dip"], fn=lambda image, **kw: calls.append(image.shape) or base.fn(image, **kw)))
    config = make_config("robust", defences="dip:iterations=10", levels="view", max_steps=20)
    plan = plan_attack(load_image(small), "goldfish", config=config, model=model, centroids=None)
    run = AttackRun(plan)
    for _ in run.steps():
        pass
    saved = load_image(save_result(plan, run.result, tmp_path / "adv.png").path).rgb
    assert seen["shape"] == {(224, 224)} and seen["iterations"] == {10}
    assert 2 <= len(calls) <= 1 + SLOW_CHECKS and set(calls) == {(224, 224, 3)}
    checks = survival(model, saved, plan.target, config.defences_to_survive())
    assert checks == {"view:dip": run.result.success}


def test_eot_sampling_and_settings():
    jpeg = D.DEFENCES["jpeg"]
    rng = np.random.default_rng(0)
    assert {jpeg.sample(rng).params["quality"] for _ in range(200)} == set(range(50, 91, 5))
    assert [s.short for s in D.DEFENCES["bitdepth"].settings()] == ["bitdepth-3", "bitdepth-4", "bitdepth-5"]
    pinned = jpeg.with_params(quality=60)
    assert pinned.sample(rng).params == {"quality": 60} and [s.short for s in pinned.settings()] == ["jpeg-60"]


def test_only_the_robust_mode_takes_a_precision(model, monkeypatch):
    """The default mode's gradient passes stay float32 whatever the device; robust follows
    its `precision` (auto: bfloat16 only where native)."""
    import torch

    from guiapp.core import device
    from guiapp.core.attacks.whitebox import TargetedAttack

    image = np.asarray(Image.new("RGB", (40, 30), (120, 90, 60)))
    monkeypatch.setattr(device, "fast_bfloat16", lambda d: True)
    assert TargetedAttack(model, image, 1, make_config("default"))._autocast is None
    assert TargetedAttack(model, image, 1, make_config("robust"))._autocast is torch.bfloat16
    assert TargetedAttack(model, image, 1, make_config("robust", precision="float32"))._autocast is None
    monkeypatch.setattr(device, "fast_bfloat16", lambda d: False)
    assert TargetedAttack(model, image, 1, make_config("robust"))._autocast is None
    from guiapp.core.errors import GuiappError

    with pytest.raises(GuiappError, match="option precision not available in default mode"):
        make_config("default", precision="bfloat16")
