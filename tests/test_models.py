import pytest
import torch
import torchvision

from guiapp.core.errors import ModelUnavailableError
from guiapp.core.models import load_model, weights_fingerprint


def test_default_model_is_lite0_with_pm1_scaling(model):
    assert model.name == "efficientnet-lite0"
    assert model.spec.mean == (0.5, 0.5, 0.5) and model.spec.crop == 224
    assert model.num_classes == 1000
    x = torch.zeros(2, 3, 224, 224)
    assert model.features(x).shape == (2, 1280)
    assert model.head(model.features(x)).shape == (2, 1000)


def test_torchvision_model_from_local_weights(tmp_path):
    net = torchvision.models.resnet18(weights=None)
    path = tmp_path / "resnet18_random.pth"
    torch.save(net.state_dict(), path)
    clf = load_model("resnet18", "cpu", weights=path)
    assert clf.fingerprint == weights_fingerprint(net.state_dict())
    x = torch.rand(1, 3, 240, 320)
    net.eval()
    with torch.no_grad():
        expected = net(clf.preprocess(x))
        got = clf.logits(x)
    assert torch.allclose(got, expected, atol=1e-5)
    assert clf.features(clf.preprocess(x)).shape == (1, 512)


def test_wrong_weights_file_is_a_clear_error(tmp_path):
    path = tmp_path / "w.pth"
    torch.save(torchvision.models.resnet18(weights=None).state_dict(), path)
    with pytest.raises(ModelUnavailableError, match="do not fit"):
        load_model("resnet50", "cpu", weights=path)
    (tmp_path / "junk.pth").write_text("not a checkpoint")
    with pytest.raises(ModelUnavailableError,
                       match="junk.pth is not a weights file: a text file; expected a state dict"):
        load_model("resnet18", "cpu", weights=tmp_path / "junk.pth")


def test_offline_without_cache_says_where_to_put_the_file(tmp_path, monkeypatch):
    monkeypatch.setattr(torch.hub, "get_dir", lambda: str(tmp_path / "hub"))

    def offline(*args, **kwargs):
        raise OSError("network is unreachable")

    monkeypatch.setattr(torch.hub, "load_state_dict_from_url", offline)
    with pytest.raises(ModelUnavailableError) as info:
        load_model("vgg16", "cpu")
    message = str(info.value)
    assert str(tmp_path / "hub" / "checkpoints" / "vgg16-397923af.pth") in message and "--weights" in message


def test_unknown_model():
    with pytest.raises(ModelUnavailableError, match="unknown model"):
        load_model("resnet9000")


def test_batchnorm_folding_keeps_outputs():
    from guiapp.core.models.efficientnet_lite import EfficientNetLite

    torch.manual_seed(0)
    net = EfficientNetLite().eval()
    for m in net.modules():  # non-trivial BN statistics
        if isinstance(m, torch.nn.BatchNorm2d):
            m.running_mean.uniform_(-0.5, 0.5)
            m.running_var.uniform_(0.5, 2.0)
            m.weight.data.uniform_(0.5, 1.5)
    x = torch.rand(2, 3, 224, 224)
    with torch.no_grad():
        before = net(x)
        after = net.fold_batchnorm()(x)
    assert torch.allclose(before, after, atol=1e-4, rtol=1e-4)
    assert not any(isinstance(m, torch.nn.BatchNorm2d) for m in net.modules())
