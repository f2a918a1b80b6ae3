"""Tests for notebook 04's code: dflearn.transfer (the two training phases, the results beside
the study's) and the core it uses: dflearn.backbones (backbones, ImageNet weight loading offline,
from a weights file placed where keras.applications looks), dflearn.training's unfreezing
helpers, dflearn.layers.TransferNet and dflearn.sources' second dataset of the Personal CNN."""

from __future__ import annotations

import dataclasses
import re
import urllib.error
import warnings
from pathlib import Path

import h5py
import keras
import numpy as np
import pandas as pd
import pytest
from keras import layers

from dflearn import backbones, get_profile, sources, study, training, transfer
from dflearn.course.config import TransferSettings
from dflearn.data import Dataset
from dflearn.layers import TransferNet
from dflearn.metrics import evaluate
from dflearn.models import PERSONAL_UNFREEZE_LAYER, compile_model, personal_cnn
from dflearn.splits import Splits


SEEDS = Path(__file__).resolve().parents[2] / "shared" / "seeds"


def random_dataset(n: int, seed: int = 0, size: int = 32, prefix: str = "img") -> Dataset:
    rng = np.random.default_rng(seed)
    return Dataset(rng.integers(0, 256, (n, size, size, 3), dtype=np.uint8), np.arange(n) % 2,
                   np.array([f"{prefix}{i}.jpg" for i in range(n)]))


@pytest.fixture(scope="module")
def bases() -> dict[str, keras.Model]:
    """The three real backbones, random weights, 32x32 inputs (built once)."""
    return {name: backbones.load_backbone(name, 32, weights=None)[0]
            for name in backbones.BACKBONES}


# --------------------------------------------------------------------------- backbones


def test_the_studys_unfreeze_points_name_the_expected_layers(bases):
    vgg, densenet, resnet = bases["vgg16"], bases["densenet121"], bases["resnet50"]
    names = {k: [layer.name for layer in b.layers] for k, b in bases.items()}

    start = training.unfreeze_index(vgg, backbones.get_backbone("vgg16").unfreeze_at)
    assert names["vgg16"][start:] == ["block4_pool", "block5_conv1", "block5_conv2",
                                      "block5_conv3", "block5_pool"]

    # The study's "429 layers" include the two classifier layers that include_top=False drops.
    assert len(densenet.layers) == 427
    start = training.unfreeze_index(densenet, backbones.get_backbone("densenet121").unfreeze_at)
    assert start == 299 and names["densenet121"][start] == "conv4_block23_1_relu"

    # "Block 8", counting bottleneck blocks (conv2 x3, conv3 x4): conv4_block1.
    start = training.unfreeze_index(resnet, backbones.get_backbone("resnet50").unfreeze_at)
    assert names["resnet50"][start - 1] == "conv3_block4_out"
    assert names["resnet50"][start] == "conv4_block1_1_conv"
    assert all(n.startswith(("conv4_", "conv5_")) for n in names["resnet50"][start:])


def test_unfreeze_points_name_the_keras_layer_of_each_reading(bases):
    labelled = {backbones.BACKBONES[k].label: b for k, b in bases.items()}
    table = transfer.unfreeze_points(labelled)
    assert list(table.columns[:7]) == ["model", "reading", "study point (quoted)", "Keras layer",
                                       "index", "layers in model", "layers unfrozen"]
    row = table.set_index(["model", "reading"])
    assert row.loc[("VGG16", "index 14"), "Keras layer"] == "block4_pool"
    assert row.loc[("VGG16", "last two blocks"), ["Keras layer", "index", "layers unfrozen"]
                   ].tolist() == ["block4_conv1", 11, 8]
    assert row.loc[("DenseNet121", "index 299"), ["Keras layer", "layers in model"]
                   ].tolist() == ["conv4_block23_1_relu", 427]
    assert row.loc[("DenseNet121", "final dense block"), "Keras layer"] == "conv5_block1_0_bn"
    assert row.loc[("ResNet50", "Block 8"), "study point (quoted)"] == \
        '"unfroze the layers starting at Block 8"'
    assert row.loc[("ResNet50", "conv5 only"), "layers unfrozen"] == 32
    # Exactly one followed reading per model, and it is the backbone's own unfreeze point.
    followed = table[table["04"] == "followed"].set_index("model")
    assert sorted(followed.index) == ["DenseNet121", "ResNet50", "VGG16"]
    for spec in backbones.BACKBONES.values():
        assert followed.loc[spec.label, "index"] == training.unfreeze_index(
            bases[spec.name], spec.unfreeze_at)
    assert set(table["04"]) <= set(transfer.UNFREEZE_USES)
    personal = transfer.unfreeze_points({transfer.PERSONAL_LABEL: personal_cnn(width=0.125)})
    assert personal["Keras layer"].tolist() == ["b3_conv1", "b2_dropout"]
    with pytest.raises(transfer.TransferError, match="No reading"):
        transfer.unfreeze_points({"AlexNet": bases["vgg16"]})


def test_alternatives_are_the_readings_run_beside_the_followed_one():
    assert transfer.alternatives("ResNet50") == {"conv5 only": "conv5_"}
    assert transfer.alternatives("VGG16") == {"last two blocks": "block4_conv1"}
    assert transfer.alternatives("DenseNet121") == {}
    assert transfer.phase_name("conv5 only") == "fine-tuned (conv5 only)"


def test_the_readings_quote_the_study_exactly():
    seed = SEEDS / "000_669fc91879245305.txt"
    if not seed.exists():
        pytest.skip("the seed documents (../shared/seeds) are not on this machine")
    text = re.sub(r"\s+", " ", seed.read_text(encoding="utf-8"))
    for reading in transfer.UNFREEZE_READINGS:
        assert reading.quote in text, reading.quote
    for spec in backbones.BACKBONES.values():
        assert spec.study_unfreeze in text, spec.study_unfreeze


def test_resnet50s_blocks_count_block_8_as_conv4_block1(bases):
    blocks = transfer.numbered_blocks(bases["resnet50"])
    assert len(blocks) == 16 and blocks.loc[8, "block"] == "conv4_block1"
    assert blocks.loc[7, "block"] == "conv3_block4" and blocks.loc[16, "block"] == "conv5_block3"
    start = training.unfreeze_index(bases["resnet50"], "conv4_block1_")
    assert blocks.loc[8, "first layer index"] == start
    with pytest.raises(transfer.TransferError, match="matches"):
        transfer.numbered_blocks(bases["vgg16"])


def test_keras_layer_counts_check_the_studys_429(bases):
    labelled = {backbones.BACKBONES[k].label: b for k, b in bases.items()}
    counts = transfer.keras_layer_counts(labelled)
    assert counts.loc["DenseNet121"].tolist() == [427, 429]
    assert counts.loc["VGG16", "layers without top"] == 19
    assert pd.isna(counts.loc["ResNet50", "layers with top"])


def test_unfreeze_from_keeps_batchnorm_and_earlier_layers_frozen(bases):
    resnet = bases["resnet50"]
    start = training.unfreeze_index(resnet, "conv5_")
    table = training.unfreeze_from(resnet, start)
    assert len(table) == len(resnet.layers) - start
    for i, layer in enumerate(resnet.layers):
        is_bn = isinstance(layer, layers.BatchNormalization)
        assert layer.trainable == (i >= start and not is_bn), layer.name
    trainable = sum(int(np.prod(w.shape)) for w in resnet.trainable_weights)
    assert trainable == table.loc[table["trainable"], "weights"].sum()
    text = training.describe_unfrozen(table, "ResNet50")
    assert "conv5_block1_1_conv" in text and "conv5_block3_out" in text
    assert f"{len(table)} layers" in text and "BatchNormalization layers stay frozen" in text
    resnet.trainable = False


@pytest.mark.parametrize("at", [500, "conv9_"])
def test_impossible_unfreeze_points_are_refused(bases, at):
    with pytest.raises(training.TrainingError):
        training.unfreeze_index(bases["vgg16"], at)


def test_bad_backbone_arguments_are_refused():
    with pytest.raises(backbones.BackboneError, match="Unknown backbone"):
        backbones.get_backbone("alexnet")
    with pytest.raises(backbones.BackboneError, match="at least 32 pixels"):
        backbones.load_backbone("resnet50", 16, weights=None)
    with pytest.raises(backbones.BackboneError, match="'imagenet' or None"):
        backbones.load_backbone("vgg16", 32, weights="cifar")
    with pytest.raises(backbones.BackboneError, match="Unknown head"):
        backbones.transfer_model("vgg16", weights=None, head="huge")


def test_the_model_upsizes_and_applies_the_backbones_own_preprocessing():
    tm = backbones.transfer_model("vgg16", input_size=48, weights=None)
    assert tm.model.input_shape == (None, 32, 32, 3) and tm.input_size == 48
    assert tm.weights == backbones.RANDOM_INIT and not tm.base.trainable
    probe = keras.Model(tm.model.input, tm.model.get_layer("vgg16_preprocess").output)
    images = random_dataset(2).images.astype("float32")
    resized = keras.ops.convert_to_numpy(keras.ops.image.resize(images, (48, 48)))
    expected = keras.applications.vgg16.preprocess_input(resized.copy())
    np.testing.assert_allclose(probe.predict(images, verbose=0), expected, rtol=1e-4, atol=1e-3)


def test_faces_head_is_dense_512_batchnorm_dropout_sigmoid():
    base = keras.Sequential([keras.Input((32, 32, 3)), layers.Conv2D(4, 3, name="c")], name="tiny")
    tm = backbones.assemble(base, "densenet121", head="faces")
    kinds = [type(layer).__name__ for layer in tm.model.layers[-5:]]
    assert kinds == ["GlobalAveragePooling2D", "Dense", "BatchNormalization", "Dropout", "Dense"]
    assert tm.model.get_layer("head_dense512").units == 512
    assert tm.model.get_layer("head_dropout").rate == 0.35
    assert tm.model.output_shape == (None, 1) and tm.label == "DenseNet121 (faces head)"


def test_backbone_table_lists_the_study_numbers():
    table = transfer.backbone_table(64)
    assert table.loc["ResNet50", "study_accuracy"] == 0.9355
    assert table.loc["ResNet50", "study_unfreeze"] == '"starting at Block 8"'
    assert (table["input_used"] == 64).all()


# --------------------------------------------------------------------------- training


def tiny_transfer_model() -> backbones.TransferModel:
    """A 2-convolution stand-in backbone; the "study" unfreezes it from its second convolution."""
    keras.utils.set_random_seed(0)
    inputs = keras.Input((32, 32, 3))
    x = layers.Conv2D(4, 3, name="c1")(inputs)
    x = layers.BatchNormalization(name="bn1")(x)
    x = layers.Conv2D(4, 3, name="c2")(x)
    x = layers.BatchNormalization(name="bn2")(x)
    base = keras.Model(inputs, layers.ReLU(name="relu")(x), name="tiny")
    tm = backbones.assemble(base, "vgg16")
    tm.backbone = dataclasses.replace(tm.backbone, unfreeze_at=3)  # from c2
    return tm


def snapshot(model: keras.Model) -> dict[str, list[np.ndarray]]:
    return {layer.name: [np.array(w) for w in layer.get_weights()] for layer in model.layers}


def changed(before: dict, after: dict, name: str) -> bool:
    return any(not np.array_equal(a, b) for a, b in zip(before[name], after[name]))


def test_two_phase_trains_the_head_then_the_top_with_batchnorm_untouched():
    tm = tiny_transfer_model()
    splits = Splits(random_dataset(24, 1), random_dataset(8, 2), random_dataset(10, 3))
    start = snapshot(tm.base)
    head_start = [np.array(w) for w in tm.model.get_layer("softmax").get_weights()]
    middle, reports, frozen_accuracy = {}, [], []

    def report(text: str) -> None:  # called between the two phases
        reports.append(text)
        middle.update(snapshot(tm.base))
        frozen_accuracy.append(evaluate(tm.model, splits.test)["accuracy"])

    run = transfer.two_phase(tm, splits, epochs=1, finetune_epochs=2, batch_size=8,
                             finetune_learning_rate=1e-2, run_eagerly=True, seed=7,
                             report=report)
    end = snapshot(tm.base)
    assert not any(changed(start, middle, name) for name in start), "frozen phase moved the base"
    assert not np.array_equal(head_start[0], tm.model.get_layer("softmax").get_weights()[0])
    assert not changed(middle, end, "c1") and changed(middle, end, "c2")
    assert not changed(middle, end, "bn1") and not changed(middle, end, "bn2")
    assert "c2, bn2, relu" in reports[0]
    assert set(run.metrics) == {"frozen", "fine-tuned"} and run.fits["fine-tuned"].epochs_run == 2
    assert run.metrics["frozen"]["accuracy"] == frozen_accuracy[0]  # the frozen model's own
    assert run.n_test == 10
    assert list(run.unfrozen["layer"]) == ["c2", "bn2", "relu"]
    frozen, tuned = run.fits["frozen"].settings, run.fits["fine-tuned"].settings
    assert frozen["seed"] == tuned["seed"] == 7 and frozen["batch_size"] == 8
    assert (frozen["learning_rate"], tuned["learning_rate"]) == (1e-3, 1e-2)


def test_other_readings_start_from_the_frozen_weights_and_the_study_point_comes_last():
    tm = tiny_transfer_model()
    splits = Splits(random_dataset(24, 1), random_dataset(8, 2), random_dataset(10, 3))
    starts, reports = [], []

    def report(text: str) -> None:  # called before each fine-tuning
        reports.append(text)
        starts.append(snapshot(tm.model))

    run = transfer.two_phase(tm, splits, epochs=1, finetune_epochs=1, batch_size=8,
                             finetune_learning_rate=1e-2, run_eagerly=True, seed=7,
                             others={"from c1": "c1"}, report=report)
    assert list(run.metrics) == ["frozen", "fine-tuned", "fine-tuned (from c1)"]
    assert list(run.fits) == list(run.metrics)
    assert "from 'c1'" in reports[0] and "c1, bn1, c2" in reports[0]
    assert "c2, bn2, relu" in reports[1] and "c1," not in reports[1]
    # Both fine-tunings start from the same frozen weights; the study's point ends the run.
    assert not any(changed(starts[0], starts[1], name) for name in starts[0])
    assert list(run.unfrozen["layer"]) == ["c2", "bn2", "relu"]
    assert run.metrics["fine-tuned"]["accuracy"] == evaluate(tm.model, splits.test)["accuracy"]


def test_transfer_net_gives_the_same_training_as_a_plain_keras_model():
    def train(net: bool) -> list[np.ndarray]:
        tm = tiny_transfer_model()
        training.unfreeze_from(tm.base, 3)
        model = tm.model if net else keras.Model(tm.model.inputs, tm.model.outputs)
        compile_model(model, 1e-2)
        model.run_eagerly = True
        keras.utils.set_random_seed(1)
        data = random_dataset(16, 4)
        model.fit(data.images.astype("float32"), data.labels, batch_size=8, epochs=2,
                  shuffle=False, verbose=0)
        return model.get_weights()

    for a, b in zip(train(True), train(False)):
        np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-6)


def test_a_transfer_model_saves_and_loads(tmp_path):
    tm = tiny_transfer_model()
    images = random_dataset(3).images.astype("float32")
    path = tmp_path / "tiny.keras"
    tm.model.save(path)
    loaded = keras.models.load_model(path)
    assert isinstance(loaded, TransferNet)
    np.testing.assert_allclose(loaded.predict(images, verbose=0), tm.model.predict(images, verbose=0),
                               rtol=1e-5, atol=1e-6)


def test_the_transfer_settings_read_the_profile():
    profile = get_profile("ci")
    settings = profile.for_notebook("04")
    assert isinstance(settings, TransferSettings)
    assert (settings.epochs, settings.batch_size) == (1, 32)
    assert settings.finetune_epochs == profile.overrides["04"].get("finetune_epochs",
                                                                   settings.epochs)
    assert settings.finetune_learning_rate < settings.learning_rate
    # Without finetune_epochs, the fine-tuned phase gets as many epochs as the frozen one.
    assert dataclasses.replace(settings, epochs=3, finetune_epochs=None).finetune_epochs == 3


# --------------------------------------------------------------------------- ImageNet weights


@pytest.fixture
def offline_keras_home(tmp_path, monkeypatch):
    """KERAS_HOME in a temporary folder and no network for keras' downloads."""
    monkeypatch.setenv("KERAS_HOME", str(tmp_path))
    # keras reads KERAS_HOME once, at import: point its copy there too.
    monkeypatch.setattr("keras.src.backend.config._KERAS_DIR", str(tmp_path))

    def no_network(url, *args, **kwargs):
        raise urllib.error.URLError("offline (test)")

    monkeypatch.setattr("keras.src.utils.file_utils.urlretrieve", no_network)
    return tmp_path


def place_weights(path, model: keras.Model) -> None:
    """Write ``model``'s weights in the legacy HDF5 layout of keras.applications' files."""
    from keras.src.legacy.saving import legacy_h5_format

    path.parent.mkdir(parents=True, exist_ok=True)
    with h5py.File(path, "w") as f:
        legacy_h5_format.save_weights_to_hdf5_group(f, model)


def test_imagenet_weights_load_from_the_file_keras_expects(offline_keras_home, monkeypatch, capsys):
    keras.utils.set_random_seed(3)
    reference = keras.applications.VGG16(include_top=False, weights=None, input_shape=(32, 32, 3))
    path = backbones.weights_path("vgg16")
    assert path == offline_keras_home / "models" / "vgg16_weights_tf_dim_ordering_tf_kernels_notop.h5"
    place_weights(path, reference)
    # keras 3 checks the hash of a file already in its cache too (a mismatch means "download
    # again"); our file cannot have the real file's hash, so accept it and check the rest.
    checked = []
    monkeypatch.setattr("keras.src.utils.file_utils.validate_file",
                        lambda fpath, *a, **k: checked.append(fpath) or True)

    tm = backbones.transfer_model("vgg16", weights="imagenet")
    assert tm.weights == backbones.IMAGENET and checked == [str(path)]
    for got, want in zip(tm.base.get_weights(), reference.get_weights()):
        np.testing.assert_array_equal(got, want)
    assert "unavailable" not in capsys.readouterr().out


@pytest.mark.slow
def test_each_backbone_asks_keras_for_the_file_named_in_its_spec(monkeypatch, capsys):
    asked = []

    def get_file(fname=None, *args, **kwargs):
        asked.append(fname)
        raise urllib.error.URLError("offline (test)")

    monkeypatch.setattr("keras.src.utils.file_utils.get_file", get_file)
    for name, spec in backbones.BACKBONES.items():
        _, used = backbones.load_backbone(name, 32, weights="imagenet")
        assert used == backbones.RANDOM_INIT and asked[-1] == spec.weights_file, name
    lines = capsys.readouterr().out.strip().splitlines()
    assert len(lines) == len(backbones.BACKBONES)


def test_without_weights_one_line_says_so_and_training_starts_from_random(offline_keras_home, capsys):
    # A file with the wrong hash: keras tries to download the real one, which fails offline.
    path = backbones.weights_path("vgg16")
    place_weights(path, keras.applications.VGG16(include_top=False, weights=None,
                                                 input_shape=(32, 32, 3)))
    base, used = backbones.load_backbone("vgg16", 32, weights="imagenet")
    assert used == backbones.RANDOM_INIT and base.output_shape == (None, 1, 1, 512)
    lines = capsys.readouterr().out.strip().splitlines()
    assert len(lines) == 1 and "ImageNet weights for VGG16 unavailable" in lines[0]
    assert "random initialisation" in lines[0] and path.name in lines[0]
    assert not path.exists()  # keras deletes a cached file whose re-download failed


# --------------------------------------------------------------------------- Personal CNN


def test_the_studys_layer_23_is_the_first_convolution_of_block_3():
    model = personal_cnn(width=0.125)
    index = training.layer_index(model, PERSONAL_UNFREEZE_LAYER)
    assert model.layers[index].name == "b3_conv1" and index == 24
    with pytest.raises(training.TrainingError, match="has no layer 'b3_conv1'"):
        training.layer_index(keras.Sequential([keras.Input((4,)), layers.Dense(2)]),
                             PERSONAL_UNFREEZE_LAYER)


def test_recompressed_splits_use_unused_images_and_the_same_test_pictures():
    full = random_dataset(40, 5)
    splits = Splits(full.subset(np.arange(0, 10)), full.subset(np.arange(10, 14)),
                    random_dataset(6, 6, prefix="test"))
    second = sources.recompressed_splits(full, splits, quality=20, n_per_class=10, seed=0)
    used = set(splits.train.paths) | set(splits.val.paths)
    new = set(second.train.paths) | set(second.val.paths)
    assert not used & new and len(new) == 20
    assert list(second.test.paths) == list(splits.test.paths)
    assert np.array_equal(second.test.labels, splits.test.labels)
    assert not np.array_equal(second.test.images, splits.test.images)  # JPEG changed the pixels
    # Every training image used: the stand-in re-encodes the first training split itself.
    everything = Splits(full, full.subset(np.arange(0)), splits.test)
    reused = sources.recompressed_splits(full, everything)
    assert set(reused.train.paths) | set(reused.val.paths) <= set(full.paths)
    assert list(reused.test.paths) == list(splits.test.paths)


class Choice:
    """A stand-in for dflearn.sources.DatasetChoice."""

    def __init__(self, embedded: bool, root=None):
        self.is_embedded, self.root, self.source = embedded, root, "test"


def small_splits(root):
    return sources.folder_splits(root, seed=0)


def test_trained_on_cifake_the_second_dataset_is_the_practice_set(make_cifake):
    first = small_splits(make_cifake(6))
    second = sources.second_dataset(Choice(False), first.train, first, n_per_class=20)
    assert second.name == "practice set" and "small GAN" in second.description
    assert all("/data/practice/" in p for p in second.splits.train.paths)
    assert second.splits.train.counts() == {"FAKE": 18, "REAL": 18}
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # more than the practice test set holds: no warning
        larger = sources.second_dataset(Choice(False), first.train, first, n_per_class=400)
    assert larger.splits.test.counts() == {"FAKE": 250, "REAL": 250}
    assert len(larger.splits.train.labels) + len(larger.splits.val.labels) == 800


def test_trained_on_practice_images_a_local_cifake_is_the_second_dataset(make_cifake, monkeypatch):
    cifake = make_cifake(6)
    monkeypatch.setenv("DFLEARN_DATA", str(cifake))
    first = random_dataset(40, 5)
    splits = Splits(first.subset(np.arange(0, 10)), first.subset(np.arange(10, 14)),
                    random_dataset(6, 6, prefix="test"))
    second = sources.second_dataset(Choice(True), first, splits, n_per_class=6)
    assert second.name == "CIFAKE" and all(str(cifake) in p for p in second.splits.test.paths)
    # Without searching (the ci profile), or with nothing to find: the labelled stand-in.
    standin = sources.second_dataset(Choice(True), first, splits, search=False, n_per_class=10)
    assert standin.name == "practice set, JPEG 20" and "stand-in" in standin.description
    assert list(standin.splits.test.paths) == list(splits.test.paths)
    given = sources.second_dataset(Choice(True), first, splits, cifake, search=False)
    assert given.name == "the folder given" and len(given.splits.test.labels) == 12


def test_a_second_dataset_folder_of_another_size_is_resized_to_the_first(make_cifake):
    first = small_splits(make_cifake(6))
    splits48 = Splits(*(Dataset(np.zeros((len(d.labels), 48, 48, 3), np.uint8), d.labels, d.paths)
                        for d in first))
    second = sources.second_dataset(Choice(False), splits48.train, splits48, n_per_class=10)
    assert second.splits.train.images.shape[1:] == (48, 48, 3)


def test_personal_table_puts_the_studys_second_dataset_beside_ours():
    table = transfer.personal_table({"first test": 0.9, "second test": 0.6},
                                    {"first test": 0.8, "second test": 0.7})
    assert list(table.index) == ["before fine-tuning", "after fine-tuning", transfer.SECOND_ROW]
    assert "Karki" in transfer.SECOND_ROW
    reported = table.loc[transfer.SECOND_ROW, "second test"]
    assert reported == study.value(transfer.SECOND_KEY) == 0.8112
    assert pd.isna(table.loc[transfer.SECOND_ROW, "first test"])


# --------------------------------------------------------------------------- results


def fake_run(label: str, frozen: float, fine: float, weights: str = backbones.RANDOM_INIT,
             n_test: int = 200, **others: float) -> transfer.TransferRun:
    """A run with metrics (every column 0.5 but accuracy) and one-epoch fits whose histories
    hold the accuracy and loss of each phase."""
    def row(accuracy: float) -> dict[str, float]:
        return {c: 0.5 for c in [*transfer.TABLE_COLUMNS, "precision_macro", "recall_macro"]} | {
            "accuracy": accuracy, "loss": 1 - accuracy}

    def history(accuracy: float) -> training.FitResult:
        return training.FitResult({"accuracy": [0.1, accuracy + 0.01], "loss": [2.0, 0.3],
                                   "val_accuracy": [0.2, accuracy], "val_loss": [1.5, 0.4]}, 1.0, 10)

    phases = {"frozen": frozen, "fine-tuned": fine,
              **{transfer.phase_name(k): v for k, v in others.items()}}
    return transfer.TransferRun(label, weights, fits={p: history(a) for p, a in phases.items()},
                                metrics={p: row(a) for p, a in phases.items()}, n_test=n_test)


def test_results_table_puts_the_study_beside_ours():
    runs = [fake_run("ResNet50", 0.8, 0.9, **{"conv5 only": 0.85}), fake_run("VGG16", 0.7, 0.6),
            fake_run("DenseNet121 (faces head)", 0.5, 0.6)]
    table = transfer.results_table(runs)
    assert table.index.names == ["model", "phase"] and len(table) == 7
    assert table.loc[("ResNet50", "fine-tuned (conv5 only)"), "accuracy"] == 0.85
    assert table.loc[("ResNet50", "frozen"), "accuracy"] == 0.8
    assert table.loc[("ResNet50", "fine-tuned"), "reported_accuracy"] == 0.9355
    assert table.loc[("ResNet50", "frozen"), "reported_by"].startswith("study")
    faces = table.loc[("DenseNet121 (faces head)", "frozen")]
    assert faces["reported_accuracy"] == study.value(transfer.STUDY_KEYS[transfer.FACES_LABEL])
    assert faces["reported_accuracy"] == 0.9026
    assert faces["reported_by"].startswith("faces,")
    assert list(table.columns) == ["weights", *transfer.TABLE_COLUMNS, "reported_accuracy",
                                   "reported_by"]
    unknown = transfer.results_table([fake_run("Other", 0.5, 0.5)])
    assert pd.isna(unknown["reported_accuracy"]).all() and (unknown["reported_by"] == "").all()


def test_fig1_table_puts_ours_beside_the_studys_transfer_rows():
    runs = [fake_run("ResNet50", 0.8, 0.9), fake_run("VGG16", 0.7, 0.6),
            fake_run(transfer.FACES_LABEL, 0.5, 0.6)]
    table = transfer.fig1_table(runs)
    assert list(table.index) == ["ResNet50", "VGG16"]  # Fig. 1 has no faces-head row
    assert table.loc["ResNet50", "accuracy ours"] == 0.9
    assert table.loc["ResNet50", "accuracy study"] == study.value("study/resnet50_transfer/accuracy")
    assert table.loc["VGG16", "loss study"] == 0.576 and table.loc["VGG16", "loss ours"] == 0.4
    assert table.loc["VGG16", "F1 FAKE study"] == study.value("study/vgg16_transfer/f1_a")
    assert table.loc["VGG16", "F1 REAL study"] == study.value("study/vgg16_transfer/f1_b")
    assert table.loc["ResNet50", "n ours"] == 200
    assert transfer.fig1_table(runs, "frozen").loc["ResNet50", "accuracy ours"] == 0.8
    with pytest.raises(transfer.TransferError, match="No run of the study's models"):
        transfer.fig1_table([fake_run(transfer.FACES_LABEL, 0.5, 0.6)])


def test_before_after_table_keeps_the_frozen_models_own_numbers_beside_fig17():
    table = transfer.before_after_table([fake_run("DenseNet121", 0.61, 0.72),
                                         fake_run(transfer.FACES_LABEL, 0.5, 0.6)])
    assert list(table.index) == [("DenseNet121", "before"), ("DenseNet121", "after")]
    before, after = table.loc[("DenseNet121", "before")], table.loc[("DenseNet121", "after")]
    assert before["test_accuracy ours"] == 0.61 and after["test_accuracy ours"] == 0.72
    assert before["val_accuracy ours"] == 0.61
    assert before["train_accuracy ours"] == pytest.approx(0.62)
    assert before["train_loss ours"] == 0.3 and before["epochs ours"] == 2
    assert before["val_accuracy study"] == study.value("study/fig17/densenet121/before/val_accuracy")
    assert after["val_accuracy study"] == study.value("study/fig17/densenet121/after/val_accuracy")
    assert after["train_loss study"] == study.value("study/fig17/densenet121/after/train_loss")


def test_study_findings_judge_the_ranking_values_and_fine_tuning():
    runs = [fake_run("ResNet50", 0.80, 0.95, n_test=12_000),
            fake_run("DenseNet121", 0.90, 0.84, n_test=12_000),
            fake_run("VGG16", 0.70, 0.81, n_test=12_000), fake_run(transfer.FACES_LABEL, 0.5, 0.6)]
    verdicts = {v.finding: v for v in transfer.study_findings(runs)}
    assert len(verdicts) == 7  # one ranking, three values, three fine-tuning orders
    ranking = verdicts["Fig. 1 ranking: ResNet50 > DenseNet121 > VGG16"]
    assert ranking.verdict == "holds" and "ResNet50 0.9355" in ranking.seed_number
    assert verdicts["VGG16 accuracy after fine-tuning (Fig. 1)"].verdict == "holds"
    assert verdicts["ResNet50 accuracy after fine-tuning (Fig. 1)"].verdict == "refuted"
    # Fig. 17: fine-tuning raised ResNet50's validation accuracy but lowered DenseNet121's.
    assert verdicts["ResNet50: fine-tuning helped (Fig. 17)"].verdict == "holds"
    dense = verdicts["DenseNet121: fine-tuning did not help (Fig. 17)"]
    assert dense.verdict == "holds" and dense.seed_number.startswith("DenseNet121 frozen 0.8503")
    table = study.findings_table(list(verdicts.values()))
    assert list(table.columns) == list(study.FINDINGS_COLUMNS) and len(table) == 7
    small = transfer.study_findings([fake_run("ResNet50", 0.5, 0.6, n_test=20),
                                     fake_run("VGG16", 0.5, 0.55, n_test=20)])
    assert small[0].verdict == "inconclusive" and small[0].finding.endswith("ResNet50 > VGG16")
    with pytest.raises(transfer.TransferError):
        transfer.study_findings([fake_run("Other", 0.5, 0.5)])


def test_weights_note_says_what_random_init_means():
    assert transfer.weights_note([fake_run("VGG16", 0.5, 0.6, backbones.IMAGENET)]) == ""
    note = transfer.weights_note([fake_run("VGG16", 0.5, 0.6, backbones.IMAGENET),
                                  fake_run("ResNet50", 0.5, 0.6, n_test=32)])
    assert "ResNet50 started from random initialisation" in note and "VGG16" not in note
    assert "not transfer learning" in note and "32 test images" in note


class Fixed:
    """A model that outputs a fixed P(REAL) per image (a sigmoid head's shape)."""

    def __init__(self, p_real: list[float]):
        self.p_real = np.asarray(p_real, dtype="float32")[:, None]

    def predict(self, images, batch_size=None, verbose=0):
        return self.p_real[: len(images)]


def test_faces_table2_uses_the_faces_projects_definitions():
    # 3 REAL (2 called REAL), 2 FAKE (1 called FAKE): sensitivity 2/3, specificity 1/2.
    test = Dataset(np.zeros((5, 32, 32, 3), np.uint8), np.array([1, 1, 1, 0, 0]),
                   np.array([f"{i}.jpg" for i in range(5)]))
    table = transfer.faces_table2(Fixed([0.9, 0.6, 0.2, 0.1, 0.7]), test)
    assert table.loc["sensitivity", "ours"] == pytest.approx(2 / 3)
    assert table.loc["specificity", "ours"] == 0.5 and table.loc["accuracy", "ours"] == 0.6
    assert table["faces project (Table 2)"].tolist() == [0.9026, 0.8732, 0.9315]
    assert (table["n ours"] == 5).all()


def test_chance_table_says_which_intervals_lie_above_one_half():
    runs = [fake_run("ResNet50", 0.5, 0.56, n_test=32),
            fake_run(transfer.PERSONAL_BACKBONE, 0.9, 0.875, weights="03_personal_cnn", n_test=32)]
    table = transfer.chance_table(runs)
    assert table.index.names == ["model", "phase"] and len(table) == 4
    assert not table["above chance"][("ResNet50", "fine-tuned")]
    personal = table.loc[(transfer.PERSONAL_BACKBONE, "fine-tuned")]
    assert personal["above chance"] and personal["weights"] == "03_personal_cnn"
    assert (personal["low"], personal["high"]) == study.accuracy_interval(0.875, 32)
    assert personal["low"] > 0.5 > table.loc[("ResNet50", "fine-tuned"), "low"]
    with pytest.raises(transfer.TransferError, match="at least one"):
        transfer.chance_table([])


def test_personal_backbone_copies_03s_model_and_unfreezes_from_layer_23():
    personal = personal_cnn(width=0.125)
    before = [w.copy() for w in personal.get_weights()]
    tm = transfer.personal_backbone(personal, "stand-in")
    assert tm.label == transfer.PERSONAL_BACKBONE and tm.weights == "stand-in"
    assert tm.base.layers[-1].name == "dense_dropout" and not tm.base.trainable
    assert tm.model.output_shape == (None, 2)
    unfrozen = tm.unfreeze()
    assert unfrozen.iloc[0]["layer"] == "b3_conv1"
    for w in tm.base.trainable_weights:
        w.assign(w + 1.0)
    assert all(np.array_equal(a, b) for a, b in zip(before, personal.get_weights()))
    with pytest.raises(transfer.TransferError, match="has no layer 'dense_dropout'"):
        transfer.personal_backbone(keras.Sequential([keras.Input((4,)), layers.Dense(2)]), "x")
