"""Tests for notebook 10's frozen-feature probe."""

from __future__ import annotations

import numpy as np
import pytest

from dflearn import frozen_probe
from dflearn.data import FAKE, REAL, Dataset
from dflearn.training import Recipe


def practice_like(n_per_class: int = 8) -> Dataset:
    rng = np.random.default_rng(0)
    x = rng.integers(0, 256, (2 * n_per_class, 8, 8, 3), dtype=np.uint8)
    labels = np.repeat([FAKE, REAL], n_per_class)
    return Dataset(x, labels, np.array([f"{i:04d}.jpg" for i in range(len(labels))]))


def test_rotation_task_without_content_classes_uses_real_images_only() -> None:
    ds = practice_like()
    task = frozen_probe.pretext_task(ds, n_per_class=5, seed=0)
    assert task.classes == frozen_probe.ROTATIONS and "rotation" in task.name
    assert np.bincount(task.data.labels).tolist() == [5, 5, 5, 5]
    real = {img.tobytes() for img in ds.images[ds.labels == REAL]}
    unrotated = task.data.images[task.data.labels == 0]
    assert all(img.tobytes() in real for img in unrotated)
    turned = task.data.images[task.data.labels == 1]
    assert all(np.rot90(img, -1).tobytes() in real for img in turned)


def test_content_classes_come_from_cifake_file_names() -> None:
    ds = practice_like(4)
    names = [f"{i:04d} ({2 + i % 3}).jpg" for i in range(8)]
    ds = Dataset(ds.images, ds.labels, np.array(names))
    task = frozen_probe.pretext_task(ds)
    assert "content" in task.name and len(task.classes) == 10
    assert len(task.data.labels) == 4  # the four REAL images
    assert set(task.data.labels) <= {1, 2, 3}


def test_no_real_images_is_an_error() -> None:
    ds = practice_like()
    with pytest.raises(ValueError, match="REAL"):
        frozen_probe.pretext_task(ds.subset(ds.labels == FAKE))


def test_extractor_trains_on_the_pretext_task_and_is_frozen() -> None:
    recipe = Recipe(arch="personal", width=0.0625, input_size=8, epochs=1, batch_size=8,
                    schedule=None, patience=0, augment="none")
    task = frozen_probe.pretext_task(practice_like(), seed=0)
    extractor, result = frozen_probe.train_extractor(recipe, task, epochs=1, seed=0)
    assert result.epochs_run == 1 and not extractor.trainable
    features = frozen_probe.embed(extractor, practice_like().images)
    assert features.shape == (16, extractor.output_shape[-1])


def test_probes_separate_separable_features() -> None:
    rng = np.random.default_rng(0)
    labels = np.repeat([FAKE, REAL], 20)
    features = rng.normal(size=(40, 3)) + 4.0 * labels[:, None]
    probes = frozen_probe.fit_probes(features, labels, neighbours=3)
    assert set(probes) == {"probe: logistic", "probe: 3-NN"}
    for probe in probes.values():
        assert probe.score(features, labels) == 1.0


def test_probe_scorers_give_the_probability_of_real() -> None:
    import keras

    inputs = keras.Input((2, 2, 3))
    extractor = keras.Model(inputs, keras.layers.Flatten()(inputs))
    labels = np.repeat([FAKE, REAL], 10)
    x = np.zeros((20, 2, 2, 3), np.uint8) + (200 * labels)[:, None, None, None].astype(np.uint8)
    x = x + np.random.default_rng(0).integers(0, 20, x.shape).astype(np.uint8)
    probes = frozen_probe.fit_probes(frozen_probe.embed(extractor, x), labels, neighbours=3)
    for score in frozen_probe.probe_scorers(extractor, probes).values():
        p_real = score(x)
        assert p_real.shape == (20,)
        assert np.all(p_real[labels == REAL] > 0.5) and np.all(p_real[labels == FAKE] < 0.5)
