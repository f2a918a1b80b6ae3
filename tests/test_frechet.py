"""Fréchet distances, detector feature spaces and the InceptionV3 (FID) path, all offline."""

from __future__ import annotations

from pathlib import Path
from urllib.error import URLError

import h5py
import keras
import numpy as np
import pytest
import tensorflow as tf
from scipy import linalg
from keras.src.backend import config as keras_config
from keras.src.legacy.saving import legacy_h5_format
from keras.src.utils import file_utils

from dflearn import frechet


def test_identical_sets_are_at_distance_zero() -> None:
    features = np.random.default_rng(0).normal(size=(200, 5))
    stats = frechet.feature_statistics(features)
    assert frechet.frechet_distance(*stats, *stats) == pytest.approx(0.0, abs=1e-6)


def test_one_dimensional_closed_form() -> None:
    # d^2 = (m1 - m2)^2 + s1^2 + s2^2 - 2 s1 s2
    got = frechet.frechet_distance(np.array([1.0]), np.array([[4.0]]),
                                   np.array([3.0]), np.array([[9.0]]))
    assert got == pytest.approx(4.0 + 4.0 + 9.0 - 2 * 6.0)


def test_diagonal_covariances_and_symmetry() -> None:
    mu_a, mu_b = np.array([0.0, 1.0, 2.0]), np.array([1.0, 1.0, 0.0])
    var_a, var_b = np.array([1.0, 4.0, 9.0]), np.array([4.0, 4.0, 1.0])
    expected = np.sum((mu_a - mu_b) ** 2) + np.sum((np.sqrt(var_a) - np.sqrt(var_b)) ** 2)
    forward = frechet.frechet_distance(mu_a, np.diag(var_a), mu_b, np.diag(var_b))
    backward = frechet.frechet_distance(mu_b, np.diag(var_b), mu_a, np.diag(var_a))
    assert forward == pytest.approx(expected) and backward == pytest.approx(expected)


def test_trace_of_the_square_root_matches_scipy_sqrtm() -> None:
    rng = np.random.default_rng(3)
    a = np.cov(rng.normal(size=(40, 6)), rowvar=False)
    b = np.cov(rng.normal(size=(40, 6)) @ rng.normal(size=(6, 6)), rowvar=False)
    expected = np.trace(np.real(linalg.sqrtm(a @ b)))
    assert frechet.trace_sqrt_product(a, b) == pytest.approx(expected, rel=1e-8)
    assert frechet.trace_sqrt_product(b, a) == pytest.approx(expected, rel=1e-8)


def test_distance_grows_with_the_shift() -> None:
    rng = np.random.default_rng(1)
    base = frechet.feature_statistics(rng.normal(size=(500, 4)))
    near = frechet.feature_statistics(rng.normal(0.2, size=(500, 4)))
    far = frechet.feature_statistics(rng.normal(1.0, size=(500, 4)))
    assert frechet.frechet_distance(*base, *near) < frechet.frechet_distance(*base, *far)


def test_fewer_samples_than_features_stays_finite() -> None:
    rng = np.random.default_rng(2)
    a, b = rng.normal(size=(5, 20)), rng.normal(size=(5, 20))
    d = frechet.frechet_distance(*frechet.feature_statistics(a), *frechet.feature_statistics(b))
    assert np.isfinite(d) and d > 0


def test_shape_errors_are_named() -> None:
    with pytest.raises(ValueError, match="N >= 2"):
        frechet.feature_statistics(np.zeros((1, 3)))
    with pytest.raises(ValueError, match="Shapes do not match"):
        frechet.frechet_distance(np.zeros(2), np.eye(2), np.zeros(3), np.eye(3))


def small_detector() -> keras.Model:
    inputs = keras.Input((8, 8, 3))
    x = keras.layers.Rescaling(1 / 255)(inputs)
    x = keras.layers.Conv2D(4, 3, activation="relu", name="conv")(x)
    x = keras.layers.GlobalAveragePooling2D(name="pool")(x)
    outputs = keras.layers.Dense(2, activation="softmax", name="head")(x)
    return keras.Model(inputs, outputs, name="tiny")


def test_detector_space_uses_the_layer_feeding_the_head() -> None:
    keras.utils.set_random_seed(0)
    space = frechet.detector_space(small_detector())
    assert space.dimensions == 4 and "pool" in space.name and "FID" not in space.name
    rng = np.random.default_rng(0)
    images = rng.integers(0, 256, (30, 16, 16, 3), dtype=np.uint8)  # resized to 8x8 for the model
    assert space.extract(images).shape == (30, 4)
    assert space.distance(images, images) == pytest.approx(0.0, abs=1e-6)
    brighter = np.clip(images.astype(int) + 80, 0, 255).astype(np.uint8)
    table = frechet.distance_table(space, images, {"same": images, "brighter": brighter})
    assert table.loc["same", space.name] == pytest.approx(0.0, abs=1e-6)
    assert table.loc["brighter", space.name] > 0 and table.loc["brighter", "images"] == 30
    assert frechet.detector_space(small_detector(), layer="conv").dimensions == 6 * 6 * 4


def no_network(*args, **kwargs):
    raise URLError("network unreachable (test)")


def test_inception_offline_fails_over_with_one_line(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                                    capsys: pytest.CaptureFixture) -> None:
    """The real Keras download path, with an empty cache and no network: one line that says
    what to do, and ``None``."""
    monkeypatch.setattr(keras_config, "_KERAS_DIR", str(tmp_path))
    monkeypatch.setattr(file_utils, "urlretrieve", no_network)
    assert frechet.keras_models_dir() == tmp_path / "models"
    assert frechet.inception_space() is None
    lines = [line for line in capsys.readouterr().out.splitlines() if line.startswith("FID")]
    assert len(lines) == 1 and "could not be loaded" in lines[0]
    assert frechet.INCEPTION_WEIGHTS in lines[0] and str(tmp_path / "models") in lines[0]


@pytest.mark.slow
def test_fid_uses_weights_placed_in_the_keras_cache(tmp_path: Path,
                                                    monkeypatch: pytest.MonkeyPatch) -> None:
    """Stand-in weights (random, same architecture, Keras' legacy HDF5 format) saved under the
    file name Keras caches the ImageNet weights as, in ``$KERAS_HOME/models``:
    ``inception_space()`` loads them with no network, and the FID feature code runs end to end."""
    keras.utils.set_random_seed(0)
    shape = (frechet.INCEPTION_SIZE, frechet.INCEPTION_SIZE, 3)
    network = keras.applications.InceptionV3(weights=None, include_top=False, pooling="avg",
                                             input_shape=shape)
    (tmp_path / "models").mkdir()
    with h5py.File(tmp_path / "models" / frechet.INCEPTION_WEIGHTS, "w") as f:
        legacy_h5_format.save_weights_to_hdf5_group(f, network)
    monkeypatch.setattr(keras_config, "_KERAS_DIR", str(tmp_path))
    monkeypatch.setattr(file_utils, "urlretrieve", no_network)
    # A stand-in cannot match the real file's MD5, and on a mismatch Keras downloads again.
    monkeypatch.setattr(file_utils, "validate_file", lambda *args, **kwargs: True)
    space = frechet.inception_space(batch_size=2)
    assert space is not None and space.name.startswith("FID") and space.dimensions == 2048
    images = np.random.default_rng(0).integers(0, 256, (3, 32, 32, 3), dtype=np.uint8)
    features = space.extract(images)
    assert features.shape == (3, 2048)
    resized = tf.image.resize(images.astype("float32"), shape[:2], method="bilinear")
    expected = network(keras.applications.inception_v3.preprocess_input(resized))
    np.testing.assert_allclose(features, keras.ops.convert_to_numpy(expected), rtol=1e-4,
                               atol=1e-5)  # the file's weights, not a fresh initialisation
