"""dflearn.saliency and dflearn.saliency_explorer: the four methods on functional, Sequential
and nested models, the measurements, the study's example figure and the explorer."""

from __future__ import annotations

import keras
import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
import pytest
from keras import layers

from dflearn import saliency as S
from dflearn.data import Dataset
from dflearn.saliency_explorer import SaliencyExplorer

SIZE = 16


def _conv_stack(x: keras.KerasTensor, prefix: str) -> keras.KerasTensor:
    x = layers.Conv2D(4, 3, padding="same", activation="relu", name=f"{prefix}conv1")(x)
    x = layers.MaxPooling2D(2, name=f"{prefix}pool")(x)
    return layers.Conv2D(6, 3, padding="same", activation="relu", name=f"{prefix}conv2")(x)


def functional(head: str = "softmax", size: int = SIZE) -> keras.Model:
    inputs = keras.Input((size, size, 3), name="image")
    x = layers.Rescaling(1 / 255)(inputs)
    x = layers.GlobalAveragePooling2D(name="gap")(_conv_stack(x, ""))
    units, activation = (2, "softmax") if head == "softmax" else (1, "sigmoid")
    return keras.Model(inputs, layers.Dense(units, activation=activation, name=head)(x), name="flat")


def sequential() -> keras.Model:
    return keras.Sequential([keras.Input((SIZE, SIZE, 3)), layers.Rescaling(1 / 255),
                             layers.Conv2D(4, 3, padding="same", activation="relu", name="c1"),
                             layers.Conv2D(5, 3, padding="same", activation="relu", name="c2"),
                             layers.GlobalAveragePooling2D(), layers.Dense(1, activation="sigmoid")],
                            name="seq")


def backbone() -> keras.Model:
    inputs = keras.Input((SIZE, SIZE, 3))
    return keras.Model(inputs, _conv_stack(inputs, "bb_"), name="backbone")


def nested() -> keras.Model:
    """A transfer-learning shape: preprocessing, a backbone sub-model, pooling and a head."""
    inner = backbone()
    inputs = keras.Input((SIZE, SIZE, 3), name="image")
    x = inner(layers.Rescaling(1 / 127.5, offset=-1)(inputs), training=False)
    x = layers.GlobalAveragePooling2D(name="gap")(x)
    return keras.Model(inputs, layers.Dense(2, activation="softmax", name="softmax")(x), name="nested")


@pytest.fixture(scope="module")
def images() -> np.ndarray:
    return np.random.default_rng(0).integers(0, 256, size=(6, SIZE, SIZE, 3)).astype("uint8")


@pytest.fixture(scope="module")
def models() -> dict[str, keras.Model]:
    keras.utils.set_random_seed(1)
    return {"functional": functional(), "sigmoid": functional("sigmoid"), "sequential": sequential(),
            "nested": nested()}


def test_find_last_conv_everywhere(models: dict[str, keras.Model]) -> None:
    assert S.find_last_conv(models["functional"]) == ("conv2",)
    assert S.find_last_conv(models["sequential"]) == ("c2",)
    assert S.find_last_conv(models["nested"]) == ("backbone", "bb_conv2")
    wrapped = keras.Sequential([keras.Input((SIZE, SIZE, 3)), backbone(),
                                layers.GlobalAveragePooling2D(), layers.Dense(1, activation="sigmoid")])
    assert S.find_last_conv(wrapped) == ("backbone", "bb_conv2")
    assert S.explainer(wrapped).grad_cam(np.ones((2, SIZE, SIZE, 3))).shape == (2, SIZE, SIZE)
    seq_backbone = keras.Sequential([keras.Input((SIZE, SIZE, 3)),
                                     layers.Conv2D(3, 3, padding="same", name="only_conv")],
                                    name="seq_backbone")
    inputs = keras.Input((SIZE, SIZE, 3))
    pooled = layers.GlobalAveragePooling2D()(seq_backbone(inputs))
    outer = keras.Model(inputs, layers.Dense(2, activation="softmax")(pooled))
    assert S.Explainer(outer).layer_name == "seq_backbone/only_conv"
    assert S.explainer(outer).grad_cam(np.ones((2, SIZE, SIZE, 3))).shape == (2, SIZE, SIZE)
    dense = keras.Sequential([keras.Input((SIZE, SIZE, 3)), layers.Flatten(),
                              layers.Dense(1, activation="sigmoid")], name="mlp")
    with pytest.raises(S.SaliencyError, match="'mlp' has no Conv2D"):
        S.find_last_conv(dense)
    assert S.Explainer(dense).layer_path is None  # the other methods still work
    with pytest.raises(S.SaliencyError, match="no convolution for Grad-CAM"):
        S.explainer(dense).grad_cam(np.zeros((1, SIZE, SIZE, 3)))


def test_bad_layer_names_are_explained(models: dict[str, keras.Model]) -> None:
    with pytest.raises(S.SaliencyError, match="No layer 'nope' in 'backbone'"):
        S.Explainer(models["nested"], "backbone/nope")
    with pytest.raises(S.SaliencyError, match="'gap' is not a model"):
        S.Explainer(models["nested"], "gap/conv")


@pytest.mark.parametrize("name", ["functional", "sigmoid", "sequential", "nested"])
def test_every_method_gives_one_map_per_image(models: dict[str, keras.Model], images: np.ndarray,
                                              name: str) -> None:
    ex = S.explainer(models[name])
    assert S.explainer(models[name]) is ex  # built once, reused
    p_model = np.asarray(models[name].predict(images.astype("float32"), verbose=0))
    np.testing.assert_allclose(ex.predict_real(images), p_model[:, -1], rtol=1e-5, atol=1e-6)
    options = {"smoothgrad": {"samples": 2}, "integrated_gradients": {"steps": 4}}
    for method in S.METHODS:
        maps = ex.saliency(method, images, **options.get(method, {}))
        assert maps.shape == (len(images), SIZE, SIZE), method
        assert np.all(maps >= 0) and np.isfinite(maps).all(), method
        assert maps.reshape(len(images), -1).std(axis=1).max() > 0, method


def test_score_is_the_log_odds_for_both_heads(models: dict[str, keras.Model], images: np.ndarray) -> None:
    for name in ("functional", "sigmoid", "sequential"):
        ex = S.explainer(models[name])
        p = np.clip(ex.predict_real(images), 1e-7, 1 - 1e-7)
        log_odds = np.log(p / (1 - p))
        np.testing.assert_allclose(ex.scores(images, target=1), log_odds, rtol=1e-3, atol=1e-4)
        np.testing.assert_allclose(ex.scores(images, target=0), -log_odds, rtol=1e-3, atol=1e-4)
        predicted = (p >= 0.5).astype(int)
        np.testing.assert_allclose(ex.scores(images), np.where(predicted == 1, log_odds, -log_odds),
                                   rtol=1e-3, atol=1e-4)


def test_gradients_match_finite_differences(models: dict[str, keras.Model], images: np.ndarray) -> None:
    ex = S.explainer(models["sigmoid"])
    x = images[:1].astype("float64")
    grad = ex.input_gradients(x, 1)[0]
    for (r, c, ch) in [(3, 4, 0), (8, 8, 1), (12, 2, 2)]:
        step = np.zeros_like(x)
        step[0, r, c, ch] = 2.0
        numeric = (ex.scores(x + step, 1)[0] - ex.scores(x - step, 1)[0]) / 4.0
        assert grad[r, c, ch] == pytest.approx(numeric, rel=0.05, abs=2e-5)
    np.testing.assert_allclose(ex.gradients(x, 1)[0], np.abs(grad).max(-1), rtol=1e-6)


def test_smoothgrad_without_noise_is_vanilla(models: dict[str, keras.Model], images: np.ndarray) -> None:
    ex = S.explainer(models["functional"])
    np.testing.assert_allclose(ex.smoothgrad(images, samples=2, noise=0.0), ex.gradients(images),
                               rtol=1e-5, atol=1e-9)
    noisy = ex.smoothgrad(images, samples=2, noise=0.2, seed=3)
    assert not np.allclose(noisy, ex.gradients(images))
    np.testing.assert_allclose(noisy, ex.smoothgrad(images, samples=2, noise=0.2, seed=3))


@pytest.mark.parametrize("name", ["functional", "nested"])
def test_integrated_gradients_are_complete(models: dict[str, keras.Model], images: np.ndarray,
                                           name: str) -> None:
    ex = S.explainer(models[name])
    targets = ex.targets(images)
    attributions = ex.attributions(images, targets, steps=64)
    expected = ex.scores(images, targets) - ex.scores(np.zeros_like(images), targets)
    np.testing.assert_allclose(attributions.sum(axis=(1, 2, 3)), expected, rtol=0.05, atol=1e-3)


def test_grad_cam_inside_a_backbone_matches_a_manual_computation(models: dict[str, keras.Model],
                                                                images: np.ndarray) -> None:
    import tensorflow as tf

    model = models["nested"]
    inner = model.get_layer("backbone")
    head = model.get_layer("softmax")
    features = keras.Model(inner.inputs, inner.get_layer("bb_conv2").output)
    x = tf.constant(images.astype("float32") / 127.5 - 1)
    with tf.GradientTape() as tape:
        fmap = features(x)
        tape.watch(fmap)
        logits = tf.matmul(tf.reduce_mean(fmap, axis=(1, 2)), head.kernel) + head.bias
        score = logits[:, 1] - logits[:, 0]  # explain REAL for every image
    weights = tf.reduce_mean(tape.gradient(score, fmap), axis=(1, 2), keepdims=True)
    cam = tf.nn.relu(tf.reduce_sum(weights * fmap, axis=-1, keepdims=True))
    expected = tf.image.resize(cam, (SIZE, SIZE), method="bilinear")[..., 0].numpy()
    np.testing.assert_allclose(S.explainer(model).grad_cam(images, target=1), expected,
                               rtol=1e-4, atol=1e-7)


def test_images_are_resized_to_the_model_input(models: dict[str, keras.Model]) -> None:
    big = np.random.default_rng(1).integers(0, 256, size=(2, 2 * SIZE, 2 * SIZE, 3))
    assert S.explainer(models["functional"]).gradients(big).shape == (2, SIZE, SIZE)


def test_bad_inputs_are_named(models: dict[str, keras.Model], images: np.ndarray) -> None:
    ex = S.explainer(models["functional"])
    with pytest.raises(S.SaliencyError, match="shape \\(N, H, W, 3\\)"):
        ex.gradients(np.zeros((2, SIZE, SIZE)))
    with pytest.raises(S.SaliencyError, match="Unknown saliency method 'lime'"):
        ex.saliency("lime", images)
    with pytest.raises(S.SaliencyError, match="target classes must be 0 \\(FAKE\\) or 1"):
        ex.gradients(images, target=2)
    with pytest.raises(S.SaliencyError, match="one per image"):
        ex.gradients(images, target=[0, 1])
    with pytest.raises(S.SaliencyError, match="baseline of shape"):
        ex.attributions(images, baseline=np.zeros((3, 3)))
    with pytest.raises(S.SaliencyError, match="Expected a Keras model"):
        S.Explainer("model.keras")


def test_central_fraction_against_known_maps() -> None:
    assert S.central_area(32, 32) == 0.25
    assert S.central_box(32, 32, 0.5) == (slice(8, 24), slice(8, 24))
    uniform = np.ones((1, 32, 32))
    centre = np.zeros((1, 32, 32))
    centre[0, 10:20, 10:20] = 1.0
    corner = np.zeros((1, 32, 32))
    corner[0, :4, :4] = 3.0
    fractions = S.central_fraction(np.concatenate([uniform, centre, corner, np.zeros((1, 32, 32))]))
    np.testing.assert_allclose(fractions[:3], [0.25, 1.0, 0.0])
    assert np.isnan(fractions[3])
    with pytest.raises(S.SaliencyError, match="non-negative"):
        S.central_fraction(-uniform)
    with pytest.raises(S.SaliencyError, match="in \\(0, 1\\]"):
        S.central_area(32, 32, 1.5)


def test_rank_correlation() -> None:
    a = np.arange(16.0).reshape(1, 4, 4)
    both = np.concatenate([a, a])
    result = S.rank_correlation(both, np.concatenate([a ** 3, -a]))
    np.testing.assert_allclose(result, [1.0, -1.0])
    assert np.isnan(S.rank_correlation(a, np.ones_like(a))[0])


def test_categories_and_pick_examples_handle_empty_categories() -> None:
    labels = np.array([1, 1, 0, 0, 1, 0])
    p_real = np.array([0.9, 0.6, 0.2, 0.05, 0.3, 0.45])
    assert S.categories(labels, p_real).tolist() == [
        "true REAL", "true REAL", "true FAKE", "true FAKE", "false FAKE", "true FAKE"]
    picked = S.pick_examples(labels, p_real, per_category=2)
    assert picked["true REAL"].tolist() == [0, 1]
    assert picked["true FAKE"].tolist() == [3, 2]
    assert picked["false FAKE"].tolist() == [4]
    assert picked["false REAL"].tolist() == []
    assert S.pick_examples(labels, p_real, min_confidence=0.8)["true REAL"].tolist() == [0]


def test_plot_examples_draws_a_row_per_category(models: dict[str, keras.Model], images: np.ndarray) -> None:
    labels = np.array([1, 0, 1, 0, 1, 0])
    p_real = np.array([0.9, 0.1, 0.8, 0.2, 0.3, 0.4])  # no false REAL
    fig = S.plot_examples(models["nested"], images, labels, methods=("gradients", "grad_cam"),
                          p_real=p_real, title="test")
    assert np.asarray(fig.axes).size == 4 * 3
    texts = [t.get_text() for ax in fig.axes for t in ax.texts]
    assert "no false REAL\nexample" in texts
    plt.close(fig)


def test_randomised_copy_and_sanity_check(models: dict[str, keras.Model], images: np.ndarray) -> None:
    model = models["functional"]
    keras.utils.set_random_seed(7)
    random = S.randomised_copy(model)
    assert not np.allclose(random.get_layer("conv1").kernel.numpy(), model.get_layer("conv1").kernel.numpy())
    top = S.randomised_copy(model, top=1)
    np.testing.assert_array_equal(top.get_layer("conv1").kernel.numpy(), model.get_layer("conv1").kernel.numpy())
    assert not np.allclose(top.get_layer("softmax").kernel.numpy(), model.get_layer("softmax").kernel.numpy())
    assert S.weighted_layer_names(model) == ["conv1", "conv2", "softmax"]
    with pytest.raises(S.SaliencyError, match="between 0 and 3"):
        S.randomised_copy(model, top=4)
    copies = S.randomised(model, tops=(None, 0))
    assert list(copies) == ["all layers", "top 0 layer(s)"]
    table = S.sanity_check(model, images, methods=("gradients",), copies=copies)
    same = table.loc[("top 0 layer(s)", "gradients"), "spearman"]
    different = table.loc[("all layers", "gradients"), "spearman"]
    assert same == pytest.approx(1.0)
    assert different < 0.9


def test_central_mass_table_and_plot(models: dict[str, keras.Model], images: np.ndarray) -> None:
    table = S.central_mass_table({"a": (models["functional"], images), "b": (models["nested"], images)},
                                 methods=("gradients", "grad_cam"))
    assert list(table.index) == [("a", "gradients"), ("a", "grad_cam"), ("b", "gradients"),
                                 ("b", "grad_cam")]
    assert (table["uniform"] == 0.25).all()
    assert table["mean"].between(0, 1).all()
    fig = S.plot_central_mass(table)
    assert fig.axes[0].get_ylabel() == "saliency mass in central box (%)"
    plt.close(fig)


def test_explorer_selects_and_renders(models: dict[str, keras.Model], images: np.ndarray,
                                      capsys: pytest.CaptureFixture) -> None:
    data = Dataset(images, np.array([0, 1, 0, 1, 0, 1]), np.array([f"{i}.jpg" for i in range(6)]))
    explorer = SaliencyExplorer({"flat": models["functional"], "nested": models["nested"]}, data,
                                methods=("gradients", "grad_cam"))
    everything = explorer.selection("flat")
    assert sorted(everything.tolist()) == list(range(6))
    by_category = [explorer.selection("flat", c) for c in S.CATEGORIES]
    assert sorted(np.concatenate(by_category).tolist()) == list(range(6))
    fig = explorer.render("nested", "grad_cam", int(everything[0]))
    assert "Grad-CAM map (layer backbone/bb_conv2)" in fig.axes[2].get_title()
    plt.close(fig)
    assert explorer.widget is explorer.widget
    all_real = SaliencyExplorer({"flat": models["functional"]},
                                Dataset(images, np.ones(6, dtype=int), data.paths))
    assert len(all_real.selection("flat", "true FAKE")) == 0
    all_real.show("flat", "gradients", "true FAKE")
    assert "flat has no true FAKE image here." in capsys.readouterr().out
    with pytest.raises(ValueError, match="Unknown category"):
        explorer.selection("flat", "maybe")
    with pytest.raises(ValueError, match="Unknown saliency method"):
        SaliencyExplorer({"flat": models["functional"]}, data, methods=("lime",))


def test_eager_and_compiled_explainers_agree(models: dict[str, keras.Model], images: np.ndarray) -> None:
    eager, compiled = S.Explainer(models["nested"], eager=True), S.Explainer(models["nested"])
    for method in ("gradients", "grad_cam"):
        np.testing.assert_allclose(eager.saliency(method, images), compiled.saliency(method, images),
                                   rtol=1e-4, atol=1e-7)
    # one trace serves every batch size
    compiled.gradients(images[:2])
    compiled.gradients(images[:5])
    assert len(compiled._gradient_fn._list_all_concrete_functions()) == 1


def test_centre_findings_and_sanity_verdicts() -> None:
    index = pd.MultiIndex.from_product([["trained", "random"], ["gradients", "grad_cam"]],
                                       names=["model", "method"])
    table = pd.DataFrame({"mean": [0.40, 0.33, 0.30, 0.32], "sem": [0.01, 0.01, 0.01, 0.01],
                          "uniform": 0.25}, index=index)
    found = S.centre_findings(table, "trained", "random")
    assert found["above uniform"].tolist() == [True, True]
    assert found["above untrained"].tolist() == [True, False]
    assert found["verdict"].tolist() == ["centre-focused", "no more than the untrained network"]
    assert S.centre_findings(table, "random")["verdict"].tolist() == ["centre-focused"] * 2
    with pytest.raises(S.SaliencyError, match="'nope' is not in the central-mass table"):
        S.centre_findings(table, "trained", "nope")
    assert S.sanity_verdict(0.1).startswith("passes")
    assert S.sanity_verdict(0.5).startswith("partly")
    assert S.sanity_verdict(0.9).startswith("FAILS")
    assert S.sanity_verdict(float("nan")).startswith("undecided")


def test_saved_models_load_and_explain(tmp_path, monkeypatch, models: dict[str, keras.Model],
                                       images: np.ndarray) -> None:
    """A model saved with dflearn.artifacts.save_model (as notebooks 03-05 do) and loaded back
    gives the same maps, and Grad-CAM still finds its layer inside a nested backbone."""
    import dflearn
    from dflearn.artifacts import load_model, save_model

    monkeypatch.setenv("DFLEARN_ARTIFACTS", str(tmp_path))
    session = dflearn.setup("ci", notebook="07", tensorflow=False)
    save_model(session, models["nested"], "04_nested")
    ex = S.Explainer(load_model(session, "04_nested"))
    assert ex.layer_name == "backbone/bb_conv2"
    for method in ("gradients", "grad_cam"):
        np.testing.assert_allclose(ex.saliency(method, images),
                                   S.explainer(models["nested"]).saliency(method, images),
                                   rtol=1e-4, atol=1e-7)


def test_example_table_reports_picks_and_empty_categories() -> None:
    labels = np.array([1, 1, 0, 0, 1, 0])
    p_real = np.array([0.9, 0.6, 0.2, 0.05, 0.3, 0.45])
    table = S.example_table(labels, p_real)
    assert list(table.index) == list(S.CATEGORIES)
    assert table.loc["true REAL", "images"] == 2 and table.loc["true REAL", "picked"] == "0"
    assert table.loc["true FAKE", "picked"] == "3"
    assert table.loc["true FAKE", "confidence"] == pytest.approx(0.95)
    assert table.loc["false REAL", "images"] == 0 and table.loc["false REAL", "picked"] == "-"
    assert table.loc["false REAL", "note"].startswith("none on this test set")
    assert np.isnan(table.loc["false REAL", "confidence"])


def test_study_figures_quote_the_titles() -> None:
    assert sorted(S.STUDY_FIGURES) == [13, 14, 15, 16]
    assert S.STUDY_FIGURES[14].startswith("4 Convolution [512, 512, 2]")
    assert "Manjil Karki" in S.STUDY_FIGURES[16]


def _share_table(rows: dict[tuple[str, str], tuple[float, float]]) -> pd.DataFrame:
    index = pd.MultiIndex.from_tuples(list(rows), names=["model", "method"])
    return pd.DataFrame({"mean": [m for m, _ in rows.values()],
                         "sem": [e for _, e in rows.values()], "n": 50, "uniform": 0.25},
                        index=index)


def test_centre_verdicts_follow_the_interval_rule() -> None:
    from dflearn import study

    table = _share_table({("cnn", "gradients"): (0.40, 0.01), ("cnn", "grad_cam"): (0.33, 0.01),
                          ("cnn", "smoothgrad"): (0.26, 0.01), ("cnn", "integrated_gradients"):
                          (0.20, 0.01), ("random", "gradients"): (0.30, 0.01),
                          ("random", "grad_cam"): (0.32, 0.01), ("random", "smoothgrad"):
                          (0.25, 0.01), ("random", "integrated_gradients"): (0.25, 0.01)})
    verdicts = S.centre_verdicts(table, "cnn", "random", label="Personal CNN")
    assert [v.verdict for v in verdicts] == ["holds", "inconclusive", "inconclusive", "refuted"]
    assert "no more than the same network with random weights" in verdicts[1].text
    assert "contains the uniform" in verdicts[2].text
    assert verdicts[0].finding.startswith(f'"{S.CLAIM_CENTRE}": Personal CNN, gradients')
    assert verdicts[0].interval == "[0.3804, 0.4196]"
    frame = study.findings_table(verdicts)
    assert list(frame.columns) == list(study.FINDINGS_COLUMNS)
    assert (frame["seed_number"] == S.NO_SEED_NUMBER).all()
    # without the untrained baseline, above uniform is enough
    assert S.centre_verdicts(table, "cnn")[1].verdict == "holds"


def test_focus_order_verdict() -> None:
    table = _share_table({("cnn", "gradients"): (0.40, 0.01), ("resnet", "gradients"): (0.30, 0.01),
                          ("grid", "gradients"): (0.39, 0.01), ("wide", "gradients"): (0.50, 0.01)})
    assert S.focus_order_verdict(table, "cnn", "resnet").verdict == "holds"
    assert S.focus_order_verdict(table, "cnn", "grid").verdict == "inconclusive"
    refuted = S.focus_order_verdict(table, "cnn", "wide")
    assert refuted.verdict == "refuted" and "reversed" in refuted.text
    assert S.CLAIM_WIDER in refuted.finding
