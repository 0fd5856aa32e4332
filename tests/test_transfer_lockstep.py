"""Transfer attacks run in step (surrogate passes batched across images) give each image
exactly the PNG it gets alone; a cancelled one leaves the group without stopping it."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from guiapp.core.attacks import make_config
from guiapp.core.attacks.centroid_terms import centroid_folder, surrogate_centroids
from guiapp.core.attacks.transfer import TransferAttack, load_surrogates
from guiapp.core.attacks.transfer_lockstep import lockstep

SAMPLES = Path(__file__).resolve().parents[1] / "resources" / "samples"
PHOTOS = [("coffee.jpg", (120, 90), 1), ("chelsea_cat.jpg", (100, 84), 963), ("rocket.jpg", (64, 110), 340)]


@pytest.fixture(scope="module")
def setup():
    config = replace(make_config("transfer"), iterations=6)  # the default: views, DI, centroids, quiet budget
    surrogates = load_surrogates(config, "cpu")
    cents = surrogate_centroids(surrogates, config.centroid_layers_needed, centroid_folder("auto"))
    images = [np.asarray(Image.open(SAMPLES / name).convert("RGB").resize(size)) for name, size, _ in PHOTOS]
    return config, surrogates, cents, images


def _attacks(setup):
    config, surrogates, cents, images = setup
    return [TransferAttack(surrogates, img, target, config, cents) for img, (_, _, target) in zip(images, PHOTOS,
                                                                                                    strict=True)]


def test_a_group_gives_every_image_the_png_it_gets_alone(setup):
    alone = []
    for attack in _attacks(setup):
        records = list(attack.steps())
        alone.append((attack.result.adversarial, [r.psnr for r in records]))
    group = _attacks(setup)
    seen: dict[int, list[float]] = {i: [] for i in range(len(group))}
    for i, record in lockstep(group):
        seen[i].append(record.psnr)
    for i, attack in enumerate(group):
        image, psnrs = alone[i]
        assert attack.result.steps == 6
        assert np.array_equal(attack.result.adversarial, image), PHOTOS[i][0]
        assert seen[i] == psnrs
    assert not np.array_equal(alone[0][0], np.asarray(Image.open(SAMPLES / "coffee.jpg").convert("RGB")
                                                      .resize((120, 90))))  # the noise is really there


def test_a_cancelled_attack_leaves_the_group_and_the_others_finish(setup):
    group = _attacks(setup)
    for i, record in lockstep(group):
        if i == 1 and record.step == 2:
            group[1].cancel()
    assert group[1].result.cancelled and group[1].result.steps == 2 and not group[1].result.success
    assert [group[i].result.steps for i in (0, 2)] == [6, 6]
    assert not group[0].result.cancelled and not group[2].result.cancelled


def test_a_group_needs_shared_surrogates_and_settings(setup):
    config, surrogates, cents, images = setup
    other = replace(config, seed=1)
    with pytest.raises(ValueError, match="share their settings"):
        list(lockstep([TransferAttack(surrogates, images[0], 1, config, cents),
                       TransferAttack(surrogates, images[1], 1, other, cents)]))
