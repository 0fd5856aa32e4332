import torch
from PIL import Image

from guiapp.core.imageio import load_image
from guiapp.core.preprocess import PM1, pil_model_input, to_model_input


def test_resize_rule_matches_torchvision():
    assert PM1.resized_size(375, 500) == (256, 341)
    assert PM1.resized_size(500, 375) == (341, 256)


def test_differentiable_path_matches_pil_path(model, cat_path, coffee_path):
    for path in (cat_path, coffee_path):
        img = load_image(path)
        x = torch.from_numpy(img.rgb).permute(2, 0, 1).unsqueeze(0).float() / 255
        ours = to_model_input(x, model.spec)
        pil = pil_model_input(Image.fromarray(img.rgb), model.spec)
        assert ours.shape == pil.shape == (1, 3, 224, 224)
        # PIL rounds to 8 bits between its two resampling passes: ~1/255 in [-1, 1] units.
        assert (ours - pil).abs().mean() < 0.01
        with torch.no_grad():
            a, b = model.logits(x), model.head(model.features(pil))
        assert a.argmax() == b.argmax()
        assert (a - b).abs().max() < 0.5


def test_gradient_reaches_every_pixel_of_the_crop_region(model):
    x = torch.rand(1, 3, 300, 400, requires_grad=True)
    model.logits(x)[0, 3].backward()
    g = x.grad.abs().sum(1)[0]
    assert g[150, 200] > 0  # centre
    assert g[:, :20].sum() == 0  # outside the centre crop: no influence
