"""dflearn.models: architectures, heads and losses, parameter arithmetic, diagnostics."""

from __future__ import annotations

import keras
import numpy as np
import pytest
from keras import layers

from dflearn import models, study


def _convs(model: keras.Model) -> list[layers.Conv2D]:
    return [l for l in model.layers if type(l) is layers.Conv2D]


@pytest.mark.parametrize("name", list(models.ARCHITECTURES))
@pytest.mark.parametrize("head", models.HEADS)
def test_every_architecture_has_both_heads_and_matching_loss(name: str, head: str) -> None:
    model = models.build(name, width=0.125, input_size=32, head=head)
    assert model.input_shape == (None, 32, 32, 3)
    assert model.output_shape == (None, 1 if head == "sigmoid" else 2)
    loss = models.loss_for(model)
    expected = keras.losses.BinaryCrossentropy if head == "sigmoid" else keras.losses.SparseCategoricalCrossentropy
    assert isinstance(loss, expected)
    assert models.head_of(model) == head


@pytest.mark.parametrize("head", models.HEADS)
def test_loss_for_smooths_the_labels_of_either_head(head: str) -> None:
    from dflearn.layers import SmoothedSparseCrossentropy

    model = models.three_cnn(width=0.125, head=head)
    loss = models.loss_for(model, label_smoothing=0.1)
    expected = keras.losses.BinaryCrossentropy if head == "sigmoid" else SmoothedSparseCrossentropy
    assert isinstance(loss, expected) and loss.get_config()["label_smoothing"] == pytest.approx(0.1)
    with pytest.raises(models.ModelConfigError, match="label_smoothing"):
        models.loss_for(model, label_smoothing=1.0)


def test_personal_cnn_follows_the_study() -> None:
    model = models.personal_cnn(width=1.0)
    assert [c.filters for c in _convs(model)] == [128] * 3 + [256] * 3 + [512] * 2
    kinds = [type(l).__name__ for l in model.layers[2:5]]
    assert kinds == ["Conv2D", "LeakyReLU", "BatchNormalization"]
    assert len([l for l in model.layers if isinstance(l, layers.MaxPooling2D)]) == 3
    assert {l.rate for l in model.layers if isinstance(l, layers.Dropout)} == {0.2}
    assert model.layers[-1].activation.__name__ == "softmax"


def test_width_scales_filters_and_input_size_is_respected() -> None:
    model = models.personal_cnn(width=0.25, input_size=48)
    assert [c.filters for c in _convs(model)] == [32] * 3 + [64] * 3 + [128] * 2
    assert model.input_shape == (None, 48, 48, 3)
    assert model.get_layer("flatten").output.shape[-1] == 6 * 6 * 128


def test_vgg16_conv_base_matches_the_reference_parameter_count() -> None:
    # keras.applications.VGG16(include_top=False, weights=None) has 14,714,688 parameters.
    model = models.vgg16(width=1.0)
    assert len(_convs(model)) == 13
    conv_params = sum(c.count_params() for c in _convs(model))
    assert conv_params == 14_714_688
    assert len(_convs(models.vgg19(width=0.125))) == 16


def test_vgg_batch_norm_variant_adds_batch_norm_after_every_conv() -> None:
    model = models.vgg16(width=0.125, batch_norm=True)
    bns = [l for l in model.layers if isinstance(l, layers.BatchNormalization)]
    assert len(bns) == 13 and model.name == "vgg16_bn"
    with pytest.raises(models.ModelConfigError, match="depth"):
        models.vgg(depth=11)
    conv = model.get_layer("block1_conv1")
    assert not conv.use_bias and conv.activation is keras.activations.linear
    assert [l.name for l in model.layers[2:5]] == ["block1_conv1", "block1_conv1_bn",
                                                  "block1_conv1_relu"]
    plain = models.vgg16(width=0.125).get_layer("block1_conv1")
    assert plain.use_bias and plain.activation is keras.activations.relu


def test_faces_cnn_has_eight_convs_gap_and_256_128_head() -> None:
    model = models.faces_cnn(width=1.0, head="sigmoid")
    assert [c.filters for c in _convs(model)] == list(models.FACES_FILTERS)
    assert any(isinstance(l, layers.GlobalAveragePooling2D) for l in model.layers)
    dense = [l.units for l in model.layers if isinstance(l, layers.Dense)]
    assert dense == [256, 128, 1]


def test_separable_arithmetic_matches_the_formula_from_real_layers() -> None:
    model = models.mobilenet_cnn(width=0.5)
    table = models.separable_arithmetic(model)
    assert len(table) == len(models.MOBILENET_BLOCKS)
    first = table.iloc[0]
    assert first["depthwise"] == 3 * 3 * first["M (in)"]
    assert first["pointwise"] == first["M (in)"] * first["N (out)"]
    np.testing.assert_allclose(table["ratio"], table["1/N + 1/K^2"], rtol=1e-12)
    assert table["standard"].iloc[-1] == 3 * 3 * 256 * 256
    with pytest.raises(models.ModelConfigError, match="no depthwise"):
        models.separable_arithmetic(models.faces_cnn(width=0.125))


def test_conv_params_agrees_with_keras() -> None:
    layer = layers.Conv2D(24, 5)
    layer.build((None, 32, 32, 7))
    assert models.conv_params(5, 7, 24) == layer.count_params()
    assert models.separable_reduction(3, 9) == pytest.approx(1 / 9 + 1 / 9)


def test_parameter_counts_table() -> None:
    model = models.faces_cnn(width=0.125)
    table = models.parameter_counts({"faces": model})
    assert table.loc["faces", "total"] == model.count_params()
    assert table.loc["faces", "non_trainable"] > 0  # BatchNorm moving statistics


@pytest.mark.parametrize("kwargs, match", [
    ({"width": 0}, "width"), ({"head": "tanh"}, "head"), ({"input_size": 4}, "input_size")])
def test_bad_arguments_raise_clear_errors(kwargs: dict, match: str) -> None:
    with pytest.raises(models.ModelConfigError, match=match):
        models.build("personal", **kwargs)
    with pytest.raises(models.ModelConfigError, match="Unknown architecture"):
        models.build("resnet")


def test_plain_vgg_signal_shrinks_but_batch_norm_keeps_it() -> None:
    images = np.random.default_rng(0).integers(0, 256, (8, 32, 32, 3)).astype("uint8")
    plain = models.activation_scales(models.vgg16(width=0.125), images)["std"]
    normed = models.activation_scales(models.vgg16(width=0.125, batch_norm=True), images)["std"]
    assert plain["block5_conv3"] < plain["block1_conv1"] / 20
    assert normed["block5_conv3"] > plain["block5_conv3"] * 10


def test_real_probability_is_p_real_for_both_heads_and_saved_models_reload(tmp_path) -> None:
    images = np.random.default_rng(1).integers(0, 256, (4, 32, 32, 3)).astype("uint8")
    soft = models.mobilenet_cnn(width=0.125, head="softmax")
    probs = soft.predict(images.astype("float32"), verbose=0)
    np.testing.assert_allclose(models.real_probability(soft, images), probs[:, 1], rtol=1e-6)
    mirrored = soft.predict(images[:, :, ::-1].astype("float32"), verbose=0)[:, 1]
    np.testing.assert_allclose(models.real_probability(soft, images, flip_tta=True),
                               (probs[:, 1] + mirrored) / 2, rtol=1e-6)
    path = tmp_path / "m.keras"
    soft.save(path)
    again = keras.models.load_model(path)
    np.testing.assert_allclose(models.real_probability(again, images), probs[:, 1], rtol=1e-6)


def test_every_architecture_has_a_name_and_a_reported_number() -> None:
    # the lightweight project's dense baseline is the only one its seed gives no accuracy for
    assert set(models.ARCHITECTURES) - set(models.STUDY_KEYS) == {"dense"}
    for arch in models.ARCHITECTURES:
        assert models.build(arch, width=0.125).name == models.MODEL_NAMES[arch]
        assert models.DISPLAY_NAMES[arch]
    for arch, key in models.STUDY_KEYS.items():
        assert 0.5 <= study.value(key) <= 1
        assert study.reported(key).cite()


def test_space_to_depth_stem_is_lossless_and_keeps_the_final_map_size() -> None:
    inputs = keras.Input((4, 4, 3))
    probe = keras.Model(inputs, models.space_to_depth(inputs))
    image = np.arange(4 * 4 * 3, dtype="float32").reshape(1, 4, 4, 3)
    out = keras.ops.convert_to_numpy(probe(image))
    assert out.shape == (1, 2, 2, 12)
    np.testing.assert_array_equal(np.sort(out.ravel()), image.ravel())  # a pure rearrangement
    np.testing.assert_array_equal(out[0, 0, 0], image[0, :2, :2].ravel())  # top-left 2x2 patch
    cpu = models.personal_cnn(width=0.25, stem="space_to_depth")
    plain = models.personal_cnn(width=0.25)
    assert cpu.get_layer("b1_conv1").input.shape[1:] == (16, 16, 12)
    assert cpu.get_layer("flatten").output.shape == plain.get_layer("flatten").output.shape
    with pytest.raises(models.ModelConfigError, match="stem"):
        models.personal_cnn(stem="patchify")


def test_dense_cnn_follows_the_lightweight_projects_layer_table() -> None:
    model = models.dense_cnn(width=0.25)
    assert model.output_shape == (None, 1) and models.head_of(model) == "sigmoid"
    convs = [layer for layer in model.layers if isinstance(layer, keras.layers.Conv2D)]
    assert [c.name for c in convs][:3] == ["b1_conv1", "b1_conv2", "b2_conv1"] and len(convs) == 11
    pools = [type(layer).__name__ for layer in model.layers if "pool" in layer.name]
    assert pools == ["AveragePooling2D"] * 3 + ["MaxPooling2D"] * 2
    assert model.get_layer("flatten").output.shape[-1] == 64  # 1x1x(256 * 0.25) at 32 px
    assert models.build("dense", width=0.25, head="sigmoid").count_params() == model.count_params()


def test_forward_flops_counts_convolutions_and_dense_layers() -> None:
    image = keras.Input(shape=(8, 8, 3))
    x = keras.layers.Conv2D(4, 3, padding="same")(image)        # 8*8 positions * 3*3*3*4
    x = keras.layers.DepthwiseConv2D(3, padding="same")(x)       # 8*8 * 3*3*4
    x = keras.layers.BatchNormalization()(x)                     # not counted
    x = keras.layers.Flatten()(x)
    out = keras.layers.Dense(2)(x)                               # 256*2
    model = keras.Model(image, out)
    assert models.forward_flops(model) == 2 * (64 * 108 + 64 * 36 + 256 * 2)
    outer_input = keras.Input(shape=(8, 8, 3))
    nested = keras.Model(outer_input, model(outer_input))
    assert models.forward_flops(nested) == models.forward_flops(model)


def test_compile_model_builds_the_optimizer_so_the_first_fit_traces_once() -> None:
    """Adam's moments exist right after compiling: TensorFlow would otherwise create them inside
    its first trace of the training step and trace the whole step again."""
    from dflearn import training

    model = models.build("personal", width=0.125)
    models.compile_model(model, 1e-3)
    assert model.optimizer.built
    assert len(model.optimizer.variables) > 2 * len(model.trainable_variables)  # m and v, + counters
    user = models.build("personal", width=0.125)
    user.compile(optimizer=keras.optimizers.Adam(1e-3), loss="sparse_categorical_crossentropy")
    assert not user.optimizer.built
    images = np.random.default_rng(0).integers(0, 255, (8, 32, 32, 3)).astype("uint8")
    traced = []
    original = user.make_train_function

    def counting(force: bool = False):  # records whether the optimizer was built by then
        traced.append(user.optimizer.built)
        return original(force)

    user.make_train_function = counting
    training.fit(user, (images, np.arange(8) % 2), epochs=1, batch_size=4, schedule=None,
                 patience=0, compile=False)
    assert traced and all(traced)
