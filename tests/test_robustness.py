"""Which second dataset is the study's, the study's verdicts, perturbations, robustness curves,
Blur+JPEG augmentation, leakage.

Also tests the core functions 08 relies on at their new homes: data.load_labelled_folder and
write_labelled_folder, images.resize_images/fit_to_model/model_input_size, layers.BlurJpeg and
metrics.evaluate_models."""

from __future__ import annotations

from pathlib import Path

import keras
import numpy as np
import pandas as pd
import pytest
import tensorflow as tf
from scipy import ndimage

from conftest import write_image
from dflearn import robustness, sources
from dflearn.data import (FAKE, REAL, Dataset, DatasetError, DatasetWarning, load_labelled_folder,
                          write_labelled_folder)
from dflearn.duplicates import pixel_hashes
from dflearn.images import fit_to_model, model_input_size, resize_images
from dflearn.layers import BlurJpeg
from dflearn.metrics import evaluate_models
from dflearn.study import value as study_value
from dflearn.course.session import seed_everything
from dflearn.training import make_dataset

LAPLACIAN = np.array([[0, 1, 0], [1, -4, 1], [0, 1, 0]], dtype="float32")


def sharpness_detector(size: int = 32, threshold: float = 0.05, gain: float = 60.0) -> keras.Model:
    """A hand-set Keras detector: mean |Laplacian| of the grey image above ``threshold`` means
    FAKE. Noisy images are FAKE, smooth ones REAL, and blurring a FAKE image makes it "REAL"."""
    inputs = keras.Input((size, size, 3))
    x = keras.layers.Rescaling(1 / 255)(inputs)
    conv = keras.layers.Conv2D(2, 3, activation="relu", name="laplacian")
    x = conv(x)
    x = keras.layers.GlobalAveragePooling2D()(x)
    head = keras.layers.Dense(1, activation="sigmoid", name="head")
    outputs = head(x)
    model = keras.Model(inputs, outputs)
    kernel = np.stack([LAPLACIAN, -LAPLACIAN], axis=-1)[:, :, None, :].repeat(3, axis=2) / 3
    conv.set_weights([kernel, np.zeros(2, "float32")])
    head.set_weights([np.full((2, 1), -gain, "float32"), np.array([gain * threshold], "float32")])
    return model


def noisy_vs_smooth(n: int = 20, size: int = 32, seed: int = 0) -> Dataset:
    """FAKE = uniform noise, REAL = smooth colour gradients."""
    rng = np.random.default_rng(seed)
    fake = rng.integers(0, 256, (n, size, size, 3), dtype=np.uint8)
    axis = np.linspace(0, 1, size)
    ramp = axis[None, :, None, None] * axis[None, None, :, None]
    real = (rng.uniform(40, 200, (n, 1, 1, 3)) * (0.5 + 0.5 * ramp)).astype(np.uint8)
    labels = np.array([FAKE] * n + [REAL] * n)
    paths = np.array([f"img{i}" for i in range(2 * n)])
    return Dataset(np.concatenate([fake, real]), labels, paths)


@pytest.fixture(scope="module")
def detector() -> keras.Model:
    return sharpness_detector()


# --------------------------------------------------------------------------- loading


def test_flat_folder_any_size_resized_on_request(tmp_path: Path) -> None:
    for i in range(3):
        write_image(tmp_path / "FAKE" / f"f{i}.png", size=40, seed=i)
        write_image(tmp_path / "REAL" / f"r{i}.jpg", size=24, seed=10 + i)
    (tmp_path / "REAL" / "notes.txt").write_text("not an image")
    with pytest.warns(DatasetWarning, match="resized 6 image"):
        ds = load_labelled_folder(tmp_path, image_size=32)
    assert ds.images.shape == (6, 32, 32, 3) and ds.images.dtype == np.uint8
    assert ds.labels.tolist() == [FAKE] * 3 + [REAL] * 3
    assert Path(ds.paths[0]).name == "f0.png"
    with pytest.warns(DatasetWarning, match="resized 3 image"):
        native = load_labelled_folder(tmp_path)
    assert native.images.shape[1:3] in ((40, 40), (24, 24))


def test_cifake_layout_goes_through_load_cifake(make_cifake) -> None:
    root = make_cifake(n=3)
    pooled = load_labelled_folder(root)
    assert pooled.counts() == {"FAKE": 6, "REAL": 6}
    assert len(load_labelled_folder(root, "test").labels) == 6


def test_layout_errors_name_the_problem(tmp_path: Path) -> None:
    write_image(tmp_path / "FAKE" / "a.png")
    with pytest.raises(DatasetError, match="REAL"):
        load_labelled_folder(tmp_path)
    write_image(tmp_path / "REAL" / "b.png")
    with pytest.raises(DatasetError, match="split='test'"):
        load_labelled_folder(tmp_path, "test")
    with pytest.raises(DatasetError, match="not found"):
        load_labelled_folder(tmp_path / "missing")


def test_write_then_load_round_trip_is_lossless_for_png(tmp_path: Path) -> None:
    ds = noisy_vs_smooth(n=3)
    write_labelled_folder(ds, tmp_path)
    back = load_labelled_folder(tmp_path)
    assert np.array_equal(back.images, ds.images) and np.array_equal(back.labels, ds.labels)


def test_is_study_second_tells_karkis_dataset_from_the_others(tmp_path: Path, make_cifake,
                                                              monkeypatch: pytest.MonkeyPatch
                                                              ) -> None:
    from dflearn.data import load_cifake
    from dflearn.splits import make_splits
    from test_sources import karki_tree

    first = make_cifake(n=24)
    train, test = load_cifake(first, "train"), load_cifake(first, "test")
    splits = make_splits(train, test, n_train_per_class=10, n_test_per_class=4, seed=0)
    choice = sources.DatasetChoice(first, "practice", "embedded")
    monkeypatch.setenv("DFLEARN_OFFLINE", "1")
    karki = karki_tree(tmp_path / "k")
    monkeypatch.setenv(sources.SECOND_DATA_ENV, str(karki))
    found = sources.second_dataset(choice, train, splits, n_per_class=2)
    assert robustness.is_study_second(found)
    given = sources.second_dataset(choice, train, splits, karki, n_per_class=2)
    assert not robustness.is_study_second(given)  # a folder given may be anything
    stand_in = sources.second_dataset(choice, train, splits, search=False, n_per_class=10)
    assert not robustness.is_study_second(stand_in)  # names Karki's dataset, but is not it


def test_resize_and_fit_to_model(detector: keras.Model) -> None:
    images = noisy_vs_smooth(n=2).images
    assert resize_images(images, 16).shape == (4, 16, 16, 3)
    assert fit_to_model(detector, images) is images
    assert model_input_size(sharpness_detector(size=16)) == (16, 16)


# --------------------------------------------------------------------------- perturbations


def high_frequency(images: np.ndarray) -> float:
    grey = images.astype(float).mean(axis=-1)
    return float(np.abs(np.diff(grey, axis=1)).mean() + np.abs(np.diff(grey, axis=2)).mean())


@pytest.mark.parametrize("name", ["blur", "resize", "noise"])
def test_mildest_level_is_identity(name: str) -> None:
    images = noisy_vs_smooth(n=2).images
    mildest = robustness.PERTURBATIONS[name].levels[0]
    assert np.array_equal(robustness.perturb(images, name, mildest), images)


@pytest.mark.parametrize("name", ["blur", "resize", "jpeg"])
def test_stronger_levels_remove_more_detail(name: str) -> None:
    images = noisy_vs_smooth(n=4).images[:4]
    levels = robustness.PERTURBATIONS[name].levels
    energy = [high_frequency(robustness.perturb(images, name, level)) for level in levels]
    assert energy[-1] < 0.75 * energy[0]
    if name != "jpeg":  # JPEG's block artefacts add edges of their own at middle qualities
        assert all(b <= a * 1.01 for a, b in zip(energy, energy[1:]))


def test_noise_has_the_requested_spread_and_is_seeded() -> None:
    flat = np.full((4, 32, 32, 3), 128, np.uint8)
    noisy = robustness.noise(flat, 8.0, seed=1)
    assert noisy.std() == pytest.approx(8.0, rel=0.05)
    assert np.array_equal(noisy, robustness.noise(flat, 8.0, seed=1))
    assert not np.array_equal(noisy, robustness.noise(flat, 8.0, seed=2))


def test_bad_levels_and_names_raise() -> None:
    images = noisy_vs_smooth(n=1).images
    for name, level in (("jpeg", 0), ("jpeg", 101), ("blur", -1), ("resize", 0), ("resize", 1.5),
                        ("noise", -0.1)):
        with pytest.raises(ValueError, match=f"(?i){name if name != 'resize' else 'scale'}"):
            robustness.perturb(images, name, level)
    with pytest.raises(ValueError, match="Unknown perturbation 'rotate'"):
        robustness.perturb(images, "rotate", 1)
    with pytest.raises(ValueError, match="one image"):
        robustness.blur(images[0], 1.0)


# --------------------------------------------------------------------------- curves


def test_robustness_curves_one_row_per_level_and_model(detector: keras.Model) -> None:
    ds = noisy_vs_smooth(n=10)
    models = {"32 px": detector, "16 px": sharpness_detector(size=16, threshold=0.1)}
    levels = {"blur": (0.0, 2.0), "noise": (0.0, 4.0)}
    curves = robustness.robustness_curves(models, ds, ["blur", "noise"], levels)
    assert len(curves) == 2 * 2 * 2
    assert set(curves.columns) >= {"perturbation", "level", "model", "accuracy", "roc_auc",
                                   "clean_accuracy"}
    blur = curves[(curves["perturbation"] == "blur") & (curves["model"] == "32 px")]
    blur = blur.set_index("level")
    assert blur.loc[0.0, "accuracy"] == 1.0 == blur.loc[0.0, "clean_accuracy"]
    assert blur.loc[2.0, "accuracy"] <= 0.6  # blurred noise looks smooth: called REAL
    with pytest.raises(ValueError, match="Unknown perturbation"):
        robustness.robustness_curves(models, ds, ["rotate"])
    fig = robustness.plot_robustness(curves)
    assert [ax.get_title() for ax in fig.axes] == ["blur", "noise"]
    assert "sigma" in fig.axes[0].get_xlabel() and fig.axes[0].get_ylabel()


def test_evaluate_models_table(detector: keras.Model) -> None:
    ds = noisy_vs_smooth(n=5)
    table = evaluate_models({"d": detector}, {"a": ds, "b": ds.subset(np.arange(5))})
    assert list(table.index) == [("d", "a"), ("d", "b")]
    assert table.loc[("d", "a"), "accuracy"] == 1.0 and table.loc[("d", "b"), "images"] == 5


# --------------------------------------------------------------------------- Blur+JPEG


def test_blur_jpeg_off_or_not_training_is_identity() -> None:
    images = noisy_vs_smooth(n=2).images.astype("float32")
    assert np.array_equal(BlurJpeg(0, 0, seed=0)(images), images)
    assert np.array_equal(BlurJpeg(1, 1, seed=0)(images, training=False), images)


def test_blur_matches_the_numpy_perturbation_inside_the_image() -> None:
    images = noisy_vs_smooth(n=2).images
    layer = BlurJpeg(blur_prob=1, jpeg_prob=0, sigma_range=(1.0, 1.0), seed=0)
    got = keras.ops.convert_to_numpy(layer(images.astype("float32")))
    expected = ndimage.gaussian_filter(images.astype("float32"), (0, 1, 1, 0), mode="mirror",
                                       truncate=3.0)
    assert np.abs(got - np.rint(expected))[:, 3:-3, 3:-3].max() <= 1


def test_jpeg_step_is_tensorflow_jpeg() -> None:
    images = noisy_vs_smooth(n=2).images
    layer = BlurJpeg(blur_prob=0, jpeg_prob=1, quality_range=(40, 40), seed=0)
    got = keras.ops.convert_to_numpy(layer(images.astype("float32")))
    expected = np.stack([tf.image.adjust_jpeg_quality(image, 40).numpy() for image in images])
    assert np.array_equal(got, expected.astype("float32"))
    assert not np.array_equal(got, images)


def test_blur_jpeg_in_a_pipeline_is_seeded() -> None:
    """Deterministic as notebooks run it: after dflearn.setup's seeding (deterministic TF ops)."""
    ds = noisy_vs_smooth(n=8)

    def one_epoch() -> np.ndarray:
        seed_everything(3)
        pipeline = make_dataset(ds, 8, shuffle=True, seed=0, augment=BlurJpeg(seed=5))
        return np.concatenate([keras.ops.convert_to_numpy(x) for x, _ in pipeline])

    first, second = one_epoch(), one_epoch()
    assert np.array_equal(first, second)
    assert first.shape == ds.images.shape


def test_blur_jpeg_rejects_bad_settings_and_round_trips_its_config() -> None:
    for kwargs in ({"blur_prob": 1.5}, {"sigma_range": (2.0, 1.0)}, {"quality_range": (0, 50)}):
        with pytest.raises(ValueError):
            BlurJpeg(**kwargs)
    layer = BlurJpeg(0.3, 0.7, (0.0, 0.8), (50, 90), seed=1)
    clone = BlurJpeg.from_config(layer.get_config())
    assert (clone.blur_prob, clone.jpeg_prob, clone.sigma_range, clone.quality_range) == \
        (0.3, 0.7, (0.0, 0.8), (50, 90))


# --------------------------------------------------------------------------- leakage


def test_injected_leak_is_found_and_removed(detector: keras.Model) -> None:
    data = noisy_vs_smooth(n=12)
    train, test = data.subset(np.arange(0, 24, 2)), data.subset(np.arange(1, 24, 2))
    leaky = robustness.inject_leak(test, train, 4, seed=0)
    assert len(leaky.labels) == len(test.labels)
    assert len(set(pixel_hashes(leaky.images)) & set(pixel_hashes(train.images))) == 4
    table = robustness.leakage_table(detector, train, leaky)
    assert isinstance(table, pd.DataFrame)
    assert table["images"].tolist() == [12, 8]
    assert table["accuracy"].between(0, 1).all()
    with pytest.raises(ValueError, match="n must be"):
        robustness.inject_leak(test, train, 99)


def test_versus_study_puts_the_studys_drop_beside_ours(detector: keras.Model) -> None:
    ds = noisy_vs_smooth(n=6)
    blurred = Dataset(robustness.blur(ds.images, 2.0), ds.labels, ds.paths)  # FAKE looks REAL
    table = evaluate_models({"d": detector}, {"same": ds, "other": blurred})
    out = robustness.versus_study(table, "same", "other")
    study, ours = out.iloc[0], out.loc["ours: d"]
    same = study_value("study/personal_cnn/accuracy")  # the study's Fig. 1: 0.9696 and 0.8112
    second = study_value("study/personal_cnn_second/accuracy")
    assert study["same_source"] == pytest.approx(same) == 0.9696
    assert study["second_dataset"] == pytest.approx(second) == 0.8112
    assert study["drop_points"] == pytest.approx(15.84) and pd.isna(study["verdict"])
    assert ours["same_source"] == 1.0 and ours["second_dataset"] == pytest.approx(0.5)
    assert ours["drop_points"] == pytest.approx(50.0) and ours["verdict"] == "holds"
    with pytest.raises(ValueError, match="not in the table"):
        robustness.versus_study(table, "same", "missing")


def accuracy_table(same: tuple[float, int], other: tuple[float, int]) -> pd.DataFrame:
    """An :func:`evaluate_models`-shaped table of one model "m" on datasets "same" and "other"."""
    rows = [{"model": "m", "dataset": name, "images": n, "accuracy": acc}
            for name, (acc, n) in (("same", same), ("other", other))]
    return pd.DataFrame(rows).set_index(["model", "dataset"])


def test_findings_judge_the_drop_with_the_studys_rule() -> None:
    dropped = robustness.generalisation_findings(accuracy_table((0.95, 200), (0.70, 200)), "m",
                                                 "same", "other", study_second=False)
    assert [v.verdict for v in dropped] == ["holds"]  # intervals [0.91, 0.97] vs [0.63, 0.76]
    assert "0.9696" in dropped[0].seed_number and "0.8112" in dropped[0].seed_number
    assert "n=200" in dropped[0].text
    close = robustness.drop_verdict(accuracy_table((0.80, 50), (0.78, 50)), "m", "same", "other")
    assert close.verdict == "inconclusive"  # a 2-point gap on 50 images is noise
    risen = robustness.drop_verdict(accuracy_table((0.60, 500), (0.90, 500)), "m", "same", "other")
    assert risen.verdict == "refuted"
    with pytest.raises(ValueError, match="not in the table"):
        robustness.drop_verdict(accuracy_table((0.6, 5), (0.5, 5)), "m", "same", "missing")


def test_the_studys_81_percent_is_judged_only_on_karkis_dataset() -> None:
    near = accuracy_table((0.97, 5000), (0.81, 5000))
    both = robustness.generalisation_findings(near, "m", "same", "other", study_second=True)
    assert [v.verdict for v in both] == ["holds", "holds"]  # 0.8112 inside [0.799, 0.821]
    assert both[1].numbers["reported"] == 0.8112
    assert robustness.KARKI_ROW in both[1].finding
    far = accuracy_table((0.97, 5000), (0.60, 5000))
    assert robustness.generalisation_findings(far, "m", "same", "other",
                                              study_second=True)[1].verdict == "refuted"
    assert len(robustness.generalisation_findings(far, "m", "same", "other",
                                                  study_second=False)) == 1
