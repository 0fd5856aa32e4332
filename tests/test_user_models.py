"""A user's own classifier: every file format, its card and labels, and what is refused."""

from __future__ import annotations

import json
import warnings

import pytest
import torch

from guiapp.cli import main
from guiapp.core import attack_file, predict_file
from guiapp.core.errors import ModelUnavailableError
from guiapp.core.models import input_spec, load_model

from _user_models import COLOURS, FRUITS, ColourNet, colour_photos, export_all, photo, tiny_cnn, write_card

onnx = pytest.importorskip("onnx")
pytest.importorskip("onnxruntime")


@pytest.fixture
def fruit_models(tmp_path):
    """The same 10-class CNN in three formats, each with its card and a labels file."""
    (tmp_path / "fruits.txt").write_text("\n".join(FRUITS) + "\n")
    files = export_all(tiny_cnn(), tmp_path / "m", "fruit")
    for path in files.values():
        write_card(path.with_suffix(".json"), labels="../fruits.txt")
    return files


@pytest.mark.parametrize("kind", ["torchscript", "export", "onnx"])
def test_each_format_loads_with_its_card_and_own_labels(fruit_models, kind, tmp_path):
    model = load_model(str(fruit_models[kind]), "cpu")
    assert model.labels.names[:3] == ["apple", "banana", "cherry"] and len(model.labels) == 10
    assert model.labels.resolve("dried date") == 9 and model.labels.resolve("date, dried date") == 9
    assert model.spec.crop == 32 and model.spec.resize == 36 and model.differentiable
    image = photo(tmp_path / "p.png")
    reference = tiny_cnn()
    ours = predict_file(image, model, k=3)
    # The loaded model computes what the network computes on the card's preprocessing.
    from PIL import Image

    from guiapp.core.preprocess import pil_model_input

    with torch.no_grad():
        expected = reference(pil_model_input(Image.open(image), model.spec)).softmax(1)[0]
    assert ours[0].index == int(expected.argmax()) and ours[0].name == FRUITS[ours[0].index]
    assert abs(ours[0].confidence - float(expected.max())) < 1e-4


def test_a_graph_ending_in_a_linear_layer_is_cut_there_and_checked(fruit_models):
    # TorchScript cannot be cut (its logits stand in); torch.export's and ONNX's graphs can.
    assert load_model(str(fruit_models["export"]), "cpu").feature_layer == "input of the last linear layer (16)"
    assert load_model(str(fruit_models["onnx"]), "cpu").feature_layer == "input of the last linear layer (16)"
    scripted = load_model(str(fruit_models["torchscript"]), "cpu")
    assert scripted.feature_layer.startswith("logits")
    assert any("logit space" in n for n in scripted.notes)


def test_a_link_to_a_model_file_reads_the_card_beside_the_link(fruit_models, tmp_path):
    """Walked: a link to a shared model file, a card of the user's own beside the link, was
    read with the card beside the real file (its labels, its mistakes unnoticed)."""
    mine = tmp_path / "mine"
    mine.mkdir()
    (mine / "names.txt").write_text("\n".join(f"thing{i}" for i in range(10)) + "\n")
    link = mine / "my.onnx"
    link.symlink_to(fruit_models["onnx"])
    write_card(mine / "my.json", labels="names.txt")
    assert load_model(str(link), "cpu").labels.names[:2] == ["thing0", "thing1"]
    write_card(mine / "my.json", labels="names.txt", input_size=64, crop=64, resize=72)  # not what the net takes
    with pytest.raises(ModelUnavailableError):
        load_model(str(link), "cpu")
    (mine / "my.json").unlink()  # no card beside the link: the one beside the file
    assert load_model(str(link), "cpu").labels.names[:2] == ["apple", "banana"]


def test_memory_estimate_reads_the_card_without_loading(fruit_models):
    spec = input_spec(str(fruit_models["onnx"]))
    assert (spec.resize, spec.crop, spec.mean) == (36, 32, (0.5, 0.5, 0.5))


def test_card_in_pixels_and_bgr_matches_the_network(tmp_path):
    """A Caffe-style card ([0, 255], BGR mean) on a network that wants BGR gives the same
    answers as the RGB [0, 1] card on the same network without the flip."""
    net = ColourNet()

    class Bgr(torch.nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.net = net

        def forward(self, x):
            return self.net(x.flip(1))

    (tmp_path / "colours.txt").write_text("\n".join(COLOURS))
    rgb = export_all(net, tmp_path / "rgb", "colour")["onnx"]
    bgr = export_all(Bgr().eval(), tmp_path / "bgr", "colour")["onnx"]
    write_card(rgb.with_suffix(".json"), labels="../colours.txt", mean=[0.4, 0.5, 0.6], std=[0.2, 0.25, 0.3])
    write_card(bgr.with_suffix(".json"), labels="../colours.txt", pixel_range=[0, 255], channel_order="BGR",
               mean=[0.6 * 255, 0.5 * 255, 0.4 * 255], std=[0.3 * 255, 0.25 * 255, 0.2 * 255])
    image = photo(tmp_path / "p.png")
    a = predict_file(image, str(rgb), k=3, device="cpu")
    b = predict_file(image, str(bgr), k=3, device="cpu")
    assert [p.index for p in a] == [p.index for p in b]
    assert all(abs(x.confidence - y.confidence) < 1e-4 for x, y in zip(a, b, strict=True))
    assert load_model(str(bgr), "cpu").channel_order == "BGR"


def test_missing_card_fields_are_said(tmp_path):
    files = export_all(tiny_cnn(classes=1000), tmp_path, "big")
    model = load_model(str(files["torchscript"]), "cpu")  # no card at all
    note = " ".join(model.notes)
    assert "does not give" in note and "mean" in note and "labels" in note and "ImageNet" in note
    assert model.labels.resolve("goldfish") == 1  # 1000 outputs: ImageNet's labels, assumed and said


@pytest.mark.parametrize(("fields", "message"), [
    ({"labels": ["a", "b"]}, "lists 2 labels but"),
    ({"crop": 30}, "differs from input_size"),
    ({"channel_order": "GBR"}, "channel_order must be"),
    ({"mean": [0.5, 0.5]}, "mean must be a list of 3"),
    ({"std": [0, 1, 1]}, "std must be positive"),
    ({"labels": "nowhere.txt"}, "labels file not found"),
    ({"colour": "red"}, "unknown field 'colour'"),
    ({"input_size": 64, "crop": 64, "resize": 72}, "takes 32x32 inputs but its card says input_size 64"),
])
def test_a_card_that_disagrees_is_refused_with_the_reason(tmp_path, fields, message):
    files = export_all(tiny_cnn(), tmp_path, "m")
    write_card(files["onnx"].with_suffix(".json"), **fields)
    with pytest.raises(ModelUnavailableError, match=message):
        load_model(str(files["onnx"]), "cpu")


def test_onnx_identity_aliases_are_folded(tmp_path):
    """torch.onnx.export writes shared parameters as Identity nodes; onnx2torch 1.5 fails on
    them; guiapp folds them and converts."""
    from onnx import helper

    files = export_all(tiny_cnn(), tmp_path, "m", opset=17)  # an opset onnx2torch converts
    proto = onnx.load(str(files["onnx"]))
    conv = next(n for n in proto.graph.node if n.op_type == "Conv")
    weight = conv.input[1]
    proto.graph.node.insert(0, helper.make_node("Identity", [weight], ["aliased_weight"]))
    conv.input[1] = "aliased_weight"
    aliased = tmp_path / "aliased.onnx"
    onnx.save(proto, str(aliased))
    import onnx2torch

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        onnx2torch.convert(onnx.load(str(files["onnx"])))  # converts before the alias
    with pytest.raises((KeyError, NotImplementedError)), warnings.catch_warnings():
        warnings.simplefilter("ignore")
        onnx2torch.convert(onnx.load(str(aliased)))  # why the folding exists
    write_card(aliased.with_suffix(".json"))
    model = load_model(str(aliased), "cpu")
    assert model.differentiable and model.feature_layer.startswith("input of the last linear")


def test_onnx_that_will_not_convert_loads_as_an_oracle(tmp_path, monkeypatch, capsys):
    import onnx2torch

    files = export_all(tiny_cnn(), tmp_path, "m")
    write_card(files["onnx"].with_suffix(".json"))

    def refuse(*args, **kwargs):
        raise NotImplementedError("Converter is not implemented (OnnxFancyOp)")

    monkeypatch.setattr(onnx2torch, "convert", refuse)
    model = load_model(str(files["onnx"]), "cpu")
    assert not model.differentiable and model.runtime is not None
    assert any("oracle only" in n and "OnnxFancyOp" in n for n in model.notes)
    image = photo(tmp_path / "p.png")
    assert predict_file(image, model, k=1)[0].index == predict_file(image, str(files["torchscript"]), k=1,
                                                                      device="cpu")[0].index
    with pytest.raises(ModelUnavailableError, match="the default mode needs gradients through the model"):
        attack_file(image, 2, tmp_path / "o.png", model=model)


def test_onnx_whose_conversion_disagrees_with_onnxruntime_is_refused(tmp_path, monkeypatch):
    import onnx2torch

    files = export_all(tiny_cnn(), tmp_path, "m")
    write_card(files["onnx"].with_suffix(".json"))
    monkeypatch.setattr(onnx2torch, "convert", lambda proto: tiny_cnn(seed=7))  # another network
    with pytest.raises(ModelUnavailableError, match="disagrees with onnxruntime .largest logit difference"):
        load_model(str(files["onnx"]), "cpu")


def test_not_a_model_and_pickles_are_refused(tmp_path, monkeypatch):
    fake = tmp_path / "fake.onnx"
    fake.write_bytes(b"\x89PNG\r\n\x1a\n" + bytes(100))
    with pytest.raises(ModelUnavailableError, match="is not an ONNX model"):
        load_model(str(fake), "cpu")
    state = tmp_path / "state.pt"
    torch.save(tiny_cnn().state_dict(), state)
    with pytest.raises(ModelUnavailableError, match="a state dict .* without its architecture.*torchvision:"):
        load_model(str(state), "cpu")
    pickled = tmp_path / "whole.pt"
    torch.save(tiny_cnn(), pickled)
    with pytest.raises(ModelUnavailableError, match="GUIAPP_ALLOW_PICKLE=1"):
        load_model(str(pickled), "cpu")
    monkeypatch.setenv("GUIAPP_ALLOW_PICKLE", "1")
    write_card(pickled.with_suffix(".json"))
    assert len(load_model(str(pickled), "cpu").labels) == 10
    with pytest.raises(ModelUnavailableError, match="model file not found"):
        load_model(str(tmp_path / "missing.onnx"), "cpu")


def test_torchvision_architecture_with_a_fine_tuned_state_dict_of_other_classes(tmp_path):
    import torchvision

    net = torchvision.models.get_model("mobilenet_v3_small", weights=None, num_classes=10)
    weights = tmp_path / "tuned.pth"
    torch.save(net.state_dict(), weights)
    (tmp_path / "fruits.txt").write_text("\n".join(FRUITS))
    card = tmp_path / "tuned.json"
    card.write_text(json.dumps({"model": "torchvision:mobilenet_v3_small", "weights": "tuned.pth",
                                "labels": "fruits.txt", "input_size": 224, "resize": 256, "crop": 224}))
    model = load_model(str(card), "cpu")
    assert len(model.labels) == 10 and model.labels[4].name == "elderberry"
    assert model.feature_layer == "input of classifier.3 (1024)" and model.name == str(card)
    plain = load_model("torchvision:mobilenet_v3_small", "cpu", weights)  # no card: numbered labels, said
    assert plain.labels[0].name == "class 0" and any("labels" in n for n in plain.notes)
    with pytest.raises(ModelUnavailableError, match="no classification architecture 'resnet9000'"):
        load_model("torchvision:resnet9000", "cpu")


def test_cli_attacks_a_user_model_by_label_name(fruit_models, tmp_path, capsys):
    image = photo(tmp_path / "p.png")
    out = tmp_path / "out.png"
    rc = main(["attack", str(image), "-t", "dried date", "--model", str(fruit_models["onnx"]), "-o", str(out),
               "--json", "--device", "cpu"])
    report = json.loads(capsys.readouterr().out)
    assert rc == 0 and report["success"] and report["final_name"] == "date" and report["target"] == 9
    assert main(["predict", str(out), "--model", str(fruit_models["onnx"]), "--json"]) == 0
    assert json.loads(capsys.readouterr().out)[str(out)][0]["name"] == "date"  # onnxruntime's answer
    assert main(["attack", str(image), "-t", "goldfish", "--model", str(fruit_models["onnx"]),
                 "-o", str(tmp_path / "o2.png")]) == 2
    assert "unknown label 'goldfish'" in capsys.readouterr().err
    assert main(["labels", "an", "--model", str(fruit_models["onnx"])]) == 0
    assert "banana" in capsys.readouterr().out


def test_models_check_shows_a_wrong_card(tmp_path, capsys):
    photos = colour_photos(tmp_path / "photos")
    (tmp_path / "colours.txt").write_text("\n".join(COLOURS))
    files = export_all(ColourNet().eval(), tmp_path / "m", "colour")
    card = write_card(files["onnx"].with_suffix(".json"), labels="../colours.txt")
    assert load_model(str(files["onnx"]), "cpu").differentiable  # opset 18+: converted down to 17 first
    assert main(["models", "check", str(files["onnx"]), "--images", str(photos), "--json"]) == 0
    result = json.loads(capsys.readouterr().out)  # stdout is the JSON alone (walked: text lines came first)
    assert result["top1"] == 1.0 and result["images"] == 9 and result["classes"] == 3
    assert result["labels"] == 3 and result["misses"] == [] and "centre crop" in result["input"]
    write_card(card, labels="../colours.txt", channel_order="BGR")  # wrong: red is read as blue
    assert main(["models", "check", str(files["onnx"]), "--images", str(photos)]) == 1
    captured = capsys.readouterr()
    assert "top-1      : 33.3% (3/9)" in captured.out and "near chance" in captured.err


def test_centroids_for_a_user_model_beside_it_and_never_into_the_package(tmp_path, capsys):
    photos = colour_photos(tmp_path / "photos")
    (tmp_path / "colours.txt").write_text("\n".join(COLOURS))
    model_file = export_all(ColourNet().eval(), tmp_path / "m", "colour")["onnx"]
    write_card(model_file.with_suffix(".json"), labels="../colours.txt")
    assert main(["centroids", "build", "--images", str(photos), "--model", str(model_file), "--views", "2",
                 "--k", "1", "--device", "cpu"]) == 0
    beside = model_file.with_suffix(".centroids.npz")
    assert beside.is_file() and f"wrote {beside}" in capsys.readouterr().out
    image = photo(tmp_path / "p.png")
    assert main(["attack", str(image), "-t", "green", "-o", str(tmp_path / "o.png"), "--model", str(model_file),
                 "--centroid-weight", "0.5", "--json", "--device", "cpu"]) in (0, 1)
    assert json.loads(capsys.readouterr().out)["centroids"] is True  # found beside the model, used
    # guiapp's own model without -o: refused before the work, the shipped file untouched
    from guiapp.core.centroids import SHIPPED_DIR

    shipped = SHIPPED_DIR / "efficientnet-lite0.npz"
    before = shipped.stat().st_mtime_ns
    goldfish = tmp_path / "imagenet"
    goldfish.mkdir()
    photo(goldfish / "n01443537_goldfish.png")
    assert main(["centroids", "build", "--images", str(goldfish), "--model", "efficientnet-lite0",
                 "--device", "cpu"]) == 2
    assert "give the output file (-o FILE.npz)" in capsys.readouterr().err
    assert shipped.stat().st_mtime_ns == before


def test_hugging_face_folder_with_its_labels_and_preprocessing(tmp_path):
    transformers = pytest.importorskip("transformers")
    config = transformers.ResNetConfig(embedding_size=8, hidden_sizes=[8, 16], depths=[1, 1], num_labels=3,
                                       id2label={0: "red", 1: "green", 2: "blue"},
                                       label2id={"red": 0, "green": 1, "blue": 2})
    torch.manual_seed(0)
    net = transformers.ResNetForImageClassification(config).eval()
    folder = tmp_path / "hf"
    net.save_pretrained(folder)
    (folder / "preprocessor_config.json").write_text(json.dumps({
        "do_resize": True, "size": {"shortest_edge": 40}, "do_center_crop": True,
        "crop_size": {"height": 32, "width": 32}, "do_normalize": True,
        "image_mean": [0.5, 0.5, 0.5], "image_std": [0.25, 0.25, 0.25]}))
    spec = str(folder)
    assert input_spec(spec).resize == 40 and input_spec(spec).crop == 32
    model = load_model(spec, "cpu")
    assert model.labels.names == ["red", "green", "blue"] and model.differentiable
    assert not any("does not give" in n for n in model.notes)  # nothing assumed
    from PIL import Image

    from guiapp.core.preprocess import pil_model_input

    image = photo(tmp_path / "p.png")
    with torch.no_grad():
        expected = net(pixel_values=pil_model_input(Image.open(image), model.spec)).logits.softmax(1)[0]
    got = predict_file(image, model, k=1)[0]
    assert got.index == int(expected.argmax()) and abs(got.confidence - float(expected.max())) < 1e-4


def test_timm_architecture_with_a_local_state_dict(tmp_path):
    timm = pytest.importorskip("timm")
    net = timm.create_model("resnet10t", pretrained=False, num_classes=10)
    weights = tmp_path / "r10.pth"
    torch.save(net.state_dict(), weights)
    model = load_model("timm:resnet10t", "cpu", weights)
    assert len(model.labels) == 10 and model.labels[0].name == "class 0" and model.feature_layer.startswith("input of")
    assert model.spec.crop == net.pretrained_cfg["input_size"][-1] and model.fingerprint  # timm's own config
    with pytest.raises(ModelUnavailableError, match="timm has no architecture 'resnet10x'"):
        load_model("timm:resnet10x", "cpu", weights)


def test_memory_estimates_count_a_larger_models_activations(tmp_path):
    """A model with more activations than EfficientNet-Lite0 raises the attack's and the
    prediction's estimates by what it exceeds Lite0 by (counted at load, not assumed)."""
    from guiapp.core.attacks import AttackConfig
    from guiapp.core.fits import memory_estimate
    from guiapp.core.predict import predict_estimate

    class Wide(torch.nn.Module):  # 512 channels at 224 px: ~100 MiB per layer
        def __init__(self) -> None:
            super().__init__()
            self.a = torch.nn.Conv2d(3, 512, 3, padding=1)
            self.b = torch.nn.Conv2d(512, 8, 1)
            self.fc = torch.nn.Linear(8, 10)

        def forward(self, x):
            return self.fc(self.b(torch.relu(self.a(x))).mean((2, 3)))

    wide = export_all(Wide().eval(), tmp_path / "wide", "wide", size=224)["torchscript"]
    small = export_all(tiny_cnn(), tmp_path / "small", "small", size=224)["torchscript"]
    for path in (wide, small):
        write_card(path.with_suffix(".json"), input_size=224, crop=224, resize=256)
    big, little = load_model(str(wide), "cpu"), load_model(str(small), "cpu")
    assert big.activation_bytes > 150 * 2**20 and little.activation_bytes < 10 * 2**20  # conv + relu: 2 x 98 MiB
    cost = {m.name: memory_estimate(AttackConfig(), m)(640, 480) for m in (big, little)}
    extra = big.activation_bytes - 68 * 2**20
    assert cost[big.name] - cost[little.name] == extra
    assert predict_estimate(big)(640, 480) - predict_estimate(little)(640, 480) == extra
    # by name too, once loaded (what attack_file and the server ask)
    assert memory_estimate(AttackConfig(), str(wide))(640, 480) == cost[big.name]


def test_a_missing_judge_fails_before_the_attack(tmp_path, capsys):
    image = photo(tmp_path / "p.png")
    out = tmp_path / "o.png"
    assert main(["attack", str(image), "-t", "goldfish", "-o", str(out), "--judge", str(tmp_path / "gone.onnx"),
                 "--device", "cpu"]) == 2
    err = capsys.readouterr().err
    assert "model file not found" in err and "attack p.png" not in err  # no progress bar: nothing ran
    assert not out.exists()


def test_transfer_on_surrogates_with_different_label_lists_maps_the_target_by_name(tmp_path, capsys):
    """Two surrogates whose labels differ in order and content: the target is found in each
    by name, both see it in the saved PNG, and a target one of them lacks is refused."""
    folder = tmp_path / "m"
    first = export_all(tiny_cnn(seed=0), folder, "first")["torchscript"]
    (folder / "first.txt").write_text("\n".join(FRUITS) + "\n")
    write_card(first.with_suffix(".json"), labels="first.txt")
    # The second: another network, its classes in reverse order, and a pear for the kiwi.
    other_names = ["pear" if n == "kiwi" else n for n in reversed(FRUITS)]
    second = export_all(tiny_cnn(seed=1), folder, "second")["torchscript"]
    (folder / "second.txt").write_text("\n".join(other_names) + "\n")
    write_card(second.with_suffix(".json"), labels="second.txt")
    image, out = photo(tmp_path / "p.png"), tmp_path / "out.png"
    surrogates = f"{first},{second}"
    rc = main(["attack", str(image), "-t", "cherry", "--mode", "transfer", "--preset", "loud", "--surrogates",
               surrogates, "--centroids", "none", "--iterations", "40", "-o", str(out), "--json", "--device", "cpu"])
    report = json.loads(capsys.readouterr().out)
    assert rc == 0 and report["success"] and report["target_name"] == "cherry", report
    for model in (first, second):  # each model's own answer to the saved file, by its own labels
        assert main(["predict", str(out), "--model", str(model), "--json"]) == 0
        assert json.loads(capsys.readouterr().out)[str(out)][0]["name"] == "cherry"
    assert main(["attack", str(image), "-t", "kiwi", "--mode", "transfer", "--surrogates", surrogates,
                 "--centroids", "none", "-o", str(tmp_path / "o2.png")]) == 2
    assert "has no class named like 'kiwi'" in capsys.readouterr().err
    assert not (tmp_path / "o2.png").exists()


def test_a_card_whose_mean_is_outside_its_pixel_range_is_refused(fruit_models):
    card = fruit_models["onnx"].with_suffix(".json")
    write_card(card, labels="../fruits.txt", pixel_range=[0, 1], mean=[128, 128, 128], std=[128, 128, 128])
    with pytest.raises(ModelUnavailableError, match=r"mean \[128.0, 128.0, 128.0\] is outside pixel_range"):
        load_model(str(fruit_models["onnx"]), "cpu")
    write_card(card, labels="../fruits.txt", pixel_range=[0, 255], mean=[128, 128, 128], std=[128, 128, 128])
    assert load_model(str(fruit_models["onnx"]), "cpu").spec.mean == pytest.approx((128 / 255 - 0,) * 3, abs=0.01)


def test_models_check_n_takes_an_even_spread_of_the_classes(fruit_models, tmp_path):
    """Walked: with one photo per class, --n 50 of 1000 took the first 50 classes (fish, birds)."""
    from guiapp.core.model_check import labelled_images

    folder = tmp_path / "photos"
    folder.mkdir()
    for name in FRUITS[:9]:  # one photo per class
        photo(folder / f"{name}_0.png")
    model = load_model(str(fruit_models["onnx"]), "cpu")
    picked = [index for _path, index in labelled_images(folder, model, 3)]
    assert picked == [0, 3, 6]  # spread over the nine classes, not 0, 1, 2
    assert [index for _path, index in labelled_images(folder, model)] == list(range(9))
