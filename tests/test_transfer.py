"""Tests for notebook 04's code: dflearn.transfer (the two training phases, the results beside
the study's) and the core it uses: dflearn.backbones (backbones, ImageNet weight loading offline,
from a weights file placed where keras.applications looks), dflearn.training's unfreezing
helpers, dflearn.layers.TransferNet and dflearn.sources' second dataset of the Personal CNN."""

from __future__ import annotations

import dataclasses
import urllib.error
import warnings

import h5py
import keras
import numpy as np
import pandas as pd
import pytest
from keras import layers

from dflearn import backbones, get_profile, sources, study, training, transfer
from dflearn.course.config import TransferSettings
from dflearn.data import Dataset, DatasetError
from dflearn.layers import TransferNet
from dflearn.models import PERSONAL_UNFREEZE_LAYER, compile_model, personal_cnn
from dflearn.splits import Splits


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

    start = training.unfreeze_index(resnet, backbones.get_backbone("resnet50").unfreeze_at)
    assert names["resnet50"][start - 1] == "conv4_block6_out"
    assert all(n.startswith("conv5_") for n in names["resnet50"][start:])


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
    middle, reports = {}, []

    def report(text: str) -> None:  # called between the two phases
        reports.append(text)
        middle.update(snapshot(tm.base))

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
    assert list(run.unfrozen["layer"]) == ["c2", "bn2", "relu"]
    frozen, tuned = run.fits["frozen"].settings, run.fits["fine-tuned"].settings
    assert frozen["seed"] == tuned["seed"] == 7 and frozen["batch_size"] == 8
    assert (frozen["learning_rate"], tuned["learning_rate"]) == (1e-3, 1e-2)


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
    everything = Splits(full, full.subset(np.arange(0)), splits.test)
    with pytest.raises(DatasetError, match="No unused training images"):
        sources.recompressed_splits(full, everything)


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
    assert list(table.index) == ["before fine-tuning", "after fine-tuning",
                                 "study (its second dataset)"]
    reported = table.loc["study (its second dataset)", "second test"]
    assert reported == study.value(transfer.SECOND_KEY) and round(reported, 3) == 0.811
    assert pd.isna(table.loc["study (its second dataset)", "first test"])


# --------------------------------------------------------------------------- results


def fake_run(label: str, frozen: float, fine: float, weights: str = backbones.RANDOM_INIT):
    def row(accuracy: float) -> dict[str, float]:
        return {c: 0.5 for c in transfer.TABLE_COLUMNS} | {"accuracy": accuracy}

    return transfer.TransferRun(label, weights, metrics={"frozen": row(frozen), "fine-tuned": row(fine)})


def test_results_table_puts_the_study_beside_ours():
    runs = [fake_run("ResNet50", 0.8, 0.9), fake_run("VGG16", 0.7, 0.6),
            fake_run("DenseNet121 (faces head)", 0.5, 0.6)]
    table = transfer.results_table(runs)
    assert table.index.names == ["model", "phase"] and len(table) == 6
    assert table.loc[("ResNet50", "fine-tuned"), "reported_accuracy"] == 0.9355
    assert table.loc[("ResNet50", "frozen"), "reported_by"].startswith("study")
    faces = table.loc[("DenseNet121 (faces head)", "frozen")]
    assert faces["reported_accuracy"] == study.value(transfer.STUDY_KEYS[transfer.FACES_LABEL])
    assert round(faces["reported_accuracy"], 3) == 0.903
    assert faces["reported_by"].startswith("faces,")
    assert list(table.columns) == ["weights", *transfer.TABLE_COLUMNS, "reported_accuracy",
                                   "reported_by"]
    unknown = transfer.results_table([fake_run("Other", 0.5, 0.5)])
    assert pd.isna(unknown["reported_accuracy"]).all() and (unknown["reported_by"] == "").all()


def test_findings_say_whether_the_ranking_holds():
    holds = transfer.results_table([fake_run("ResNet50", 0.8, 0.95), fake_run("DenseNet121", 0.8, 0.85),
                                    fake_run("VGG16", 0.7, 0.8, backbones.IMAGENET)])
    text = transfer.findings_text(holds)
    assert "ResNet50 > DenseNet121 > VGG16 holds here" in text
    assert "3 of 3 models" in text and "random init" in text
    fails = transfer.results_table([fake_run("ResNet50", 0.8, 0.7, backbones.IMAGENET),
                                    fake_run("VGG16", 0.8, 0.9, backbones.IMAGENET)])
    text = transfer.findings_text(fails)
    assert "does not hold" in text and "VGG16 > ResNet50" in text and "random init" not in text
    assert "faces project" not in text
    faces = transfer.results_table([fake_run("DenseNet121", 0.6, 0.7),
                                    fake_run(transfer.FACES_LABEL, 0.6, 0.8)])
    assert ("head (dense 512, BatchNorm, dropout) beat the study's plain head"
            in transfer.findings_text(faces))
    with pytest.raises(transfer.TransferError):
        transfer.findings_text(transfer.results_table([fake_run("Other", 0.5, 0.5)]))
