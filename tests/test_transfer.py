"""Transfer mode: each switch does what it claims (on tiny models), centroid files are
checked, the judge is never loaded while crafting, and the CLI runs it end to end."""

import json
import math
from pathlib import Path

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from PIL import Image
from torch import nn

from guiapp.cli import main
from guiapp.core import models as models_mod
from guiapp.core.attacks import make_config
from guiapp.core.attacks.centroid_terms import (
    ContrastTerm,
    PrototypeHead,
    PullTerm,
    centroid_term,
    surrogate_centroids,
)
from guiapp.core.attacks.transfer import TransferAttack, TransferConfig
from guiapp.core.attacks.transfer_ops import (
    diverse_input,
    shrink_noise,
    smooth_gradient,
    smooth_gradient_conv,
    target_margin,
)
from guiapp.core.centroids import CentroidBuilder, Centroids
from guiapp.core.errors import CentroidError, GuiappError
from guiapp.core.labels import imagenet_labels
from guiapp.core.models import Classifier
from guiapp.core.png_output import read_png_metadata
from guiapp.core.preprocess import PM1, PreprocessSpec, image_to_tensor

SAMPLES = Path(__file__).resolve().parents[1] / "resources" / "samples"
TARGET = 1


def tiny(seed: int, name: str) -> Classifier:
    """A small random classifier with the Classifier interface (fast, deterministic)."""
    torch.manual_seed(seed)
    feats = nn.Sequential(nn.Conv2d(3, 8, 3, stride=2), nn.ReLU(), nn.AdaptiveAvgPool2d(1), nn.Flatten())
    head = nn.Linear(8, 1000)
    for m in (feats, head):
        m.eval().requires_grad_(False)
    spec = PreprocessSpec(resize=36, crop=32, mean=PM1.mean, std=PM1.std)
    return Classifier(name=name, spec=spec, labels=imagenet_labels(), device=torch.device("cpu"),
                      feature_layer="pool (8)", fingerprint=f"tiny{seed}", feature_net=feats, head_net=head)


@pytest.fixture(scope="module")
def pair():
    return [tiny(1, "tiny-a"), tiny(2, "tiny-b")]


@pytest.fixture(scope="module")
def image():
    return np.asarray(Image.open(SAMPLES / "coffee.jpg").convert("RGB").resize((48, 40)))


STANDARD_VIEWS = {"p_full": 0.0, "p_rrc": 0.0, "zoom_max": 1.0}  # every surrogate sees its own centre crop


def first_loss(models, image, **cfg):
    attack = TransferAttack(models, image, TARGET,
                            TransferConfig(diversity=0.0, **{"centroid_weight": 0.0, "precision": "float32",
                                                             **STANDARD_VIEWS, **cfg}))
    x = image_to_tensor(image)
    return attack._loss(x, torch.Generator().manual_seed(0), None)


def test_logit_loss_is_minus_the_target_logit_and_ce_is_cross_entropy(pair, image):
    x = image_to_tensor(image)
    logits = [m.logits(x) for m in pair]
    _, logit_loss, *_ = first_loss(pair, image, loss="logit")
    _, ce_loss, *_ = first_loss(pair, image, loss="ce")
    assert float(logit_loss) == pytest.approx(float(-sum(z[0, TARGET] for z in logits) / 2), rel=1e-5)
    expected_ce = sum(float(F.cross_entropy(z, torch.tensor([TARGET]))) for z in logits) / 2
    assert float(ce_loss) == pytest.approx(expected_ce, rel=1e-5)


def test_ensemble_loss_is_the_mean_of_the_surrogates(pair, image):
    both = float(first_loss(pair, image)[0])
    each = [float(first_loss([m], image)[0]) for m in pair]
    assert both == pytest.approx(sum(each) / 2, rel=1e-5)


def test_translation_invariance_smooths_the_gradient():
    impulse = torch.zeros(1, 3, 21, 21)
    impulse[0, :, 10, 10] = 1.0
    assert torch.equal(smooth_gradient(impulse, 1), impulse)  # kernel 1: off
    blob = smooth_gradient(impulse, 7)
    assert float(blob.sum()) == pytest.approx(3.0, rel=1e-5)  # mass kept, per channel
    assert float(blob[0, 0, 10, 10]) < 0.2 and float(blob[0, 0, 10, 13]) > 0  # spread over the kernel
    assert torch.allclose(blob[0, 0], blob[0, 0].T) and torch.allclose(blob[0, 0], blob[0, 0].flip(0))
    # the CPU path (scipy) is the GPU path (torch's depthwise convolution), zero padding included
    grad = torch.randn(1, 3, 40, 57, generator=torch.Generator().manual_seed(0))
    for size in (3, 7, 29):
        assert torch.allclose(smooth_gradient(grad, size), smooth_gradient_conv(grad, size), atol=1e-6)


def test_input_diversity_resizes_and_pads_with_probability_p():
    crop = torch.rand(1, 3, 40, 40)
    gen = torch.Generator().manual_seed(0)
    assert diverse_input(crop, 0.0, gen) is crop
    out = diverse_input(crop, 1.0, gen)
    assert out.shape[-2:] == (44, 44)  # padded to 1.1 s
    rows = (out[0].abs().sum((0, 2)) > 0).sum()
    assert 40 <= int(rows) < 44  # a resized copy of 40..43 px, zeros around it
    kept = sum(diverse_input(crop, 0.5, gen) is crop for _ in range(200))
    assert 60 < kept < 140


def test_momentum_changes_the_updates(pair, image):
    def deltas(momentum):
        attack = TransferAttack(pair, image, TARGET, TransferConfig(iterations=4, diversity=0.0, ti_kernel=0,
                                                                    momentum=momentum, centroid_weight=0.0))
        out = []
        for _ in attack.steps():
            out.append(attack.current_image().astype(int) - image.astype(int))
        return out

    plain, mi = deltas(0.0), deltas(1.0)
    assert np.array_equal(plain[0], mi[0])  # the first step is the same sign of the gradient
    assert any(not np.array_equal(a, b) for a, b in zip(plain[1:], mi[1:], strict=False))  # later ones accumulate


def test_centroid_term_pulls_toward_the_nearest_centre(pair, image):
    x = image_to_tensor(image)
    feats = [m.features(m.preprocess(x))[0] for m in pair]
    # Two centres for the target: the image's own features + 1 (near), and far away.
    layers = {"head": np.stack([np.stack([f.numpy() + 1, f.numpy() + 50]) for f in feats]).reshape(-1, 8)}

    def per_model(i):
        return Centroids({"head": layers["head"][2 * i: 2 * i + 2]}, np.array([TARGET, TARGET], np.int32), {})

    cents = {m.name: per_model(i) for i, m in enumerate(pair)}
    config = TransferConfig(diversity=0.0, centroid_weight=2.0, centroid_layers=("head",), centroid_objective="pull",
                            precision="float32", **STANDARD_VIEWS)
    attack = TransferAttack(pair, image, TARGET, config, cents)
    terms = attack._centroid_terms(x, source=TARGET, sources=[TARGET, TARGET])
    for i, f in enumerate(feats):
        assert torch.allclose(terms[i]["head"].centre, f + 1)  # the nearest of the two
    loss, class_loss, centroid_loss, *_ = attack._loss(x, torch.Generator(), terms)
    expected = sum(float(8 / ((f + 1) ** 2).sum()) for f in feats) / 2  # |f - c|^2 = 8
    assert float(centroid_loss) == pytest.approx(expected, rel=1e-4)
    assert float(loss) == pytest.approx(float(class_loss) + 2.0 * expected, rel=1e-4)


def test_shrink_keeps_the_margin_with_less_noise(model, image):
    surrogates = [model]  # the real Lite0: a random tiny model cannot always be pushed to a class
    config = TransferConfig(budget="linf", iterations=10, diversity=0.0, centroid_weight=0.0, **STANDARD_VIEWS)
    attack = TransferAttack(surrogates, image, TARGET, config)
    list(attack.steps())
    x = image_to_tensor(image)
    delta = image_to_tensor(attack.result.adversarial) - x
    full_margin = float(torch.cat([target_margin(m.logits(x + delta), TARGET) for m in surrogates]).min())
    assert full_margin > 2.0  # fooled with room to spare
    probes = list(shrink_noise(surrogates, x, delta, [TARGET] * len(surrogates), 2.0))
    kept = probes[-1][3]
    assert float(torch.cat([target_margin(m.logits(kept), TARGET) for m in surrogates]).min()) >= 2.0
    assert float((kept - x).abs().sum()) < float(delta.abs().sum())
    assert len(probes) > 1 and any(not ok for _, ok, _, _ in probes)  # it searched below the margin


def test_cancel_stops_within_one_iteration(pair, image):
    attack = TransferAttack(pair, image, TARGET, TransferConfig(iterations=500, centroid_weight=0.0))
    for _ in attack.steps():
        attack.cancel()
    assert attack.result.cancelled and attack.result.steps == 1 and not attack.result.success


def test_config_checks_and_mode_factory():
    cfg = make_config("transfer", eps=8, iterations=10, surrogates="efficientnet-lite0, efficientnet-lite1")
    assert isinstance(cfg, TransferConfig) and cfg.mode == "transfer"
    assert cfg.surrogates == ("efficientnet-lite0", "efficientnet-lite1") and cfg.alpha == 1.0
    with pytest.raises(GuiappError, match="loss must be"):
        make_config("transfer", loss="hinge")
    with pytest.raises(GuiappError, match="max_steps not available in transfer mode"):
        make_config("transfer", max_steps=5)


def test_centroid_files_for_other_weights_or_layers_are_refused(model, tmp_path, monkeypatch):
    root = tmp_path / "imgs"
    root.mkdir()
    (root / "n01443537_goldfish.jpg").write_bytes((SAMPLES / "coffee.jpg").read_bytes())
    builder = CentroidBuilder(model, root, views=3, k=2, layers=("stage6", "head"), augment="strong")
    list(builder.run())
    path = builder.centroids.save(tmp_path / "c.npz")
    assert builder.centroids.layer("stage6").shape == (2, 192)
    monkeypatch.setattr("guiapp.core.attacks.centroid_terms.default_centroid_path", lambda name: path)
    # The same file for the right weights works, for layer stage6 ...
    found = surrogate_centroids([model], ("stage6",))
    assert np.array_equal(found[model.name].layer("stage6"), builder.centroids.layer("stage6"))
    # ... but not for a layer it does not hold, nor for other weights.
    with pytest.raises(CentroidError, match="no layer 'stage5'"):
        surrogate_centroids([model], ("stage5",))
    import dataclasses

    other = dataclasses.replace(model, fingerprint="0000000000000000")
    with pytest.raises(CentroidError, match="rebuild"):
        surrogate_centroids([other], ("stage6",))


def test_transfer_never_loads_a_model_it_does_not_craft_on(cat_path, tmp_path, monkeypatch, capsys):
    """The CLI, as a user runs it: --model is never loaded in transfer mode; the judge is
    loaded before the attack (a missing one fails before the long work, not after it) and
    asked after the PNG is saved."""
    loaded: list[str] = []
    real = models_mod.load_model

    def spy(name="efficientnet-lite0", device=None, weights=None):
        loaded.append(name)
        return real(name, device, weights)

    monkeypatch.setattr(models_mod, "load_model", spy)
    monkeypatch.setattr("guiapp.core.attacks.transfer.load_model", spy)
    monkeypatch.setattr("guiapp.core.arguments.load_model", spy)
    monkeypatch.setattr("guiapp.core.load_model", spy)
    out = tmp_path / "t.png"
    rc = main(["attack", str(cat_path), "-t", "goldfish", "--mode", "transfer", "--iterations", "3",
               "--surrogates", "efficientnet-lite0", "--model", "resnet50", "--judge", "efficientnet-lite1",
               "-o", str(out), "--json", "--device", "cpu"])
    report = json.loads(capsys.readouterr().out)
    assert rc in (0, 1) and out.exists()
    assert "resnet50" not in loaded and set(loaded) == {"efficientnet-lite0", "efficientnet-lite1"}
    assert loaded.index("efficientnet-lite1") < len(loaded) - 1  # the judge, before the attack's own loads
    assert report["mode"] == "transfer" and report["model"] == "efficientnet-lite0"
    assert set(report["judges"]) == {"efficientnet-lite1"}
    assert report["judges"]["efficientnet-lite1"]["top1"] >= 0
    meta = read_png_metadata(out)
    assert meta["mode"] == "transfer" and meta["model"] == "efficientnet-lite0"


def test_cli_rejects_options_of_the_other_modes(cat_path, capsys):
    assert main(["attack", str(cat_path), "-t", "goldfish", "--mode", "transfer", "--steps", "5"]) == 2
    assert "--steps only applies to the default and robust modes" in capsys.readouterr().err
    assert main(["attack", str(cat_path), "-t", "goldfish", "--iterations", "5"]) == 2
    assert "--iterations only applies to the transfer and query modes" in capsys.readouterr().err


def test_contrastive_centroid_term_is_the_share_of_the_target_distance():
    f = torch.zeros(4)
    target, source = torch.tensor([3.0, 0, 0, 0]), torch.tensor([0.0, 1, 0, 0])  # d_target 9, d_source 1
    assert float(ContrastTerm(target, source)(f)) == pytest.approx(9 / 10)
    assert float(PullTerm(target)(f)) == pytest.approx(9 / 9)  # distance relative to the centre's norm
    terms = {"stage6": PullTerm(target), "head": ContrastTerm(target, source)}
    taps = {"stage6": f[None], "head": f[None]}
    assert float(centroid_term(taps, terms)) == pytest.approx(1 + 0.9)


def _toy_centroids(rows: list[list[float]], owners: list[int]) -> Centroids:
    return Centroids(layers={"head": np.array(rows, np.float32)}, class_index=np.array(owners, np.int32), meta={})


def test_prototype_head_votes_by_the_best_centre_and_its_gradient_favours_the_target():
    # classes 0 and 2 have two centres each, class 1 has none in the file
    cents = _toy_centroids([[1, 0, 0], [0, 1, 0], [0, 0, 1], [-1, -1, 0]], [0, 0, 2, 2])
    head = PrototypeHead(cents, "head", target=2, num_classes=3, device=torch.device("cpu"))
    f = torch.tensor([0.9, 0.1, 0.0], requires_grad=True)
    logits = head.logits(f).detach()
    assert logits[1] == -math.inf and int(logits.argmax()) == 0  # a class without centres never wins
    loss = head(f)
    assert float(loss.detach()) == pytest.approx(float(-torch.log_softmax(logits[None], 1)[0, 2]), rel=1e-5)
    loss.backward()
    moved = (f - 0.05 * f.grad).detach()  # a small step against the gradient...
    assert float(head(moved)) < float(loss.detach())  # ...makes the target's vote stronger
    with pytest.raises(CentroidError, match="no centre for class 1"):
        PrototypeHead(cents, "head", target=1, num_classes=3, device=torch.device("cpu"))


def test_centroid_objective_is_checked():
    with pytest.raises(ValueError, match="centroid_objective must be one of pull, contrast, classify"):
        TransferConfig(centroid_objective="nearest")


def test_python_api_transfer_with_a_judge_as_the_readme_shows(cat_path, tmp_path):
    """README's Python example: guiapp.core.TransferConfig through attack_file, a judge asked after saving."""
    from guiapp.core import TransferConfig as PublicConfig
    from guiapp.core import attack_file

    out = tmp_path / "cat_goldfish_t.png"
    report = attack_file(cat_path, "goldfish", out, device="cpu", judges=["efficientnet-lite1"],
                         config=PublicConfig(eps=16, iterations=3, surrogates=("efficientnet-lite0",)))
    assert out.exists() and report.mode == "transfer" and report.model == "efficientnet-lite0"
    verdict = report.judges["efficientnet-lite1"]
    assert verdict["success"] == (verdict["top1"] == report.target) and 0 <= verdict["target_conf"] <= 1
    assert read_png_metadata(out)["mode"] == "transfer"


def test_cli_transfer_with_a_centroid_folder_and_the_prototype_head(model, cat_path, tmp_path, capsys):
    """As README shows: build a multi-layer file for the surrogate into a folder, then
    `attack --mode transfer --centroids DIR --centroid-weight W --centroid-objective classify`."""
    root = tmp_path / "imgs"
    root.mkdir()
    (root / "n01443537_goldfish.jpg").write_bytes((SAMPLES / "coffee.jpg").read_bytes())
    (root / "n02123045_tabby.jpg").write_bytes(cat_path.read_bytes())
    folder = tmp_path / "cents"
    assert main(["centroids", "build", "--images", str(root), "--model", "efficientnet-lite0", "--views", "2",
                 "--k", "1", "--layers", "stage6", "-o", str(folder / "efficientnet-lite0.npz"),
                 "--device", "cpu"]) == 0
    capsys.readouterr()
    out = tmp_path / "t.png"
    argv = ["attack", str(cat_path), "-t", "goldfish", "--mode", "transfer", "--iterations", "2",
            "--surrogates", "efficientnet-lite0", "--centroid-weight", "1", "--centroid-layers", "stage6",
            "--centroid-objective", "classify", "--json", "--device", "cpu", "-o", str(out)]
    assert main([*argv, "--centroids", str(folder)]) in (0, 1)
    report = json.loads(capsys.readouterr().out)
    assert out.exists() and report["centroids"] is True and report["mode"] == "transfer"
    # a single file is not what transfer mode reads: one file per surrogate, in a folder
    assert main([*argv, "-o", str(tmp_path / "u.png"), "--centroids", str(folder / "efficientnet-lite0.npz")]) == 2
    assert "a folder holding one <model>.npz per surrogate" in capsys.readouterr().err
    # a target the file has no centre for fails before the first iteration, with the class named
    assert main([*argv[:2], "-t", "robin", *argv[4:], "-o", str(tmp_path / "v.png"), "--centroids", str(folder)]) == 2
    assert "no centre for class 15" in capsys.readouterr().err


def test_batch_resume_key_follows_the_transfer_centroid_folder(model, tmp_path):
    """Batch resumes only with the same centroid data: a folder's files are part of the key."""
    from guiapp.core.attacks.transfer_strategy import TransferStrategy

    def centroids_fingerprint(model, centroids, config):
        return TransferStrategy().centroids_fingerprint(config, model.name, centroids)

    config = TransferConfig(surrogates=("efficientnet-lite0",), centroid_weight=1.0)
    a, b = tmp_path / "a", tmp_path / "b"
    for folder, content in ((a, b"one"), (b, b"two")):
        folder.mkdir()
        (folder / "efficientnet-lite0.npz").write_bytes(content)
    keys = {centroids_fingerprint(model, str(f), config) for f in (a, b)}
    assert len(keys) == 2 and all(k.startswith("files:") for k in keys)
    assert centroids_fingerprint(model, str(a),
                                 TransferConfig(surrogates=("efficientnet-lite0",), centroid_weight=0)) is None
    # "none" turns the term off, so it must not resume results made with the shipped files
    assert centroids_fingerprint(model, None, config) is None
    with pytest.raises(CentroidError, match="a folder holding one <model>.npz per surrogate"):
        centroids_fingerprint(model, str(a / "efficientnet-lite0.npz"), config)


def test_centroids_none_turns_the_transfer_centroid_term_off(cat_path, tmp_path):
    """`--centroids none` means no centroid term in every mode; the report says so."""
    from guiapp.core import attack_file

    assert TransferConfig().uses_centroids  # on by default, with the shipped files
    out = tmp_path / "off.png"
    report = attack_file(cat_path, "goldfish", out, device="cpu", centroids=None,
                         config=TransferConfig(iterations=2, surrogates=("efficientnet-lite0",)))
    assert report.centroids is False and any("without the centroid term" in n for n in report.notes)


def test_a_surrogate_without_centroids_is_named_with_the_fix(pair):
    with pytest.raises(CentroidError,
                       match=r"no centroids for surrogate tiny-a .*weight to 0"
                             r".*--layers stage5,stage6.*--centroids DIR"):
        surrogate_centroids(pair, TransferConfig().centroid_layers_needed)
    from guiapp.core.attacks.transfer_strategy import TransferStrategy

    off = TransferStrategy().prepare_centroids(TransferConfig(centroid_weight=0), pair, "auto")
    assert off.centroids is None and not off.used


def test_bfloat16_precision_runs_the_surrogates_in_bfloat16_with_nearly_the_same_loss(pair, image):
    _, exact, *_ = first_loss(pair, image, precision="float32")
    _, bf16, *_ = first_loss(pair, image, precision="bfloat16")
    assert float(bf16) != float(exact)  # really another number format...
    assert float(bf16) == pytest.approx(float(exact), rel=0.05, abs=0.05)  # ...for nearly the same loss


def test_auto_precision_is_float32_where_bfloat16_is_not_native(monkeypatch):
    from guiapp.core import device

    cpu = torch.device("cpu")
    monkeypatch.setattr(device, "fast_bfloat16", lambda d: False)
    assert device.autocast_dtype("auto", cpu) is None
    assert device.autocast_dtype("bfloat16", cpu) is torch.bfloat16
    monkeypatch.setattr(device, "fast_bfloat16", lambda d: True)
    assert device.autocast_dtype("auto", cpu) is torch.bfloat16
    assert device.autocast_dtype("float32", cpu) is None
