"""dflearn.ensembles: the ensemble project's recipe, averaging and voting, stacking, EnsembleCNN
and the tables and findings that judge them; and the core pieces notebook 06 uses: the base CNNs
(dflearn.models, after the project's layer tables), its Keras layers and loss (dflearn.layers),
label smoothing in dflearn.training.fit and the saved-model lookup of dflearn.artifacts."""

from __future__ import annotations

import dataclasses

import keras
import numpy as np
import pandas as pd
import pytest
from keras import layers

from dflearn import artifacts, ensembles as E, models, study, training
from dflearn.data import Dataset
from dflearn.images import fit_to_model
from dflearn.layers import ConfidenceBlend, SmoothedSparseCrossentropy, TwoClassProbabilities
from dflearn.models import ModelConfigError


def tiny(head: str, size: int = 16, name: str = "tiny") -> keras.Model:
    """A small untrained classifier of 0-255 images."""
    inputs = keras.Input((size, size, 3))
    x = layers.GlobalAveragePooling2D()(layers.Conv2D(3, 3, activation="relu")(layers.Rescaling(1 / 255)(inputs)))
    units, activation = (1, "sigmoid") if head == "sigmoid" else (2, "softmax")
    return keras.Model(inputs, layers.Dense(units, activation=activation)(x), name=name)


@pytest.fixture(scope="module")
def images() -> np.ndarray:
    return np.random.default_rng(0).integers(0, 256, size=(12, 16, 16, 3)).astype("uint8")


@pytest.mark.parametrize("builder", [models.three_cnn, models.skipcon_cnn])
@pytest.mark.parametrize("head, units", [("softmax", 2), ("sigmoid", 1)])
def test_base_models_build_for_both_heads(builder, head: str, units: int, images: np.ndarray) -> None:
    model = builder(width=0.125, input_size=16, head=head)
    assert model.output_shape == (None, units)
    assert model(images.astype("float32")).shape == (12, units)
    assert isinstance(model.layers[0], keras.layers.InputLayer)


def test_skipcon_has_one_residual_block_and_widths_scale() -> None:
    model = models.skipcon_cnn(width=0.25)
    adds = [layer for layer in model.layers if isinstance(layer, layers.Add)]
    assert len(adds) == 1
    assert [model.get_layer(n).filters for n in ("stem_conv1", "stem_conv2", "res1_conv1",
                                                  "res1_conv2", "res1_project", "conv")] == \
        [32, 64, 128, 128, 128, 128]
    assert model.get_layer("adaptive_pool").output.shape[1:3] == (6, 6)
    three = models.three_cnn(width=0.5)
    assert [three.get_layer(f"conv{b}").filters for b in (1, 2, 3)] == [32, 64, 96]
    assert isinstance(three.get_layer("dropout2d"), layers.SpatialDropout2D)
    assert three.get_layer("adaptive_pool").output.shape[1:3] == (4, 4)
    assert three.get_layer("conv3_relu").output.shape[1:3] == (8, 8)  # the ResNet50 stand-in's cut
    with pytest.raises(ModelConfigError, match="width must be a positive"):
        models.three_cnn(width=0)
    with pytest.raises(ModelConfigError, match="dilation a positive"):
        models.three_cnn(dilation=0)
    assert dict(models.BASE_MODELS) == {"ThreeCNN": models.three_cnn,
                                        "SkipConCNN": models.skipcon_cnn}


def test_base_models_follow_the_project_tables() -> None:
    """At full width, the trainable parameters without the output layer equal the project's
    totals without its 5-class output layer; on 100x100 images with an unpadded third
    convolution ThreeCNN has the table's shapes."""
    table = E.architecture_table({name: build() for name, build in models.BASE_MODELS.items()})
    np.testing.assert_array_equal(table["ours: trainable without output layer"],
                                  table["project: without its 5-class output layer"])
    assert table.loc["ThreeCNN", "project: total"] == study.value("ensemble/three_cnn/parameters")
    seed_shapes = models.three_cnn(input_size=100, last_padding="valid")
    assert [seed_shapes.get_layer(n).output.shape[1] for n in ("conv3", "pool3", "adaptive_pool")] == \
        [23, 11, 4]
    dilated = models.three_cnn(width=0.125, dilation=2)
    assert dilated.get_layer("conv3").dilation_rate == (2, 2)
    assert dilated.count_params() == models.three_cnn(width=0.125).count_params()
    layer_rows = E.layer_table(models.three_cnn(width=0.125))
    assert layer_rows["parameters"].sum() == models.three_cnn(width=0.125).count_params()
    assert layer_rows.iloc[-1]["layer"] == "softmax"


def test_project_recipes_follow_the_seed_table() -> None:
    three, skip, ens = (E.PROJECT_RECIPES[k] for k in ("ThreeCNN", "SkipConCNN", "EnsembleCNN"))
    assert (three.plateau_patience, three.plateau_factor) == E.KEPT_PLATEAU == (15, 0.8)
    assert (skip.plateau_patience, skip.plateau_factor) == E.UNSTABLE_PLATEAU == (5, 0.5)
    assert [r.batch_size for r in (skip, three, ens)] == [8, 16, 4]
    assert ens.label_smoothing == 0.1 and three.label_smoothing == 0.0
    full = E.project_fit_options("ThreeCNN")
    assert full["epochs"] == 200 and full["batch_size"] == 16 and full["patience"] == 15
    assert full["schedule_options"] == {"mode": "max", "monitor": "val_accuracy", "patience": 15,
                                        "factor": 0.8}
    short = E.project_fit_options("ThreeCNN", epochs=3, batch_size=32, patience_scale=0.2,
                                  early_stopping=False, plateau=E.UNSTABLE_PLATEAU)
    assert (short["epochs"], short["batch_size"], short["patience"]) == (3, 32, 0)
    assert short["schedule_options"]["patience"] == 1 and short["schedule_options"]["factor"] == 0.5
    with pytest.raises(E.EnsembleError, match="No project recipe"):
        E.project_fit_options("VGG")
    assert E.project_augmentation("none") is None
    geometric = E.project_augmentation("geometric")
    assert [type(l).__name__ for l in geometric.layers] == ["RandomFlip", "RandomRotation"]
    assert "RandomBrightness" in [type(l).__name__ for l in
                                  E.project_augmentation("geometric + photometric").layers]
    with pytest.raises(E.EnsembleError, match="Unknown augmentation"):
        E.project_augmentation("colour")


def test_train_project_model_uses_the_recipe(images: np.ndarray) -> None:
    data = Dataset(images, np.arange(12) % 2, np.array([f"{i}.jpg" for i in range(12)]))
    splits = type("S", (), {"train": data, "val": data})()
    model, result = E.train_project_model("ThreeCNN (dilated)", splits, width=0.125, input_size=16,
                                          seed=0, epochs=2, batch_size=6, patience_scale=0.2,
                                          plateau=(5, 0.5))
    assert model.get_layer("conv3").dilation_rate == (2, 2)
    assert result.epochs_run == 2 and "val_accuracy" in result.history
    assert result.settings["learning_rate"] == 5e-4 and result.settings["weight_decay"] == 1e-4
    assert result.settings["schedule_options"]["factor"] == 0.5
    assert result.settings["time_budget"] is None
    _, timed = E.train_project_model("ThreeCNN", splits, width=0.125, input_size=16, seed=0,
                                     epochs=2, batch_size=6, time_budget=30)
    assert timed.settings["time_budget"] == 30  # the profile's fit_budget reaches training.fit
    with pytest.raises(E.EnsembleError, match="Unknown model"):
        E.train_project_model("VGG", splits, width=1, input_size=16, seed=0, epochs=1)


def test_curve_stability() -> None:
    steady = {"val_accuracy": [0.6, 0.7, 0.72, 0.72, 0.72], "learning_rate": [1e-3] * 5}
    jumpy = {"val_accuracy": [0.6, 0.75, 0.6, 0.75, 0.6], "learning_rate": [1e-3, 1e-3, 5e-4, 5e-4, 2.5e-4]}
    table = E.curve_stability({"steady": steady, "jumpy": jumpy}, last=3)
    assert table.loc["steady", "std_last_3"] == pytest.approx(0.0)
    assert table.loc["jumpy", "std_last_3"] > 0.05
    assert table.loc["jumpy", "lr_cuts"] == 2 and table.loc["steady", "lr_cuts"] == 0
    assert table.loc["jumpy", "best_val_accuracy"] == 0.75
    assert table.loc["steady", "mean_abs_change"] == pytest.approx(0.03)
    with pytest.raises(E.EnsembleError, match="no val_accuracy"):
        E.curve_stability({"x": {"loss": [1.0]}})


def test_average_and_vote() -> None:
    p = np.array([[0.9, 0.8, 0.1], [0.2, 0.6, 0.7], [0.1, 0.2, 0.3]])
    np.testing.assert_allclose(E.average(p), [0.6, 0.5, 0.2])
    np.testing.assert_allclose(E.average(p, weights=[1, 0, 0]), p[:, 0])
    np.testing.assert_allclose(E.majority_vote(p), [2 / 3, 2 / 3, 0.0])
    tie = np.array([[0.9, 0.3], [0.6, 0.1]])  # one vote each; the mean decides
    assert (E.majority_vote(tie) >= 0.5).tolist() == [True, False]
    with pytest.raises(E.EnsembleError, match="probabilities in \\[0, 1\\]"):
        E.average(np.array([[1.2, 0.3]]))
    with pytest.raises(E.EnsembleError, match="Need 3 non-negative weights"):
        E.average(p, weights=[1, 1])


def test_stacking_trusts_the_informative_model() -> None:
    rng = np.random.default_rng(0)
    labels = rng.integers(0, 2, 400)
    good = np.clip(0.5 + (labels - 0.5) * 0.6 + rng.normal(0, 0.1, 400), 0.01, 0.99)
    noise = rng.uniform(0.01, 0.99, 400)
    p = pd.DataFrame({"good": good, "noise": noise})
    with pytest.raises(E.EnsembleError, match="Call Stacking.fit"):
        E.Stacking().predict_real(p)
    stack = E.Stacking().fit(p, labels)
    weights = stack.coefficients()
    assert list(weights.index) == ["good", "noise", "intercept"]
    assert weights["good"] > 1 and abs(weights["noise"]) < 0.3
    assert np.mean((stack.predict_real(p) >= 0.5) == labels) > 0.9
    with pytest.raises(E.EnsembleError, match="both classes"):
        E.Stacking().fit(p, np.ones(400))


def test_two_class_and_confidence_blend() -> None:
    p = np.array([[0.2], [0.9]], dtype="float32")
    np.testing.assert_allclose(TwoClassProbabilities()(p), [[0.8, 0.2], [0.1, 0.9]], rtol=1e-6)
    both = np.array([[0.3, 0.7]], dtype="float32")
    np.testing.assert_allclose(TwoClassProbabilities()(both), both)
    blend = ConfidenceBlend()
    confident, unsure = np.array([[0.05, 0.95]], "float32"), np.array([[0.6, 0.4]], "float32")
    out = keras.ops.convert_to_numpy(blend([confident, unsure]))
    assert out.sum() == pytest.approx(1.0)
    assert float(blend.gate([confident, unsure])[0, 0]) > 0.5 > float(blend.gate([unsure, confident])[0, 0])
    np.testing.assert_allclose(E.two_class(np.array([[0.2, 0.9]])), [[0.8, 0.2, 0.1, 0.9]], rtol=1e-6)


def test_ensemble_cnn_mixes_heads_and_sizes_and_round_trips(images: np.ndarray, tmp_path) -> None:
    keras.utils.set_random_seed(0)
    bases = [tiny("sigmoid", name="a"), tiny("softmax", name="a"), tiny("softmax", size=8, name="c")]
    p = E.probabilities(bases, images)
    assert list(p.columns) == ["a", "a_2", "c"] and p.shape == (12, 3)
    assert fit_to_model(bases[2], images).shape == (12, 8, 8, 3)  # the 8x8 base sees resized images
    np.testing.assert_allclose(p["c"], models.real_probability(bases[2], fit_to_model(bases[2], images)),
                               rtol=1e-6)
    ensemble = E.ensemble_cnn(bases, hidden=4)
    assert ensemble.output_shape == (None, 2)
    trainable = {w.path.split("/")[0] for w in ensemble.trainable_weights}
    assert trainable == {"weighting_hidden", "model_weights", "meta_hidden", "meta_classifier", "blend"}
    out = keras.ops.convert_to_numpy(ensemble(images.astype("float32")))
    np.testing.assert_allclose(out.sum(axis=1), 1.0, rtol=1e-5)
    parts = E.combiner_parts(ensemble, p)
    np.testing.assert_allclose(parts["P(REAL) final"], out[:, 1], rtol=1e-4, atol=1e-6)
    np.testing.assert_allclose(parts.filter(like="weight ").sum(axis=1), 1.0, rtol=1e-5)
    path = tmp_path / "ensemble.keras"
    ensemble.save(path)
    loaded = keras.models.load_model(path)
    np.testing.assert_allclose(loaded(images.astype("float32")), out, rtol=1e-5)


def test_fit_combiner_learns_from_predictions() -> None:
    rng = np.random.default_rng(1)
    labels = rng.integers(0, 2, 300)
    p = np.stack([np.where(labels == 1, 0.8, 0.2), rng.uniform(0, 1, 300)], axis=1)
    ensemble = E.ensemble_cnn([tiny("sigmoid", name="a"), tiny("softmax", name="b")], hidden=4)
    scores = E.fit_combiner(ensemble, p, labels, epochs=8, batch_size=50, learning_rate=0.05,
                            weight_decay=1e-4, label_smoothing=0.1)
    assert isinstance(ensemble.get_layer("combiner").loss, SmoothedSparseCrossentropy)
    assert scores["accuracy_after"] > 0.95
    assert scores["loss_after"] < scores["loss_before"]
    with pytest.raises(E.EnsembleError, match="epochs and batch_size"):
        E.fit_combiner(ensemble, p, labels, epochs=0)
    with pytest.raises(E.EnsembleError, match="combines 2 models but p_real has 1"):
        E.fit_combiner(ensemble, p[:, :1], labels)


def test_smoothed_losses() -> None:
    y_true = np.array([0, 1, 1])
    y_pred = np.array([[0.7, 0.3], [0.4, 0.6], [0.1, 0.9]], dtype="float32")
    ours = SmoothedSparseCrossentropy(0.2)(y_true, y_pred)
    reference = keras.losses.CategoricalCrossentropy(label_smoothing=0.2)(np.eye(2)[y_true], y_pred)
    assert float(ours) == pytest.approx(float(reference), rel=1e-5)
    assert float(SmoothedSparseCrossentropy(0.0)(y_true, y_pred)) < float(ours)
    sigmoid = models.loss_for(tiny("sigmoid"), 0.1)
    assert isinstance(sigmoid, keras.losses.BinaryCrossentropy)
    assert isinstance(models.loss_for(tiny("softmax"), 0.1), SmoothedSparseCrossentropy)
    with pytest.raises(ModelConfigError, match="label_smoothing must be in"):
        models.loss_for(tiny("softmax"), 1.0)


def test_train_model_with_label_smoothing(images: np.ndarray) -> None:
    data = Dataset(images, np.arange(12) % 2, np.array([f"{i}.jpg" for i in range(12)]))
    model = tiny("softmax")
    result = training.fit(model, data, None, label_smoothing=0.1, epochs=1, batch_size=6, patience=0,
                          schedule=None)
    assert result.epochs_run == 1 and np.isfinite(result.history["loss"][0])
    assert isinstance(model.loss, SmoothedSparseCrossentropy)


def test_error_changes_and_agreement() -> None:
    labels = np.array([1, 1, 0, 0, 1, 0])
    a = np.array([0.9, 0.2, 0.1, 0.7, 0.8, 0.3])   # wrong on 1 and 3
    b = np.array([0.4, 0.8, 0.2, 0.9, 0.7, 0.6])   # wrong on 0, 3 and 5
    ens = np.array([0.6, 0.7, 0.3, 0.8, 0.4, 0.4])  # wrong on 3 and 4
    table = E.error_changes(labels, {"a": a, "b": b}, ens)
    assert table.loc["a"].to_dict() | {"mcnemar_p": 0} == {
        "base_errors": 2, "ensemble_errors": 2, "fixed": 1, "broken": 1, "net": 0, "mcnemar_p": 0}
    assert table.loc["b", ["fixed", "broken", "net"]].tolist() == [2, 1, 1]
    assert table.loc["a", "mcnemar_p"] == pytest.approx(1.0)
    assert E.mcnemar_p(10, 0) == pytest.approx(2 * 0.5 ** 10)
    agreement = E.agreement_table(labels, {"a": a, "b": b}, ens)
    assert int(agreement.to_numpy().sum()) == 6
    assert agreement.loc[(False, False), False] == 1  # image 3: everyone wrong
    assert E.changed_examples(labels, b, ens, "fixed").tolist() == [0, 5]
    assert E.changed_examples(labels, a, ens, "broke").tolist() == [4]
    assert E.example_titles(labels, a, ens, np.array([4])) == ["REAL: 0.80->0.40"]
    with pytest.raises(E.EnsembleError, match="'fixed' or 'broke'"):
        E.changed_examples(labels, a, ens, "both")


def test_ensemble_table_has_intervals_and_project_table_keeps_reported_numbers() -> None:
    labels = np.array([1, 0, 1, 0])
    table = E.ensemble_table({"EnsembleCNN": np.array([0.9, 0.1, 0.8, 0.6]),
                              "ThreeCNN": np.array([0.9, 0.1, 0.8, 0.2])}, labels)
    assert list(table.index) == ["ThreeCNN", "EnsembleCNN"]
    assert "reported_accuracy" not in table
    assert table.loc["EnsembleCNN", "accuracy"] == 0.75
    assert (table.loc["EnsembleCNN", "accuracy_low"], table.loc["EnsembleCNN", "accuracy_high"]) == \
        pytest.approx(study.accuracy_interval(0.75, 4))
    with pytest.raises(E.EnsembleError, match="'x' has"):
        E.ensemble_table({"x": np.array([0.5])}, labels)
    context = E.project_table({"EnsembleCNN": (0.8, 100), "ThreeCNN (dilated)": (0.7, 100),
                               "Stacking": (0.75, 100)})
    assert context.loc["EnsembleCNN", "project (5-class)"] == study.value("ensemble/ensemble_cnn/accuracy")
    assert context.loc["ThreeCNN (dilated)", "project (5-class)"] == pytest.approx(0.9303)
    assert np.isnan(context.loc["Stacking", "project (5-class)"])
    assert context.loc["EnsembleCNN", "ours_low"] == pytest.approx(study.accuracy_interval(0.8, 100)[0])


def test_compare_variants() -> None:
    labels = np.array([1, 1, 0, 0])
    outcomes = {("base", 0): [0.9, 0.8, 0.1, 0.2], ("base", 1): [0.9, 0.8, 0.1, 0.7],
                ("smooth", 0): [0.9, 0.3, 0.1, 0.7], ("smooth", 1): [0.4, 0.3, 0.1, 0.7]}
    table = E.compare_variants(lambda v, s: np.array(outcomes[(v, s)]), ["base", "smooth"], labels,
                               seeds=[0, 1])
    assert table.loc["base", "accuracy"] == pytest.approx(0.875)
    assert table.loc["smooth", "accuracy"] == pytest.approx(0.375)
    assert table.loc["smooth", "difference"] == pytest.approx(-0.5)
    assert table.loc["smooth", ["fixed", "broken"]].tolist() == [0, 4]
    assert table.loc["base", "accuracy_low"] == pytest.approx(study.accuracy_interval(0.875, 4)[0])
    with pytest.raises(E.EnsembleError, match="baseline 'none'"):
        E.compare_variants(lambda v, s: labels, ["a"], labels, baseline="none")


def test_findings_judge_only_our_models() -> None:
    labels = np.array([1, 0] * 500)
    good = np.where(labels == 1, 0.9, 0.1)

    def with_errors(k: int) -> np.ndarray:
        p = good.copy()
        p[:k] = 1 - p[:k]
        return p

    table = E.ensemble_table({"EnsembleCNN": with_errors(20), "ThreeCNN": with_errors(300),
                              "SkipConCNN": with_errors(150)}, labels)
    augmentation = pd.DataFrame({"accuracy": [0.6, 0.9, 0.88]}, index=list(E.AUGMENTATIONS))
    plateau = {f"plateau {E.KEPT_PLATEAU}": (0.7, 1000), f"plateau {E.UNSTABLE_PLATEAU}": (0.9, 1000)}
    result = E.findings(table, len(labels), augmentation=augmentation, plateau=plateau)
    assert list(result.columns) == list(study.FINDINGS_COLUMNS)
    verdicts = dict(zip(result["finding"], result["verdict"]))
    assert verdicts == {"EnsembleCNN beats its best base model (SkipConCNN here)": "holds",
                        "SkipConCNN (residual connections) beats ThreeCNN": "holds",
                        "geometric augmentation improves accuracy": "holds",
                        "photometric augmentation degrades accuracy": "inconclusive",
                        "ThreeCNN: plateau (15, 0.8) beats (5, 0.5)": "refuted"}
    assert "0.9344" in result.loc[0, "seed_number"]  # the project's number, as context only
    assert not any("accuracy" in f and "project" in f for f in result["finding"])
    only_bases = E.findings(table, len(labels))
    assert len(only_bases) == 2
    two_variants = E.findings(table, len(labels), augmentation=augmentation.drop(index="none"))
    assert list(two_variants["finding"])[-1] == "photometric augmentation degrades accuracy"
    assert len(two_variants) == 3
    with pytest.raises(E.EnsembleError, match="'EnsembleCNN' is not in the table"):
        E.findings(table.drop(index="EnsembleCNN"), len(labels))
    with pytest.raises(E.EnsembleError, match="number of test images"):
        E.findings(table, 0)


def test_saved_models_are_found_and_loaded(tmp_path, monkeypatch, images: np.ndarray) -> None:
    """Models saved by other notebooks (dflearn.artifacts.save_model) are found by prefix and
    combine like models trained here, whatever their head."""
    import dflearn

    monkeypatch.setenv("DFLEARN_ARTIFACTS", str(tmp_path))
    session = dflearn.setup("ci", notebook="06", tensorflow=False)
    assert artifacts.saved_models(session, "04_") == [] and artifacts.pick_saved(session, "04_") is None
    keras.utils.set_random_seed(0)
    grid = models.three_cnn(width=0.125, input_size=16, head="sigmoid")
    for name in ("05_grid_best", "04_vgg16", "04_resnet50", "04_personal_cnn_second"):
        artifacts.save_model(session, grid if name.startswith("05") else tiny("softmax", name=name), name)
    assert artifacts.saved_models(session, "04_") == ["04_personal_cnn_second", "04_resnet50", "04_vgg16"]
    assert artifacts.pick_saved(session, "04_", prefer=("resnet50",), exclude=("personal",)) == "04_resnet50"
    assert artifacts.pick_saved(session, "04_", prefer=("densenet",), exclude=("personal",)) == "04_resnet50"
    assert artifacts.pick_saved(session, "04_", exclude=("personal", "resnet", "vgg")) is None

    def never() -> keras.Model:
        raise AssertionError("a saved model must be loaded, not trained")

    loaded, how = artifacts.load_or_train(session, "05_grid_best", never, save=False)
    assert how.startswith("loaded 05_grid_best")
    np.testing.assert_allclose(E.probabilities([loaded], images)["three_cnn"],
                               E.probabilities([grid], images)["three_cnn"], rtol=1e-5)
    mixed = [loaded, tiny("softmax", name="other")]
    ensemble = E.ensemble_cnn(mixed, hidden=4)
    assert ensemble(images.astype("float32")).shape == (12, 2)


def test_project_recipes_come_from_study() -> None:
    """Every hyperparameter of the project's training table is the one dflearn.study holds."""
    from dflearn import study
    keys = {"SkipConCNN": "skip_con_cnn", "ThreeCNN": "three_cnn", "EnsembleCNN": "ensemble_cnn"}
    for name, recipe in E.PROJECT_RECIPES.items():
        for field_name, value in dataclasses.asdict(recipe).items():
            assert value == study.value(f"ensemble/{keys[name]}/{field_name}"), (name, field_name)
    assert E.UNSTABLE_PLATEAU == (5, 0.5) and E.KEPT_PLATEAU == (15, 0.8)
