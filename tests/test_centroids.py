import dataclasses
import shutil
from pathlib import Path

import numpy as np
import pytest

from guiapp.core.centroids import CentroidBuilder, find_class_images, load_centroids
from guiapp.core.errors import CentroidError

SAMPLES = Path(__file__).resolve().parents[1] / "resources" / "samples"


@pytest.fixture(scope="module")
def built(model, tmp_path_factory):
    root = tmp_path_factory.mktemp("imgs")
    (root / "n02123045_tabby.jpg").write_bytes((SAMPLES / "chelsea_cat.jpg").read_bytes())
    shutil.copy(SAMPLES / "coffee.jpg", root / "n07920052_espresso.jpg")
    shutil.copy(SAMPLES / "rocket.jpg", root / "n03773504_missile.jpg")
    (root / "README.txt").write_text("ignored")
    builder = CentroidBuilder(model, root, views=4, k=2, seed=0)
    progress = list(builder.run())
    return builder, progress, root


def test_build_progress_and_content(built):
    builder, progress, _ = built
    assert [p.done for p in progress] == [1, 2, 3]
    c = builder.centroids
    assert c.classes() == {281, 967, 657}
    assert c.centres.shape == (6, 1280) and c.centres.dtype == np.float32
    assert c.meta["views"] == 4 and c.meta["k"] == 2


def test_round_trip_and_fingerprint_refusal(built, model, tmp_path):
    builder, _, _ = built
    path = builder.centroids.save(tmp_path / "c.npz")
    again = load_centroids(path, model)
    assert np.array_equal(again.centres, builder.centroids.centres)
    assert again.for_class(281).shape == (2, 1280)
    other = dataclasses.replace(model, fingerprint="0000000000000000")
    with pytest.raises(CentroidError, match="rebuild"):
        load_centroids(path, other)


def test_imagefolder_layout(model, tmp_path):

    (tmp_path / "tabby").mkdir()
    (tmp_path / "n07920052").mkdir()
    shutil.copy(SAMPLES / "chelsea_cat.jpg", tmp_path / "tabby" / "a.jpg")
    shutil.copy(SAMPLES / "coffee.jpg", tmp_path / "n07920052" / "b.jpg")
    assert set(find_class_images(tmp_path, model)) == {281, 967}


def test_empty_or_garbage_files(model, tmp_path):
    with pytest.raises(CentroidError, match="no labelled images"):
        find_class_images(tmp_path, model)
    (tmp_path / "bad.npz").write_bytes(b"nope")
    with pytest.raises(CentroidError, match="not a guiapp centroid file"):
        load_centroids(tmp_path / "bad.npz", model)
    # What damaged or foreign files raise is reported as the file's fault, and only that
    # (an interrupted import once surfaced as "not a guiapp centroid file (module 'numpy'...)")
    import zipfile

    good = (Path(__file__).resolve().parents[1] / "centroids" / "efficientnet-lite0.npz").read_bytes()
    (tmp_path / "truncated.npz").write_bytes(good[: len(good) // 2])
    (tmp_path / "empty.npz").write_bytes(b"")
    with zipfile.ZipFile(tmp_path / "garbage-member.npz", "w") as z:
        z.writestr("meta.npy", b"garbage")
    np.savez(tmp_path / "no-meta.npz", x=np.zeros(3))
    np.savez(tmp_path / "meta-not-json.npz", meta=np.array("{not json"), class_index=np.zeros(3))
    np.savez(tmp_path / "meta-a-list.npz", meta=np.array("[1, 2]"), class_index=np.zeros(3))
    np.savez(tmp_path / "pickled.npz", meta=np.array([{"a": 1}], dtype=object), class_index=np.zeros(3))
    np.savez(tmp_path / "layers-not-a-list.npz", meta=np.array('{"format": 2, "layers": 5}'), class_index=np.zeros(3))
    for name in ("truncated", "empty", "garbage-member", "no-meta", "meta-not-json", "meta-a-list", "pickled",
                 "layers-not-a-list"):
        with pytest.raises(CentroidError, match="not a guiapp centroid file"):
            load_centroids(tmp_path / f"{name}.npz", model)


def test_centroid_term_pulls_features(built, model):
    """With only the centroid term, features must move toward the target centre."""
    from guiapp.core.attacks import AttackConfig, TargetedAttack
    from guiapp.core.imageio import load_image

    builder, _, _ = built
    img = load_image(SAMPLES / "coffee.jpg")
    attack = TargetedAttack(model, img.rgb, 281, AttackConfig(max_steps=6, centroid_weight=5.0), builder.centroids)
    records = list(attack.steps())
    assert records[-1].centroid_loss < records[0].centroid_loss
