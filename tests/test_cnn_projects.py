"""Tests of dflearn.cnn_projects (03's companion-project experiments)."""

from __future__ import annotations


import numpy as np
import pytest

from dflearn import cnn_projects as cp
from dflearn import metrics, models, study
from dflearn.data import Dataset


def _dataset(n: int, seed: int = 0) -> Dataset:
    rng = np.random.default_rng(seed)
    labels = np.repeat([0, 1], n // 2)
    images = rng.integers(0, 256, (n, 32, 32, 3)).astype("uint8")
    images[labels == 1] //= 2  # REAL darker: learnable
    return Dataset(images, labels, np.array([f"{i}.png" for i in range(n)]))


def _row(acc: float) -> dict[str, float]:
    return {"loss": 0.5, "accuracy": acc, "precision_macro": acc, "recall_macro": acc,
            "f1_FAKE": acc - 0.01, "f1_REAL": acc + 0.01, "precision_FAKE": 0.6,
            "recall_FAKE": 0.7, "f1_FAKE_": 0.0}


def test_lightweight_table_counts_parameters_and_adds_project_row():
    dense = models.dense_cnn(width=0.125)
    row = {"accuracy": 0.8, "precision_FAKE": 0.7, "recall_FAKE": 0.9, "f1_FAKE": 0.79}
    table = cp.lightweight_table({"dense": dense}, {"dense": row}, "MobileNet-style")
    assert table.loc["dense", "parameters"] == dense.count_params()
    assert table.loc["dense", "recall"] == 0.9
    project = table.loc["MobileNet-style (project, GAN faces)"]
    assert project["accuracy"] == study.value("lightweight/mobilenet_cnn/accuracy")
    assert project["f1"] == study.value("lightweight/mobilenet_cnn/f1")


def test_augmentations_change_the_image_and_keep_its_shape():
    image = _dataset(2).images[0]
    layers = cp.augmentation_layers(rotation=0.1, zoom=0.2, seed=1)
    assert len(layers) == 4 and any("rotation" in k for k in layers)
    for name, layer in layers.items():
        out = cp.augmented_draws(image, layer, 6)
        assert out.shape == (6, 32, 32, 3) and out.min() >= 0 and out.max() <= 255
        if name.startswith("flip"):  # some draws flip, each is the original or its mirror
            for o in out:
                assert np.allclose(o, image) or np.allclose(o, image[:, ::-1])
        assert np.abs(out - image).mean() > 0, name
    with pytest.raises(ValueError):
        cp.augmentation_layers(rotation=0)
    fig = cp.plot_augmentations(image, layers, draws=2, title="t")
    assert len(fig.axes) == 4 * 3 and fig.axes[1].get_xlabel() == "x (pixels)"


def test_search_space_samples_inside_table1_and_is_seeded():
    trials = cp.FACES_SPACE.sample(50, seed=3)
    assert trials == cp.FACES_SPACE.sample(50, seed=3)
    assert trials != cp.FACES_SPACE.sample(50, seed=4)
    for t in trials:
        assert 1e-5 <= t["max_learning_rate"] <= 1e-3
        assert 0 <= t["weight_decay"] <= 1e-2
        assert 0.1 <= t["dropout"] <= 0.5
        assert t["batch_size"] in (32, 64, 128)
    with pytest.raises(ValueError):
        cp.FACES_SPACE.sample(0)


def test_faces_fit_options_follow_the_project():
    options = cp.faces_fit_options({"max_learning_rate": 1e-4, "weight_decay": 1e-3,
                                    "dropout": 0.2, "batch_size": 64}, max_epochs=7)
    assert options["learning_rate"] == 1e-4 and options["batch_size"] == 64
    assert options["schedule"] == "step"
    assert options["schedule_options"] == {"drop": 0.1, "every": 5}
    assert options["patience"] == 2 and options["monitor"] == "val_loss"
    assert options["epochs"] == 7 and options["run_eagerly"] is False
    assert cp.faces_fit_options({"max_learning_rate": 1e-4, "weight_decay": 0, "dropout": 0.2,
                                 "batch_size": 32}, 1, run_eagerly=True)["run_eagerly"] is True


def test_random_search_trains_on_a_tenth_and_marks_the_best():
    train, val = _dataset(80, 0), _dataset(20, 1)
    space = cp.SearchSpace(batch_sizes=(8, 16))
    built = []

    def build(dropout: float):
        built.append(dropout)
        return models.faces_cnn(width=0.0625, head="sigmoid", dropout=dropout)

    table = cp.random_search(build, train, val, n_trials=2, max_epochs=1, fraction=0.5, seed=0,
                             space=space)
    assert len(table) == 2 and table["best"].sum() == 1
    assert (table["n_train"] == 40).all()
    assert built == list(table["dropout"])
    assert table.loc[table["best"], "val_loss"].iloc[0] == table["val_loss"].min()
    best = cp.best_vs_project(table)
    assert best.loc["batch_size", "project (Table 1, value used)"] == 128
    assert best.loc["dropout", "ours (best trial)"] == table.loc[table["best"], "dropout"].iloc[0]
    with pytest.raises(ValueError):
        cp.random_search(build, train, val, n_trials=1, max_epochs=1, fraction=0)
    with pytest.raises(ValueError, match="largest batch"):  # 8 images, batches of up to 128
        cp.random_search(build, train, val, n_trials=1, max_epochs=1, fraction=0.1)


def test_faces_table2_uses_the_projects_convention():
    y_true = np.array([0, 0, 0, 0, 1, 1, 1, 1])
    y_pred = np.array([0, 0, 0, 1, 1, 0, 0, 1])  # FAKE 3/4 right, REAL 2/4 right
    course = metrics.classification_metrics(y_true, y_pred)
    table = cp.faces_table2(y_true, y_pred, course)
    assert table.loc["sensitivity", "ours"] == 0.5   # REAL classified REAL
    assert table.loc["specificity", "ours"] == 0.75  # FAKE classified FAKE
    assert table.loc["specificity", "its value"] == course["sensitivity"]
    assert table.loc["accuracy", "project (Table 2, own model)"] == study.value("faces/own_cnn/accuracy")
