"""DCGAN networks, the custom train step (BCE with smoothing, WGAN-GP), determinism, monitoring."""

from __future__ import annotations

import keras
import matplotlib.pyplot as plt
import numpy as np
import pytest
import tensorflow as tf

from dflearn import gan
from dflearn.course.session import seed_everything

SIZE = 16  # small images keep the training tests fast


def real_images(n: int = 32, seed: int = 0) -> np.ndarray:
    return np.random.default_rng(seed).integers(0, 256, (n, SIZE, SIZE, 3), dtype=np.uint8)


def constant_critic(logit: float) -> keras.Model:
    """A discriminator whose output is ``logit`` for every image (zero kernel, fixed bias)."""
    inputs = keras.Input((SIZE, SIZE, 3))
    dense = keras.layers.Dense(1)
    model = keras.Model(inputs, dense(keras.layers.Flatten()(inputs)))
    dense.set_weights([np.zeros((SIZE * SIZE * 3, 1), "float32"), np.array([logit], "float32")])
    return model


def linear_critic(weights: np.ndarray) -> keras.Model:
    """A critic D(x) = <w, x>: its gradient is ``w`` everywhere."""
    inputs = keras.Input((SIZE, SIZE, 3))
    dense = keras.layers.Dense(1, use_bias=False)
    model = keras.Model(inputs, dense(keras.layers.Flatten()(inputs)))
    dense.set_weights([weights.reshape(-1, 1).astype("float32")])
    return model


def test_network_shapes_and_ranges() -> None:
    generator = gan.generator(latent_dim=8, width=0.0625, image_size=SIZE)
    discriminator = gan.discriminator(width=0.0625, image_size=SIZE)
    images = keras.ops.convert_to_numpy(generator(np.random.default_rng(0).normal(size=(3, 8))))
    assert images.shape == (3, SIZE, SIZE, 3)
    assert images.min() >= -1 and images.max() <= 1
    assert discriminator(images).shape == (3, 1)
    assert not any(isinstance(layer, keras.layers.BatchNormalization)
                   for layer in discriminator.layers)


def test_bad_settings_are_named() -> None:
    with pytest.raises(gan.GANConfigError, match="power of two"):
        gan.generator(image_size=24)
    with pytest.raises(gan.GANConfigError, match="Unknown GAN loss 'lsgan'"):
        gan.gan_optimizers("lsgan")
    generator, discriminator = gan.generator(8, 0.0625, SIZE), gan.discriminator(0.0625, SIZE)
    with pytest.raises(gan.GANConfigError, match="label_smoothing"):
        gan.GAN(generator, discriminator, label_smoothing=0.6)
    with pytest.raises(gan.GANConfigError, match="critic_steps"):
        gan.GAN(generator, discriminator, critic_steps=0)
    with pytest.raises(gan.GANConfigError, match="discriminator takes"):
        gan.GAN(generator, gan.discriminator(0.0625, 32))
    with pytest.raises(gan.GANConfigError, match="full batch"):
        gan.gan_dataset(real_images(4), batch_size=8)


def test_separate_learning_rates_and_the_projects_ttur_rows() -> None:
    d_opt, g_opt = gan.gan_optimizers("bce")
    assert float(d_opt.learning_rate) == float(g_opt.learning_rate) == pytest.approx(1e-4)
    d_opt, g_opt = gan.gan_optimizers("wgan-gp", d_learning_rate=3e-4, g_learning_rate=1e-4)
    assert float(d_opt.learning_rate) == pytest.approx(3e-4)
    assert float(g_opt.learning_rate) == pytest.approx(1e-4)
    assert float(d_opt.beta_1) == 0.0
    rows = {row.key: row for row in gan.TABLE1_ROWS}
    assert len(rows) == 6
    assert (rows["baseline_ttur"].g_learning_rate, rows["baseline_ttur"].d_learning_rate) == \
        (1e-4, 1e-5)
    assert (rows["wgan_ttur_3e-4_1e-4"].g_learning_rate,
            rows["wgan_ttur_3e-4_1e-4"].d_learning_rate) == (1e-4, 3e-4)
    assert rows["baseline_ls"].label_smoothing > 0 and rows["baseline"].label_smoothing == 0
    assert {row.loss for row in gan.TABLE1_ROWS if "wgan" in row.key} == {"wgan-gp"}
    from dflearn import study
    assert [study.value(f"gan/table1/{k}/fid") for k in rows] == \
        [207.95, 266.97, 319.58, 192.6, 253.69, 247.06]


def bce(target: float, logit: float) -> float:
    p = 1 / (1 + np.exp(-logit))
    return -(target * np.log(p) + (1 - target) * np.log(1 - p))


@pytest.mark.parametrize("smoothing", [0.0, 0.1])
def test_one_sided_label_smoothing_in_the_discriminator_loss(smoothing: float) -> None:
    model = gan.GAN(gan.generator(8, 0.0625, SIZE), constant_critic(2.0), label_smoothing=smoothing)
    real = tf.constant(gan.to_unit_range(real_images(4)))
    out = model.discriminator_loss(real, tf.zeros((4, 8)))
    expected = bce(1.0 - smoothing, 2.0) + bce(0.0, 2.0)  # fake targets stay 0
    assert float(out["loss"]) == pytest.approx(expected, rel=1e-5)
    assert float(model.generator_loss(tf.zeros((4, 8)))) == pytest.approx(bce(1.0, 2.0), rel=1e-5)


def test_gradient_penalty_of_a_linear_critic() -> None:
    weights = np.full((SIZE, SIZE, 3), 0.02)  # ||w|| = 0.02 * sqrt(768)
    model = gan.GAN(gan.generator(8, 0.0625, SIZE), linear_critic(weights), loss="wgan-gp")
    real = tf.constant(gan.to_unit_range(real_images(4)))
    fake = tf.constant(gan.to_unit_range(real_images(4, seed=1)))
    expected = (np.linalg.norm(weights) - 1.0) ** 2
    assert float(model.gradient_penalty(real, fake)) == pytest.approx(expected, rel=1e-4)


def train_small(loss: str, steps: int = 6, seed: int = 0, eager: bool = False,
                **options) -> tuple[gan.GAN, gan.GANRun]:
    seed_everything(seed)
    model = gan.GAN(gan.generator(8, 0.0625, SIZE), gan.discriminator(0.0625, SIZE), loss=loss,
                    seed=seed, **options)
    model.compile(*gan.gan_optimizers(loss), run_eagerly=eager)
    return model, gan.train_gan(model, real_images(32), steps=steps, epochs=2, batch_size=8,
                                seed=seed, n_samples=3)


def test_bce_training_is_logged_and_deterministic() -> None:
    model, run = train_small("bce", eager=True)  # eager: no tracing, a fast test
    assert list(run.steps.columns) == list(gan.STEP_COLUMNS) and len(run.steps) == 6
    assert np.isfinite(run.steps.to_numpy()).all()
    assert (run.steps["gradient_penalty"] == 0).all() and (run.steps["d_grad_norm"] > 0).all()
    assert len(run.grids) == 2 and run.grids[0].shape == (3, SIZE, SIZE, 3)
    assert run.grids[0].dtype == np.uint8 and not np.array_equal(run.grids[0], run.grids[1])
    again, run_again = train_small("bce", eager=True)
    assert run.steps.equals(run_again.steps)
    for a, b in zip(model.generator.weights, again.generator.weights):
        np.testing.assert_array_equal(keras.ops.convert_to_numpy(a), keras.ops.convert_to_numpy(b))
    assert np.array_equal(gan.generate(model, 5, seed=1), gan.generate(again, 5, seed=1))


def test_wgan_gp_training_and_layer_gradients() -> None:
    model, run = train_small("wgan-gp", steps=4, critic_steps=2)
    assert len(run.steps) == 4 and (run.steps["gradient_penalty"] > 0).all()
    assert "wgan-gp" in run.summary()
    norms = gan.layer_gradient_norms(model, real_images(8))
    assert set(norms["network"]) == {"generator", "discriminator"}
    assert (norms["gradient_norm"] >= 0).all() and np.isfinite(norms["gradient_norm"]).all()
    figures = (gan.plot_gan_losses(run), gan.plot_gradient_norms(run), gan.plot_epoch_grids(run))
    for figure in figures:
        assert figure.axes[0].get_title() or figure.texts
        plt.close(figure)


def test_pixel_range_conversions_round_trip() -> None:
    images = real_images(3)
    assert np.array_equal(gan.to_uint8(gan.to_unit_range(images)), images)
    assert gan.to_uint8(np.array([[-2.0, 0.0, 2.0]])).tolist() == [[0, 128, 255]]


def test_time_budget_stops_training_after_the_first_step() -> None:
    seed_everything(0)
    model = gan.GAN(gan.generator(8, 0.0625, SIZE), gan.discriminator(0.0625, SIZE), seed=0)
    model.compile(*gan.gan_optimizers("bce"), run_eagerly=True)
    run = gan.train_gan(model, real_images(32), steps=20, epochs=4, batch_size=8, n_samples=2,
                        time_budget=1e-9)
    assert len(run.steps) == 1 and len(run.grids) == 1
    assert "time budget" in run.stopped and "time budget" in run.summary()


def test_fake_dataset_labels_everything_fake() -> None:
    ds = gan.fake_dataset(real_images(3), "dcgan")
    assert ds.labels.tolist() == [0, 0, 0] and ds.counts() == {"FAKE": 3, "REAL": 0}
    assert ds.paths.tolist() == ["dcgan/0", "dcgan/1", "dcgan/2"]
    with pytest.raises(ValueError):
        gan.fake_dataset(real_images(3)[0])


ROWS = gan.TABLE1_ROWS
ABLATION = dict(steps=4, epochs=2, batch_size=8, latent_dim=8, width=0.0625, critic_steps=2,
                seed=3, verbose=False)


def test_ablation_rows_sharing_a_traced_gan_train_as_if_alone() -> None:
    both = gan.train_ablation(real_images(32), (ROWS[0], ROWS[2], ROWS[3], ROWS[5]), **ABLATION)
    assert list(both) == [ROWS[0].name, ROWS[2].name, ROWS[3].name, ROWS[5].name]
    for row in (ROWS[2], ROWS[5]):  # restarted shared GANs vs fresh ones
        alone = gan.train_ablation(real_images(32), (row,), **ABLATION)
        assert both[row.name].run.steps.equals(alone[row.name].run.steps)
        assert np.array_equal(gan.generate(both[row.name].gan, 3, seed=1),
                              gan.generate(alone[row.name].gan, 3, seed=1))
    assert not both[ROWS[0].name].run.steps.equals(both[ROWS[2].name].run.steps)
    assert both[ROWS[3].name].gan.critic_steps == 2 and both[ROWS[0].name].gan.critic_steps == 1
    assert both[ROWS[0].name].gan is not both[ROWS[2].name].gan
    with pytest.raises(gan.GANConfigError, match="needs loss"):
        model = both[ROWS[0].name].gan
        gan.restart(model, [np.array(v) for v in model.variables], ROWS[3])
    figure = gan.plot_ablation_gradients(both)
    assert len([ax for ax in figure.axes if ax.get_visible()]) == 4
    assert all(ax.get_xlabel() and ax.get_ylabel() for ax in figure.axes if ax.get_visible())
    plt.close(figure)


def test_label_smoothing_can_change_after_tracing() -> None:
    model = gan.GAN(gan.generator(8, 0.0625, SIZE), constant_critic(2.0), label_smoothing=0.0)
    model.set_label_smoothing(0.2)
    out = model.discriminator_loss(tf.constant(gan.to_unit_range(real_images(4))),
                                   tf.zeros((4, 8)))
    assert float(out["loss"]) == pytest.approx(bce(0.8, 2.0) + bce(0.0, 2.0), rel=1e-5)
    with pytest.raises(gan.GANConfigError, match="label_smoothing"):
        model.set_label_smoothing(0.5)


def _fake_ablation() -> dict[str, gan.AblationResult]:
    return {row.name: gan.AblationResult(row, None, None) for row in ROWS}  # type: ignore[arg-type]


def test_table1_comparison_and_orderings() -> None:
    import pandas as pd

    # the project's order exactly (lower FID = better), then the reverse
    same = pd.Series([2.0, 5.0, 6.0, 1.0, 4.0, 3.0], index=[r.name for r in ROWS], name="FD[x]")
    table = gan.table1_comparison(_fake_ablation(), same)
    assert list(table.columns) == ["rates", "project_fid", "our FD[x]", "project_rank",
                                   "our_rank"]
    assert table.loc["WGAN-GP", "project_fid"] == 192.6
    assert (table["project_rank"] == table["our_rank"]).all()
    summary = gan.ordering_summary(table)
    assert summary["same_ordering"] and summary["spearman_rho"] == pytest.approx(1.0)
    assert summary["project_wgan_beats_baseline"] and summary["our_wgan_beats_baseline"]
    assert "the same ordering" in gan.describe_ordering(summary)
    reverse = gan.ordering_summary(gan.table1_comparison(_fake_ablation(), -same))
    assert not reverse["same_ordering"] and reverse["spearman_rho"] == pytest.approx(-1.0)
    assert not reverse["our_wgan_beats_baseline"]
    text = gan.describe_ordering(reverse)
    assert "a different ordering" in text and "does not beat" in text
    with pytest.raises(ValueError, match="has a distance"):
        gan.table1_comparison(_fake_ablation(), pd.Series([1.0], index=["other"], name="FD"))


def _layer_types(model: keras.Model) -> list[str]:
    return [type(layer).__name__ for layer in model.layers]


def test_discriminator_models_follow_table3() -> None:
    models = {k: gan.discriminator_model(k, 32, width=0.25) for k in (1, 2, 3, 4, 5)}
    for k, model in models.items():
        assert model.input_shape == (None, 32, 32, 3) and model.output_shape == (None, 1)
        assert model.layers[-1].activation.__name__ == "sigmoid"
    assert _layer_types(models[1]).count("Conv2D") == 2
    assert _layer_types(models[3]).count("Conv2D") == 3
    assert _layer_types(models[3]).count("Dense") == _layer_types(models[1]).count("Dense") + 1
    assert models[1].get_layer("dense1_dropout").rate == 0.5
    assert "conv_dropout" not in [layer.name for layer in models[1].layers]
    assert models[2].get_layer("conv_dropout").rate == 0.25
    assert models[4].get_layer("dense1_dropout").rate != models[3].get_layer("dense1_dropout").rate
    regularised = [layer for layer in models[5].layers if getattr(layer, "kernel_regularizer", None)]
    assert {type(layer).__name__ for layer in regularised} == {"Conv2D", "Dense"}
    assert all(float(layer.kernel_regularizer.l2) == pytest.approx(0.01) for layer in regularised)
    assert models[5].layers[-1].kernel_regularizer is None  # not on the output layer
    assert not any(getattr(layer, "kernel_regularizer", None) for layer in models[4].layers)
    with pytest.raises(gan.GANConfigError, match="Table 3"):
        gan.discriminator_model(7)


def test_discriminator_fit_options() -> None:
    options = {k: gan.discriminator_fit_options(k, epochs=10) for k in gan.DISCRIMINATOR_MODELS}
    assert [options[k]["epochs"] for k in (1, 4, 5, 6)] == [10, 10, 15, 8]
    assert not options[1]["augment"] and all(options[k]["augment"] for k in (2, 3, 4, 5))
    assert options[2]["schedule"] is None and options[3]["schedule"] == "cosine"
    assert options[6]["schedule"] == "cosine" and not options[6]["augment"]


@pytest.mark.slow
def test_resnet50_discriminator_is_frozen_with_the_projects_head() -> None:
    model = gan.discriminator_model(6, 32, weights=None, resnet_size=32)
    assert model.name == "model_6_resnet50_random_init"
    base = [layer for layer in model.layers if isinstance(layer, keras.Model)][0]
    assert not base.trainable
    assert model.get_layer("dense256").units == 256
    assert model.get_layer("dense256_dropout").rate == 0.5
    assert model.output_shape == (None, 1)


def test_discriminator_study_trains_and_reports_beside_table3() -> None:
    from dflearn.data import Dataset
    from dflearn.splits import Splits

    rng = np.random.default_rng(0)

    def data(n: int) -> Dataset:
        labels = np.arange(n) % 2
        images = rng.integers(0, 256, (n, SIZE, SIZE, 3), dtype=np.uint8)
        images[labels == 1] //= 2  # REAL darker: learnable
        return Dataset(images, labels.astype(np.int64), np.array([f"i{i}" for i in range(n)]))

    splits = Splits(data(32), data(8), data(16))
    table = gan.discriminator_study(splits, (1,), epochs=1, batch_size=16, width=0.125,
                                    run_eagerly=True)
    assert list(table.index) == ["Model 1"]
    assert table.loc["Model 1", "project_accuracy"] == 0.99
    assert table.loc["Model 1", "test_images"] == 16
    assert 0 <= table.loc["Model 1", "our_accuracy"] <= 1
    assert {"our_loss", "our_precision", "our_recall", "project_recall"} <= set(table.columns)


def test_load_saved_detectors_says_where_each_came_from(tmp_path, capsys) -> None:
    from types import SimpleNamespace

    from dflearn import artifacts

    session = SimpleNamespace(artifacts=tmp_path, profile=SimpleNamespace(name="ci"),
                              notebook="05_age_classifier_grid")
    inputs = keras.Input((SIZE, SIZE, 3))
    model = keras.Model(inputs, keras.layers.Dense(1, activation="sigmoid")(
        keras.layers.Flatten()(inputs)))
    artifacts.save_model(session, model, "05_grid_best")
    found = gan.load_saved_detectors(session, {"grid": "05_grid_best", "gone": "03_faces_cnn"})
    out = capsys.readouterr().out
    assert list(found) == ["grid"]
    assert "loaded 05_grid_best (trained by 05_age_classifier_grid, " in out
    assert "03_faces_cnn: not saved under profile 'ci'" in out


def test_table1_learning_rates_come_from_study() -> None:
    """The TTUR rows use the project's rates (G 1e-4 / D 1e-5, and G 1e-4 / D 3e-4 for WGAN-GP)."""
    from dflearn import study
    rates = {row.key: (row.g_learning_rate, row.d_learning_rate) for row in gan.TABLE1_ROWS}
    assert rates["baseline"] == (study.value("gan/base/learning_rate"),) * 2
    assert rates["baseline_ttur"] == (1e-4, 1e-5) and rates["wgan_ttur_1e-4_1e-5"] == (1e-4, 1e-5)
    assert rates["wgan_ttur_3e-4_1e-4"] == (1e-4, 3e-4)
    assert [row.name for row in gan.TABLE1_ROWS] == [
        "Baseline", "Baseline + LS", "Baseline + TTUR", "WGAN-GP", "WGAN TTUR 1e-4, 1e-5",
        "WGAN TTUR 3e-4, 1e-4"]


def test_table3_findings_judge_the_projects_orderings() -> None:
    import pandas as pd
    table3 = pd.DataFrame({"model": ["Model 1", "Model 2", "Model 3", "Model 4"],
                           "test_images": [1000] * 4,
                           "project_accuracy": [0.99, 0.59, 0.86, 0.77],
                           "our_accuracy": [0.90, 0.70, 0.71, 0.80]}).set_index("model")
    findings = gan.table3_findings(table3).set_index("finding")
    assert len(findings) == 2  # no Model 5: its claim is left out
    verdicts = dict(zip([f.split(" ")[1] for f in findings.index], findings["verdict"]))
    assert verdicts == {"1": "holds", "3": "inconclusive"}
    assert findings["seed_number"].str.contains("0.99").any()
