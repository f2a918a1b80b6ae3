"""Making fakes: a DCGAN for 32x32 images, trained with a custom ``train_step`` (after keras.io's
DCGAN and WGAN-GP examples).

Lesson module of 09; imports only the core.

* :func:`generator` / :func:`discriminator`: DCGAN networks (transposed convolutions up from 4x4;
  strided convolutions down to a single logit, no BatchNorm so WGAN-GP's per-image gradient
  penalty stays valid);
* :class:`GAN`: ``loss="bce"`` (non-saturating GAN loss with one-sided label smoothing) or
  ``loss="wgan-gp"`` (Wasserstein loss with gradient penalty and several critic steps);
* :func:`gan_optimizers`: TTUR, a faster discriminator than generator (Heusel et al., 2017);
* :class:`GANMonitor` / :func:`train_gan`: per-step losses and gradient norms, and a grid of
  samples from fixed noise after every epoch, within a number of steps and a time budget;
* :func:`generate` / :func:`fake_dataset`: fresh fakes, as images or as an all-FAKE dataset for
  the course's detectors.

Generated images are in [-1, 1] (tanh); :func:`to_uint8` turns them into 0-255 pixels.
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass, field
from typing import Any, Mapping

import keras
import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
import tensorflow as tf
from keras import layers, ops

from dflearn.data import FAKE, Dataset
from dflearn.images import check_images
from dflearn.models import scaled
from dflearn.plots import image_grid
from dflearn.training import TimeBudget

LOSSES = ("bce", "wgan-gp")
STEP_COLUMNS = ("d_loss", "g_loss", "d_grad_norm", "g_grad_norm", "d_real", "d_fake",
                "gradient_penalty")


class GANConfigError(ValueError):
    """Impossible GAN settings (loss name, sizes, smoothing, steps). Raised by 09's GANs."""


def _bce(target: tf.Tensor, logits: tf.Tensor) -> tf.Tensor:
    """Mean binary cross-entropy of logits against targets."""
    return ops.mean(ops.binary_crossentropy(target, logits, from_logits=True))


# --------------------------------------------------------------------------- networks


def _check_size(image_size: int) -> int:
    if image_size < 8 or image_size & (image_size - 1):
        raise GANConfigError(f"image_size must be a power of two of at least 8, "
                             f"got {image_size!r}.")
    return int(math.log2(image_size // 4))  # number of 2x up- or down-sampling steps


def generator(latent_dim: int = 64, width: float = 1.0, image_size: int = 32) -> keras.Model:
    """DCGAN generator: noise -> Dense 4x4 map -> (ConvTranspose 4x4 stride 2, BatchNorm, ReLU)
    until ``image_size`` -> 3x3 convolution with tanh, so pixels lie in [-1, 1].
    Used in 09 §2 (generator and discriminator)."""
    if latent_dim < 1:
        raise GANConfigError(f"latent_dim must be at least 1, got {latent_dim!r}.")
    n_up = _check_size(image_size)
    # e.g. 512, 256, 128, 64 filters for 32x32 images at width 1
    filters = [scaled(64 * 2 ** (n_up - i), width) for i in range(n_up + 1)]
    z = keras.Input(shape=(latent_dim,), name="noise")
    x = layers.Dense(4 * 4 * filters[0], use_bias=False, name="project")(z)
    x = layers.BatchNormalization(momentum=0.9, name="project_bn")(x)
    x = layers.ReLU(name="project_relu")(x)
    x = layers.Reshape((4, 4, filters[0]), name="reshape")(x)
    for i, f in enumerate(filters[1:], start=1):
        x = layers.Conv2DTranspose(f, 4, strides=2, padding="same", use_bias=False,
                                   name=f"up{i}")(x)
        x = layers.BatchNormalization(momentum=0.9, name=f"up{i}_bn")(x)
        x = layers.ReLU(name=f"up{i}_relu")(x)
    images = layers.Conv2D(3, 3, padding="same", activation="tanh", name="to_rgb")(x)
    return keras.Model(z, images, name="generator")


def discriminator(width: float = 1.0, image_size: int = 32) -> keras.Model:
    """DCGAN discriminator / WGAN critic: (Conv 4x4 stride 2, LeakyReLU 0.2) down to 4x4, then
    one logit (a realness score). Takes images in [-1, 1]. Used in 09 §2."""
    n_down = _check_size(image_size)
    images = keras.Input(shape=(image_size, image_size, 3), name="image")
    x = images
    for i in range(n_down):
        x = layers.Conv2D(scaled(64 * 2 ** i, width), 4, strides=2, padding="same",
                          name=f"down{i + 1}")(x)
        x = layers.LeakyReLU(negative_slope=0.2, name=f"down{i + 1}_lrelu")(x)
    x = layers.Flatten(name="flatten")(x)
    logit = layers.Dense(1, name="logit")(x)
    return keras.Model(images, logit, name="discriminator")


def gan_optimizers(loss: str = "bce", d_learning_rate: float = 4e-4, g_learning_rate: float = 1e-4
                   ) -> tuple[keras.optimizers.Optimizer, keras.optimizers.Optimizer]:
    """TTUR: Adam for the discriminator at a higher learning rate than for the generator.

    Betas follow the papers: (0.5, 0.999) for the DCGAN loss (Radford et al.), (0.0, 0.9) for
    WGAN-GP (Gulrajani et al.). Used in 09 §2 (the training step).
    """
    _check_loss(loss)
    beta_1, beta_2 = (0.5, 0.999) if loss == "bce" else (0.0, 0.9)
    return (keras.optimizers.Adam(d_learning_rate, beta_1=beta_1, beta_2=beta_2),
            keras.optimizers.Adam(g_learning_rate, beta_1=beta_1, beta_2=beta_2))


def _check_loss(loss: str) -> None:
    if loss not in LOSSES:
        raise GANConfigError(f"Unknown GAN loss {loss!r}: use one of {LOSSES}.")


# --------------------------------------------------------------------------- the GAN


class GAN(keras.Model):
    """A generator and a discriminator trained against each other by :meth:`train_step`.
    Used in 09 §2 (the training step), §3 and §4.

    Args:
        generator, discriminator: see :func:`generator` and :func:`discriminator`.
        loss: ``"bce"`` or ``"wgan-gp"``.
        label_smoothing: BCE only; the discriminator's target for real images is
            ``1 - label_smoothing`` (one-sided: fake targets stay 0).
        gp_weight: WGAN-GP only; the weight of the gradient penalty (10 in the paper).
        critic_steps: discriminator updates per generator update.
        seed: seeds the noise and the penalty's interpolation.
    """

    def __init__(self, generator: keras.Model, discriminator: keras.Model, loss: str = "bce",
                 label_smoothing: float = 0.1, gp_weight: float = 10.0, critic_steps: int = 1,
                 seed: int = 0, **kwargs: Any):
        super().__init__(**kwargs)
        _check_loss(loss)
        if not 0 <= label_smoothing < 0.5:
            raise GANConfigError(f"label_smoothing must be in [0, 0.5), got {label_smoothing!r}.")
        if critic_steps < 1:
            raise GANConfigError(f"critic_steps must be at least 1, got {critic_steps!r}.")
        if generator.output_shape[1:] != discriminator.input_shape[1:]:
            raise GANConfigError(f"The generator makes {generator.output_shape[1:]} images but the "
                                 f"discriminator takes {discriminator.input_shape[1:]}.")
        self.generator = generator
        self.discriminator = discriminator
        self.loss_name = loss
        self.label_smoothing = float(label_smoothing)
        self.gp_weight = float(gp_weight)
        self.critic_steps = int(critic_steps)
        self.latent_dim = int(generator.input_shape[-1])
        self.seed_generator = keras.random.SeedGenerator(seed)

    def compile(self, d_optimizer: keras.optimizers.Optimizer | None = None,
                g_optimizer: keras.optimizers.Optimizer | None = None, **kwargs: Any) -> None:
        """Set the two optimizers (default: :func:`gan_optimizers` for this loss)."""
        super().compile(**kwargs)
        defaults = gan_optimizers(self.loss_name)
        self.d_optimizer = d_optimizer or defaults[0]
        self.g_optimizer = g_optimizer or defaults[1]

    def call(self, noise: tf.Tensor, training: bool = False) -> tf.Tensor:
        """Generated images for a batch of noise vectors."""
        return self.generator(noise, training=training)

    def noise(self, batch_size: tf.Tensor | int) -> tf.Tensor:
        """Standard normal latent vectors, drawn from the model's seeded generator."""
        return keras.random.normal((batch_size, self.latent_dim), seed=self.seed_generator)

    def gradient_penalty(self, real: tf.Tensor, fake: tf.Tensor) -> tf.Tensor:
        """WGAN-GP: mean of (||grad of the critic at a random real/fake mixture|| - 1)^2."""
        alpha = keras.random.uniform((ops.shape(real)[0], 1, 1, 1), seed=self.seed_generator)
        mixed = alpha * real + (1.0 - alpha) * fake
        with tf.GradientTape() as tape:
            tape.watch(mixed)
            score = self.discriminator(mixed, training=True)
        grads = tape.gradient(score, mixed)
        norms = ops.sqrt(ops.sum(ops.square(grads), axis=[1, 2, 3]) + 1e-12)
        return ops.mean(ops.square(norms - 1.0))

    def discriminator_loss(self, real: tf.Tensor, noise: tf.Tensor) -> dict[str, tf.Tensor]:
        """The discriminator's loss on a real batch and on images made from ``noise``."""
        fake = self.generator(noise, training=True)
        real_out = self.discriminator(real, training=True)
        fake_out = self.discriminator(fake, training=True)
        if self.loss_name == "bce":
            target = ops.full_like(real_out, 1.0 - self.label_smoothing)  # one-sided smoothing
            loss = _bce(target, real_out) + _bce(ops.zeros_like(fake_out), fake_out)
            penalty = ops.zeros(())
            d_real, d_fake = ops.mean(ops.sigmoid(real_out)), ops.mean(ops.sigmoid(fake_out))
        else:
            penalty = self.gradient_penalty(real, fake)
            loss = ops.mean(fake_out) - ops.mean(real_out) + self.gp_weight * penalty
            d_real, d_fake = ops.mean(real_out), ops.mean(fake_out)
        return {"loss": loss, "d_real": d_real, "d_fake": d_fake, "gradient_penalty": penalty}

    def generator_loss(self, noise: tf.Tensor) -> tf.Tensor:
        """The generator's loss: non-saturating BCE (fool the discriminator) or -critic score."""
        fake_out = self.discriminator(self.generator(noise, training=True), training=True)
        if self.loss_name == "bce":
            return _bce(ops.ones_like(fake_out), fake_out)
        return -ops.mean(fake_out)

    def train_step(self, real: tf.Tensor) -> dict[str, tf.Tensor]:
        """``critic_steps`` discriminator updates, then one generator update. Returns this step's
        losses, the global gradient norms and the discriminator's mean outputs."""
        batch = ops.shape(real)[0]
        d_weights = self.discriminator.trainable_weights
        g_weights = self.generator.trainable_weights
        for _ in range(self.critic_steps):
            noise = self.noise(batch)
            with tf.GradientTape() as tape:
                d_out = self.discriminator_loss(real, noise)
            d_grads = tape.gradient(d_out["loss"], d_weights)
            self.d_optimizer.apply_gradients(zip(d_grads, d_weights))
        noise = self.noise(batch)
        with tf.GradientTape() as tape:
            g_loss = self.generator_loss(noise)
        g_grads = tape.gradient(g_loss, g_weights)
        self.g_optimizer.apply_gradients(zip(g_grads, g_weights))
        return {"d_loss": d_out["loss"], "g_loss": g_loss,
                "d_grad_norm": tf.linalg.global_norm(d_grads),
                "g_grad_norm": tf.linalg.global_norm(g_grads),
                "d_real": d_out["d_real"], "d_fake": d_out["d_fake"],
                "gradient_penalty": d_out["gradient_penalty"]}


def build_gan(latent_dim: int = 64, width: float = 1.0, image_size: int = 32, loss: str = "bce",
              d_learning_rate: float = 4e-4, g_learning_rate: float = 1e-4, seed: int = 0,
              **options: Any) -> GAN:
    """A compiled :class:`GAN` with fresh networks and TTUR optimizers (``options`` go to GAN).
    Used in 09 §2 (DCGAN) and §4 (WGAN-GP)."""
    gan = GAN(generator(latent_dim, width, image_size), discriminator(width, image_size),
              loss=loss, seed=seed, **options)
    gan.compile(*gan_optimizers(loss, d_learning_rate, g_learning_rate))
    return gan


# --------------------------------------------------------------------------- data and samples


def to_unit_range(images: np.ndarray) -> np.ndarray:
    """0-255 pixels to float32 in [-1, 1] (the generator's tanh range). Used in 09 §3."""
    return check_images(images).astype(np.float32) / 127.5 - 1.0


def to_uint8(images: np.ndarray | tf.Tensor) -> np.ndarray:
    """Generated images in [-1, 1] to 0-255 ``uint8`` pixels. Used in 09 §3 and §5."""
    values = np.asarray(keras.ops.convert_to_numpy(images), dtype=np.float32)
    return np.clip(np.rint((values + 1.0) * 127.5), 0, 255).astype(np.uint8)


def gan_dataset(images: np.ndarray, batch_size: int = 64, seed: int = 0) -> tf.data.Dataset:
    """Real images in [-1, 1], shuffled (seeded), repeated forever, in full batches.
    Used in 09 §3 (by :func:`train_gan`)."""
    scaled_images = to_unit_range(images)
    if len(scaled_images) < batch_size:
        raise GANConfigError(f"Need at least one full batch: {len(scaled_images)} images for "
                             f"batch_size {batch_size}.")
    ds = tf.data.Dataset.from_tensor_slices(scaled_images)
    ds = ds.shuffle(len(scaled_images), seed=seed, reshuffle_each_iteration=True).repeat()
    return ds.batch(batch_size, drop_remainder=True).prefetch(tf.data.AUTOTUNE)


def generate(model: GAN | keras.Model, n: int, seed: int = 0, batch_size: int = 256) -> np.ndarray:
    """``n`` generated images as ``uint8``, from seeded noise (BatchNorm in inference mode).
    Used in 09 §5 (scoring the samples)."""
    gen = model.generator if isinstance(model, GAN) else model
    noise = np.random.default_rng(seed).standard_normal((n, gen.input_shape[-1])).astype(np.float32)
    return to_uint8(gen.predict(noise, batch_size=batch_size, verbose=0))


def fake_dataset(images: np.ndarray, name: str = "generated") -> Dataset:
    """``uint8`` images as a :class:`~dflearn.data.Dataset` labelled FAKE throughout (paths
    ``name/0``, ``name/1``, ...), to score detectors on generated images. Used in 09 §6."""
    images = check_images(images)
    paths = np.asarray([f"{name}/{i}" for i in range(len(images))])
    return Dataset(images, np.full(len(images), FAKE, dtype=np.int64), paths)


# --------------------------------------------------------------------------- training, monitoring


class GANMonitor(keras.callbacks.Callback):
    """Keeps every step's losses and gradient norms, and after each epoch a batch of samples made
    from the same fixed noise (so the grids show one set of images changing). Used in 09 §3."""

    def __init__(self, n_samples: int = 8, seed: int = 0):
        super().__init__()
        self.n_samples = n_samples
        self.seed = seed
        self.steps: list[dict[str, float]] = []
        self.grids: list[np.ndarray] = []

    def on_train_begin(self, logs: Mapping[str, Any] | None = None) -> None:
        """Draw the fixed noise (seeded) once the model is known."""
        latent_dim = self.model.generator.input_shape[-1]
        rng = np.random.default_rng(self.seed)
        self.noise = rng.standard_normal((self.n_samples, latent_dim)).astype(np.float32)

    def on_train_batch_end(self, batch: int, logs: Mapping[str, Any] | None = None) -> None:
        """Keep this step's values."""
        self.steps.append({k: float(v) for k, v in (logs or {}).items() if k in STEP_COLUMNS})

    def on_epoch_end(self, epoch: int, logs: Mapping[str, Any] | None = None) -> None:
        """Keep samples from the fixed noise (BatchNorm in inference mode)."""
        self.grids.append(to_uint8(self.model.generator(self.noise, training=False)))


@dataclass
class GANRun:
    """What :func:`train_gan` did: per-step logs, sample grids per epoch and the time taken.
    Used in 09 §3-4."""

    steps: pd.DataFrame
    grids: list[np.ndarray] = field(default_factory=list)
    seconds: float = 0.0
    loss: str = "bce"
    stopped: str = "completed all steps"

    def summary(self) -> str:
        """One line: steps, epochs, time, why it stopped and the last losses."""
        last = self.steps.iloc[-1]
        return (f"{len(self.steps)} generator steps in {len(self.grids)} epoch(s), "
                f"{self.seconds:.1f} s ({self.loss}, {self.stopped}); last d_loss "
                f"{last['d_loss']:.3f}, g_loss {last['g_loss']:.3f}")


def train_gan(gan: GAN, images: np.ndarray, steps: int, epochs: int = 4, batch_size: int = 64,
              seed: int = 0, n_samples: int = 8, time_budget: float | None = None) -> GANRun:
    """Train ``gan`` on real ``uint8`` images for ``steps`` generator steps split into ``epochs``
    (an "epoch" here is a slice of steps ending with a sample grid, not a pass over the data).

    With ``time_budget`` seconds, training stops early once they are used up (the epoch in
    progress ends at once, with its sample grid). Used in 09 §3 (DCGAN) and §4 (WGAN-GP).
    """
    if steps < 1 or epochs < 1:
        raise GANConfigError(f"steps and epochs must be at least 1, got {steps} and {epochs}.")
    epochs = min(epochs, steps)
    monitor = GANMonitor(n_samples, seed)
    budget = TimeBudget(time_budget) if time_budget else None
    start = time.perf_counter()
    gan.fit(gan_dataset(images, batch_size, seed), epochs=epochs,
            steps_per_epoch=math.ceil(steps / epochs),
            callbacks=[monitor] + ([budget] if budget else []), shuffle=False, verbose=0)
    table = pd.DataFrame(monitor.steps, columns=list(STEP_COLUMNS))
    table.index = pd.RangeIndex(1, len(table) + 1, name="step")
    stopped = (f"stopped by the {budget.seconds:g} s time budget" if budget and budget.exhausted
               else "completed all steps")
    return GANRun(table, monitor.grids, time.perf_counter() - start, gan.loss_name, stopped)


def layer_gradient_norms(gan: GAN, real_images: np.ndarray, seed: int = 0) -> pd.DataFrame:
    """The gradient norm of each weight tensor of both networks on one batch of real images
    (``uint8``): where the training signal is strong and where it vanishes. Used in 09 §3."""
    real = tf.constant(to_unit_range(real_images))
    noise = tf.constant(np.random.default_rng(seed).standard_normal(
        (len(real_images), gan.latent_dim)).astype(np.float32))
    rows = []
    losses = ((gan.discriminator, lambda: gan.discriminator_loss(real, noise)["loss"]),
              (gan.generator, lambda: gan.generator_loss(noise)))
    for network, loss_fn in losses:
        with tf.GradientTape() as tape:
            loss = loss_fn()
        grads = tape.gradient(loss, network.trainable_weights)
        for weight, grad in zip(network.trainable_weights, grads):
            rows.append({"network": network.name, "weight": weight.path,
                         "gradient_norm": float(tf.norm(grad)) if grad is not None else 0.0,
                         "weight_norm": float(tf.norm(weight))})
    return pd.DataFrame(rows)


# --------------------------------------------------------------------------- plots


def _smooth(values: pd.Series, window: int) -> pd.Series:
    return values.rolling(window, min_periods=1).mean()


def plot_gan_losses(run: GANRun, window: int = 10, title: str = "GAN losses") -> plt.Figure:
    """Discriminator and generator loss per generator step (thin: raw, thick: moving average),
    and the discriminator's mean output on real and generated images. Used in 09 §3-4."""
    fig, (ax_loss, ax_out) = plt.subplots(1, 2, figsize=(10, 3.4))
    for i, column in enumerate(("d_loss", "g_loss")):
        ax_loss.plot(run.steps.index, run.steps[column], color=f"C{i}", alpha=0.3, linewidth=0.8)
        ax_loss.plot(run.steps.index, _smooth(run.steps[column], window), color=f"C{i}",
                     label=column)
    unit = "cross-entropy (nats)" if run.loss == "bce" else "Wasserstein loss (critic units)"
    ax_loss.set(xlabel="generator step", ylabel=unit, title=f"losses ({run.loss})")
    ax_loss.legend()
    for i, column in enumerate(("d_real", "d_fake")):
        ax_out.plot(run.steps.index, _smooth(run.steps[column], window), color=f"C{i + 2}",
                    label=f"{column} (on {'real' if column == 'd_real' else 'generated'} images)")
    what = "mean P(real)" if run.loss == "bce" else "mean critic score"
    ax_out.set(xlabel="generator step", ylabel=what, title="discriminator outputs")
    ax_out.legend(fontsize=8)
    fig.suptitle(title)
    fig.tight_layout()
    return fig


def plot_gradient_norms(run: GANRun, window: int = 10, title: str = "Gradient norms") -> plt.Figure:
    """Global gradient norm of each network per generator step (log scale, moving average).
    Used in 09 §3."""
    fig, ax = plt.subplots(figsize=(6, 3.4))
    columns = (("d_grad_norm", "discriminator"), ("g_grad_norm", "generator"))
    for i, (column, name) in enumerate(columns):
        ax.plot(run.steps.index, run.steps[column], color=f"C{i}", alpha=0.3, linewidth=0.8)
        ax.plot(run.steps.index, _smooth(run.steps[column], window), color=f"C{i}", label=name)
    ax.set_yscale("log")
    ax.set(xlabel="generator step", ylabel="global L2 norm of the gradients (log scale)",
           title=f"{title} ({run.loss})")
    ax.legend()
    fig.tight_layout()
    return fig


def plot_epoch_grids(run: GANRun,
                     title: str = "Samples from fixed noise after each epoch") -> plt.Figure:
    """One row of generated samples per epoch, always from the same noise vectors.
    Used in 09 §3."""
    if not run.grids:
        raise ValueError("This run kept no sample grids (train_gan stores one per epoch).")
    n = len(run.grids[0])
    titles = [f"epoch {e + 1}" if j == 0 else "" for e in range(len(run.grids)) for j in range(n)]
    return image_grid(np.concatenate(run.grids), titles=titles, ncols=n, title=title)
