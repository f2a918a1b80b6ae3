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


def test_ttur_discriminator_learns_faster() -> None:
    d_opt, g_opt = gan.gan_optimizers("bce")
    assert float(d_opt.learning_rate) > float(g_opt.learning_rate)
    assert float(gan.gan_optimizers("wgan-gp")[0].beta_1) == 0.0


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
