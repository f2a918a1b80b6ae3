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
  the course's detectors;
* :data:`TABLE1_ROWS` / :func:`train_ablation`: the GAN project's Table 1 as an ablation grid
  (baseline, label smoothing, TTUR, WGAN-GP, WGAN-GP + TTUR at both rate pairs), with
  :func:`plot_ablation_gradients`, :func:`table1_comparison` and :func:`ordering_summary`;
* :func:`discriminator_model` / :func:`discriminator_study`: the project's Table 3 detectors
  (Models 1-6) trained with :func:`dflearn.training.fit`;
* :func:`load_saved_detectors`: other notebooks' saved detectors, with where they came from;
* :func:`gan_score_auc` / :func:`open_task_auc`: the open-ended task's score, how well a
  student's one-number-per-image score tells real images from fresh samples of a generator.

Generated images are in [-1, 1] (tanh); :func:`to_uint8` turns them into 0-255 pixels.
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass, field
from typing import Any, Callable, Mapping

import keras
import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
import tensorflow as tf
from keras import layers, ops
from sklearn.metrics import roc_auc_score

from dflearn import study
from dflearn.backbones import IMAGENET, load_backbone
from dflearn.data import FAKE, REAL, Dataset
from dflearn.images import check_images
from dflearn.layers import BackbonePreprocess
from dflearn.metrics import evaluate, image_scores
from dflearn.models import build_optimizer, classifier_head, image_input, scaled
from dflearn.plots import image_grid
from dflearn.splits import balanced_subset
from dflearn.training import TimeBudget, fit

# The project's Adam learning rate of both networks ("base learning rates of 1e-4").
BASE_LEARNING_RATE: float = study.value("gan/base/learning_rate")

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


def gan_optimizers(loss: str = "bce", d_learning_rate: float = BASE_LEARNING_RATE,
                   g_learning_rate: float = BASE_LEARNING_RATE
                   ) -> tuple[keras.optimizers.Optimizer, keras.optimizers.Optimizer]:
    """Adam for the discriminator and for the generator, each at its own learning rate (the
    GAN project's base rate 1e-4 for both by default; TTUR sets two different rates, see
    :data:`TABLE1_ROWS`).

    Betas follow the papers: (0.5, 0.999) for the DCGAN loss (Radford et al.), (0.0, 0.9) for
    WGAN-GP (Gulrajani et al.). Used in 09 §2 (the training step).
    """
    _check_loss(loss)
    beta_1, beta_2 = (0.5, 0.999) if loss == "bce" else (0.0, 0.9)
    return (keras.optimizers.Adam(d_learning_rate, beta_1=beta_1, beta_2=beta_2),
            keras.optimizers.Adam(g_learning_rate, beta_1=beta_1, beta_2=beta_2))


def _check_smoothing(label_smoothing: float) -> None:
    if not 0 <= label_smoothing < 0.5:
        raise GANConfigError(f"label_smoothing must be in [0, 0.5), got {label_smoothing!r}.")


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
        _check_smoothing(label_smoothing)
        if critic_steps < 1:
            raise GANConfigError(f"critic_steps must be at least 1, got {critic_steps!r}.")
        if generator.output_shape[1:] != discriminator.input_shape[1:]:
            raise GANConfigError(f"The generator makes {generator.output_shape[1:]} images but the "
                                 f"discriminator takes {discriminator.input_shape[1:]}.")
        self.generator = generator
        self.discriminator = discriminator
        self.loss_name = loss
        self.label_smoothing = float(label_smoothing)
        # a variable, so a traced training step can be reused with another smoothing
        self.smoothing = keras.Variable(self.label_smoothing, trainable=False,
                                        name="label_smoothing")
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
        build_optimizer(self.d_optimizer, self.discriminator.trainable_variables)
        build_optimizer(self.g_optimizer, self.generator.trainable_variables)

    def set_label_smoothing(self, label_smoothing: float) -> None:
        """Change the one-sided label smoothing (BCE only) without retracing the step."""
        _check_smoothing(label_smoothing)
        self.label_smoothing = float(label_smoothing)
        self.smoothing.assign(self.label_smoothing)

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
            target = ops.ones_like(real_out) * (1.0 - self.smoothing)  # one-sided smoothing
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
              d_learning_rate: float = BASE_LEARNING_RATE,
              g_learning_rate: float = BASE_LEARNING_RATE, seed: int = 0,
              **options: Any) -> GAN:
    """A compiled :class:`GAN` with fresh networks and one Adam per network at its own learning
    rate (``options`` go to GAN). Used in 09 §2 and §3 (by :func:`train_ablation`)."""
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
    budget = TimeBudget.within_clock(time_budget)  # the notebook's own budget caps it
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


# --------------------------------------------------------------------------- Table 1: the ablation


@dataclass(frozen=True)
class AblationRow:
    """One row of the GAN project's Table 1: its label there, the key of its FID in
    :mod:`dflearn.study` (``gan/table1/<key>/fid``), the loss, one-sided label smoothing and the
    two learning rates. Used in 09 §3 (the ablation grid)."""

    name: str
    key: str
    loss: str = "bce"
    label_smoothing: float = 0.0
    g_learning_rate: float = BASE_LEARNING_RATE
    d_learning_rate: float = BASE_LEARNING_RATE

    @property
    def rates(self) -> str:
        """The two learning rates, as ``G <rate> / D <rate>`` in scientific notation."""
        return f"G {self.g_learning_rate:.0e} / D {self.d_learning_rate:.0e}"


def _ttur(row: str, loss: str = "bce") -> AblationRow:
    """A TTUR row of Table 1, its two learning rates read from :mod:`dflearn.study`."""
    return AblationRow(TABLE1_LABELS[row], row, loss=loss,
                       g_learning_rate=study.value(f"gan/ttur/{row}/g_learning_rate"),
                       d_learning_rate=study.value(f"gan/ttur/{row}/d_learning_rate"))


# Table 1's labels, as printed. Its TTUR rows use 1e-4 (G) / 1e-5 (D), and for WGAN-GP also
# 1e-4 (G) / 3e-4 (D), which Table 1 prints as "3e-4, 1e-4". The report does not give the
# label-smoothing epsilon: we use 0.1.
TABLE1_LABELS: Mapping[str, str] = {
    "baseline": "Baseline", "baseline_ls": "Baseline + LS", "baseline_ttur": "Baseline + TTUR",
    "wgan_gp": "WGAN-GP", "wgan_ttur_1e-4_1e-5": "WGAN TTUR 1e-4, 1e-5",
    "wgan_ttur_3e-4_1e-4": "WGAN TTUR 3e-4, 1e-4"}
LABEL_SMOOTHING = 0.1
TABLE1_ROWS: tuple[AblationRow, ...] = (
    AblationRow(TABLE1_LABELS["baseline"], "baseline"),
    AblationRow(TABLE1_LABELS["baseline_ls"], "baseline_ls", label_smoothing=LABEL_SMOOTHING),
    _ttur("baseline_ttur"),
    AblationRow(TABLE1_LABELS["wgan_gp"], "wgan_gp", loss="wgan-gp"),
    _ttur("wgan_ttur_1e-4_1e-5", loss="wgan-gp"),
    _ttur("wgan_ttur_3e-4_1e-4", loss="wgan-gp"),
)


@dataclass
class AblationResult:
    """A trained row of the ablation: its settings, the GAN and what training logged."""

    row: AblationRow
    gan: GAN
    run: GANRun


def restart(model: GAN, initial: list[np.ndarray], row: AblationRow) -> None:
    """Put ``model`` back into the state ``initial`` (its variables' values when freshly built:
    weights, BatchNorm statistics and the noise seed), with fresh optimizer moments and step
    counts, ``row``'s learning rates and label smoothing. Its traced training step is reused:
    training it again costs no second trace. Used in 09 §3 (by :func:`train_ablation`)."""
    if row.loss != model.loss_name:
        raise GANConfigError(f"Row {row.name!r} needs loss {row.loss!r}, the GAN has "
                             f"{model.loss_name!r}.")
    for variable, value in zip(model.variables, initial, strict=True):
        variable.assign(value)
    for optimizer, rate in ((model.d_optimizer, row.d_learning_rate),
                            (model.g_optimizer, row.g_learning_rate)):
        for variable in optimizer.variables:
            variable.assign(ops.zeros_like(variable))
        optimizer.learning_rate = rate
    model.set_label_smoothing(row.label_smoothing)


def _snapshot(model: GAN, build: Mapping[str, Any]) -> GAN:
    """A new, untrained-then-overwritten GAN holding a copy of ``model``'s two networks."""
    copy = build_gan(**build, loss=model.loss_name, label_smoothing=model.label_smoothing,
                     critic_steps=model.critic_steps)
    copy.generator.set_weights(model.generator.get_weights())
    copy.discriminator.set_weights(model.discriminator.get_weights())
    return copy


def train_ablation(images: np.ndarray, rows: tuple[AblationRow, ...] = TABLE1_ROWS, *,
                   steps: int, wgan_steps: int | None = None, epochs: int = 4,
                   batch_size: int = 64, latent_dim: int = 64, width: float = 1.0,
                   critic_steps: int = 1, seed: int = 0, time_budget: float | None = None,
                   verbose: bool = True) -> dict[str, AblationResult]:
    """Train one GAN per row from the same initial weights and seed on the same real images:
    ``steps`` generator steps for the BCE rows and ``wgan_steps`` (default ``steps``) for the
    WGAN-GP rows, whose every step also makes ``critic_steps`` critic updates. Prints one line
    per row.

    Rows with the same loss share one GAN object, :func:`restart`-ed before each row, so its
    training step is traced once per loss rather than once per row (tracing takes seconds, a
    few dozen steps far less); each result holds a copy of its row's trained networks.
    Used in 09 §3 (Table 1's ablation).
    """
    results: dict[str, AblationResult] = {}
    build = {"latent_dim": latent_dim, "width": width, "image_size": int(images.shape[1]),
             "seed": seed}
    shared: dict[str, tuple[GAN, list[np.ndarray]]] = {}
    for row in rows:
        wgan = row.loss == "wgan-gp"
        if row.loss not in shared:
            keras.utils.set_random_seed(seed)
            model = build_gan(**build, loss=row.loss, critic_steps=critic_steps if wgan else 1)
            shared[row.loss] = (model, [np.array(v) for v in model.variables])
        model, initial = shared[row.loss]
        restart(model, initial, row)
        run = train_gan(model, images, (wgan_steps or steps) if wgan else steps, epochs=epochs,
                        batch_size=batch_size, seed=seed, time_budget=time_budget)
        if verbose:
            print(f"{row.name:<22} {row.rates}: {run.summary()}")
        results[row.name] = AblationResult(row, _snapshot(model, build), run)
    return results


def plot_ablation_gradients(results: Mapping[str, AblationResult], window: int = 5,
                            title: str = "Gradient norms per Table 1 row") -> plt.Figure:
    """One panel per ablation row: the global L2 gradient norm of the generator and of the
    discriminator per generator step (log scale, moving average over ``window`` steps), as the
    project's Figure 3 tracks its generators' gradients. Used in 09 §4."""
    if not results:
        raise ValueError("No ablation results to plot.")
    ncols = min(3, len(results))
    nrows = math.ceil(len(results) / ncols)
    fig, axes = plt.subplots(nrows, ncols, figsize=(4.2 * ncols, 3.0 * nrows), squeeze=False,
                             sharex=True)
    columns = (("g_grad_norm", "generator"), ("d_grad_norm", "discriminator"))
    for ax, (name, result) in zip(axes.flat, results.items()):
        steps = result.run.steps
        for i, (column, label) in enumerate(columns):
            ax.plot(steps.index, _smooth(steps[column], window), color=f"C{i}", label=label)
        ax.set_yscale("log")
        ax.set(title=f"{name} ({result.row.rates})", xlabel="generator step",
               ylabel="gradient L2 norm (log)")
        ax.title.set_fontsize(9)
    for ax in list(axes.flat)[len(results):]:
        ax.set_visible(False)
    axes.flat[0].legend(fontsize=8)
    fig.suptitle(title)
    fig.tight_layout()
    return fig


def table1_comparison(results: Mapping[str, AblationResult], distances: pd.Series
                      ) -> pd.DataFrame:
    """The project's FID of each row (:mod:`dflearn.study`, Table 1) beside our Fréchet
    distance (``distances``: row name -> value, named after its feature space), with both
    rankings (1 = lowest distance = best). Used in 09 §5 (Table 1 beside ours)."""
    from dflearn import study

    names = [n for n in results if n in distances.index]
    if not names:
        raise ValueError(f"None of the ablation rows {list(results)} has a distance.")
    table = pd.DataFrame({
        "rates": [results[n].row.rates for n in names],
        "project_fid": [study.value(f"gan/table1/{results[n].row.key}/fid") for n in names],
        f"our {distances.name}": [float(distances[n]) for n in names]}, index=names)
    table.index.name = "Table 1 row"
    table["project_rank"] = table["project_fid"].rank(method="min").astype(int)
    table["our_rank"] = table[f"our {distances.name}"].rank(method="min").astype(int)
    return table


def ordering_summary(table: pd.DataFrame, baseline: str = "Baseline",
                     wgan: str = "WGAN-GP") -> dict[str, Any]:
    """How our ordering of the ablation rows compares with the project's (``table`` from
    :func:`table1_comparison`): Spearman's rank correlation, whether the orderings are the
    same, and whether WGAN-GP has the lower distance than the baseline in each. Distances, not
    accuracies: no interval, so this reports orderings and does not judge. Used in 09 §5."""
    from scipy.stats import spearmanr

    ours = table[[c for c in table.columns if c.startswith("our ") and c != "our_rank"][0]]
    rho = float(spearmanr(table["project_fid"], ours).statistic)
    project_order = list(table["project_fid"].sort_values(kind="stable").index)
    our_order = list(ours.sort_values(kind="stable").index)
    return {"spearman_rho": rho, "same_ordering": project_order == our_order,
            "project_order": project_order, "our_order": our_order,
            "project_wgan_beats_baseline": bool(table.loc[wgan, "project_fid"]
                                                < table.loc[baseline, "project_fid"]),
            "our_wgan_beats_baseline": bool(ours[wgan] < ours[baseline])}


def describe_ordering(summary: Mapping[str, Any]) -> str:
    """Two sentences from :func:`ordering_summary`: same or different ordering, and the
    WGAN-GP vs baseline comparison in both. Used in 09 §5."""
    same = ("the same ordering as" if summary["same_ordering"]
            else "a different ordering from")
    theirs = "beats" if summary["project_wgan_beats_baseline"] else "does not beat"
    ours = "beats" if summary["our_wgan_beats_baseline"] else "does not beat"
    return (f"Our distances put the {len(summary['our_order'])} rows in {same} the "
            f"project's FIDs (Spearman rho = {summary['spearman_rho']:.2f}; ours, best first: "
            f"{', '.join(summary['our_order'])}). In the project WGAN-GP {theirs} the baseline; "
            f"on our data it {ours} it.")


# --------------------------------------------------------------------------- Table 3: discriminators

# The project's Table 3 models we build (4 is Model 3 with a changed dropout: no face crops here).
DISCRIMINATOR_MODELS: tuple[int, ...] = (1, 2, 3, 4, 5, 6)
# The report gives no filter counts nor the changed dropout rates: these are ours.
CONV_FILTERS: tuple[int, ...] = (32, 64, 128)
# conv-block dropout (None: none), dense layers, dense dropout, L2 factor per model 1-5.
_CNN_PLANS: Mapping[int, tuple[float | None, tuple[int, ...], float, float]] = {
    1: (None, (128,), 0.5, 0.0),
    2: (0.25, (128,), 0.5, 0.0),
    3: (0.25, (128, 64), 0.4, 0.0),
    4: (0.25, (128, 64), 0.3, 0.0),
    5: (0.25, (128, 64), 0.3, 0.01),
}


def _conv_block(x: keras.KerasTensor, filters: int, name: str,
                regularizer: keras.regularizers.Regularizer | None) -> keras.KerasTensor:
    """Conv2D 3x3 with ReLU -> BatchNorm -> 2x2 max-pooling (the project's Model 1 block)."""
    x = layers.Conv2D(filters, 3, padding="same", activation="relu",
                      kernel_regularizer=regularizer, name=name)(x)
    x = layers.BatchNormalization(name=f"{name}_bn")(x)
    return layers.MaxPooling2D(2, name=f"{name}_pool")(x)


def _discriminator_cnn(k: int, input_size: int, width: float) -> keras.Model:
    """Models 1-5: two (1, 2) or three (3-5) conv blocks, Flatten, Dense ReLU layers with
    dropout, a sigmoid P(REAL); Model 5 puts L2 0.01 on every layer but the output."""
    conv_dropout, dense_units, dense_dropout, l2 = _CNN_PLANS[k]
    regularizer = keras.regularizers.L2(l2) if l2 else None
    inputs, x = image_input(input_size)
    for i, filters in enumerate(CONV_FILTERS[:2 if k <= 2 else 3], start=1):
        x = _conv_block(x, scaled(filters, width), f"conv{i}", regularizer)
    if conv_dropout:
        x = layers.Dropout(conv_dropout, name="conv_dropout")(x)
    x = layers.Flatten(name="flatten")(x)
    for i, units in enumerate(dense_units, start=1):
        x = layers.Dense(scaled(units, width), activation="relu", kernel_regularizer=regularizer,
                         name=f"dense{i}")(x)
        x = layers.Dropout(dense_dropout, name=f"dense{i}_dropout")(x)
    return keras.Model(inputs, classifier_head(x, "sigmoid"), name=f"model_{k}")


def _discriminator_resnet50(input_size: int, resnet_size: int, weights: str | None
                            ) -> keras.Model:
    """Model 6: a frozen ResNet50 (no top) -> GAP -> Dense 256 ReLU -> Dropout 0.5 -> sigmoid.
    Images are upsized to ``resnet_size`` and get ResNet50's own preprocessing."""
    base, used = load_backbone("resnet50", resnet_size, weights)
    base.trainable = False
    inputs = keras.Input(shape=(input_size, input_size, 3), name="image")
    x = inputs
    if resnet_size != input_size:
        x = layers.Resizing(resnet_size, resnet_size, name="upsize")(x)
    x = BackbonePreprocess("resnet50", name="resnet50_preprocess")(x)
    x = base(x, training=False)
    x = layers.GlobalAveragePooling2D(name="gap")(x)
    x = layers.Dense(256, activation="relu", name="dense256")(x)
    x = layers.Dropout(0.5, name="dense256_dropout")(x)
    name = "model_6_resnet50" + ("" if used == IMAGENET else "_random_init")
    return keras.Model(inputs, classifier_head(x, "sigmoid"), name=name)


def discriminator_model(k: int, input_size: int = 32, width: float = 1.0,
                        weights: str | None = IMAGENET, resnet_size: int = 224) -> keras.Model:
    """The GAN project's discriminator Model ``k`` (Table 3) for ``input_size`` images of 0-255
    pixels, with a 1-unit sigmoid P(REAL). 1: two conv blocks (Conv ReLU, BatchNorm,
    max-pooling), Dense 128, Dropout 0.5; 2: + Dropout 0.25 after the conv blocks (trained with
    augmentation); 3: a third conv block and a second Dense layer (trained with learning-rate
    decay); 4: Model 3 with a lower dense dropout; 5: Model 4 with L2 0.01 on every layer but
    the output; 6: frozen ResNet50 with ``weights`` (offline: random init, said in one line).
    ``width`` scales the filters and units of 1-5. Used in 09 §7."""
    if k not in DISCRIMINATOR_MODELS:
        raise GANConfigError(f"Table 3 has models {DISCRIMINATOR_MODELS}, not {k!r}.")
    if k == 6:
        return _discriminator_resnet50(input_size, resnet_size, weights)
    return _discriminator_cnn(k, input_size, width)


def discriminator_fit_options(k: int, epochs: int, extra_epochs: int = 5,
                              resnet_epochs: int = 8) -> dict[str, Any]:
    """How Model ``k`` is trained (arguments of :func:`dflearn.training.fit`): augmentation from
    Model 2 to 5, learning-rate decay (cosine) from Model 3 on, ``extra_epochs`` more for
    Model 5 ("5 more epochs than usual") and ``resnet_epochs`` for Model 6. Used in 09 §7."""
    if k not in DISCRIMINATOR_MODELS:
        raise GANConfigError(f"Table 3 has models {DISCRIMINATOR_MODELS}, not {k!r}.")
    return {"epochs": resnet_epochs if k == 6 else epochs + (extra_epochs if k == 5 else 0),
            "augment": 2 <= k <= 5, "photometric": 2 <= k <= 5,
            "schedule": "cosine" if k >= 3 else None, "patience": 0}


def discriminator_study(splits: Any, models: tuple[int, ...] = DISCRIMINATOR_MODELS, *,
                        epochs: int = 10, extra_epochs: int = 5, resnet_epochs: int = 8,
                        batch_size: int = 64, width: float = 1.0, weights: str | None = IMAGENET,
                        resnet_size: int = 224, seed: int = 0, time_budget: float | None = None,
                        run_eagerly: bool = False, train_per_class: int | None = None
                        ) -> pd.DataFrame:
    """Train each Table 3 model on ``splits.train`` (``train_per_class`` images per class of
    it when given; validated on ``splits.val``) with
    :func:`dflearn.training.fit` and measure it on ``splits.test``: accuracy, loss, precision
    and recall (FAKE positive, as the project defines them), each beside the project's value
    from :mod:`dflearn.study`. Prints one line per model. Used in 09 §7."""
    from dflearn import study

    rows = []
    size = int(splits.train.images.shape[1])
    train = balanced_subset(splits.train, train_per_class, seed) if train_per_class \
        else splits.train
    for k in models:
        keras.utils.set_random_seed(seed)
        model = discriminator_model(k, size, width, weights, resnet_size)
        options = discriminator_fit_options(k, epochs, extra_epochs, resnet_epochs)
        result = fit(model, train, splits.val, batch_size=batch_size, seed=seed,
                     time_budget=time_budget, run_eagerly=run_eagerly, **options)
        print(f"Model {k} ({model.name}, {model.count_params():,} parameters): "
              f"{result.summary()}")
        ours = evaluate(model, splits.test)
        row: dict[str, Any] = {"model": f"Model {k}", "network": model.name,
                               "test_images": len(splits.test.labels)}
        for metric, column in (("accuracy", "accuracy"), ("loss", "loss"),
                               ("precision", "precision_FAKE"), ("recall", "recall_FAKE")):
            row[f"project_{metric}"] = study.value(f"gan/table3/model_{k}/{metric}")
            row[f"our_{metric}"] = float(ours[column])
        rows.append(row)
    return pd.DataFrame(rows).set_index("model")



# The project's claims about its discriminators (section 6.5, Table 3), as (better, worse, its
# words): each is an ordering claim, judged on our test accuracies by dflearn.study's rule.
TABLE3_CLAIMS: tuple[tuple[str, str, str], ...] = (
    ("Model 3", "Model 2", "Model 3 (deeper, learning-rate decay) beats Model 2 "
                           "(augmentation, dropout)"),
    ("Model 1", "Model 2", "Model 1 (two-conv CNN) beats Model 2 (plus augmentation, dropout)"),
    ("Model 4", "Model 5", "Model 4 beats Model 5 (L2 0.01 on every layer)"),
)


def table3_findings(table3: pd.DataFrame) -> pd.DataFrame:
    """The project's discriminator claims (:data:`TABLE3_CLAIMS`) judged with
    :func:`dflearn.study.judge_order` on ``table3`` (:func:`discriminator_study`'s table: indexed
    by model, with ``our_accuracy``, ``project_accuracy`` and ``test_images``); claims about a
    model ``table3`` lacks are left out. The project's data are DeepFakeFace faces, ours CIFAKE
    objects: a verdict says whether its ordering carries over, not whether its numbers do.
    Used in 09 §6 (``09/findings``)."""
    verdicts = [study.judge_order(a, table3.at[a, "our_accuracy"], int(table3.at[a, "test_images"]),
                                  b, table3.at[b, "our_accuracy"], int(table3.at[b, "test_images"]),
                                  seed_a=table3.at[a, "project_accuracy"],
                                  seed_b=table3.at[b, "project_accuracy"], finding=words)
                for a, b, words in TABLE3_CLAIMS if a in table3.index and b in table3.index]
    return study.findings_table(verdicts)


# --------------------------------------------------------------------------- the open task

Score = Callable[[np.ndarray], np.ndarray]


def gan_score_auc(score: Score, real_images: np.ndarray, generated_images: np.ndarray,
                  seed: int = 0) -> float:
    """ROC-AUC of ``score(images)`` (one number per image, meant to be higher for generated
    images) with the generated images as the positive class: 1 when every generated image
    scores above every real one, 0.5 for chance, below 0.5 when the score points the wrong way.

    ``score`` is called once on both sets together, in a seeded random order, so neither the
    position of an image nor the batch's make-up gives its class away. Raises ``ValueError``
    naming what is wrong when ``score`` is not callable, a set is not a batch of images, the
    two sets' image shapes differ, or ``score`` does not return one finite number per image.
    Used in 09 §8 (the open-ended task).
    """
    if not callable(score):
        raise ValueError(f"score must be a function of a batch of images, got {type(score).__name__}.")
    real = check_images(real_images, "real_images")
    generated = check_images(generated_images, "generated_images")
    if real.shape[1:] != generated.shape[1:]:
        raise ValueError(f"real and generated images differ in shape: {real.shape[1:]} and "
                         f"{generated.shape[1:]}; resize one set to the other's size.")
    images = np.concatenate([real, generated])
    is_generated = np.repeat([False, True], [len(real), len(generated)])
    order = np.random.default_rng(seed).permutation(len(images))
    values = image_scores(score(images[order]), len(images), "The score")
    return float(roc_auc_score(is_generated[order], values))


def open_task_auc(score: Score, data: Dataset, model: GAN | keras.Model, seed: int) -> float:
    """:func:`gan_score_auc` of ``score`` between the REAL images of ``data`` and as many fresh
    samples of ``model`` (a :class:`GAN` or its generator) made from noise drawn with ``seed``.
    Raises ``ValueError`` when ``data`` holds no REAL image. Used in 09 §8 (its check and the
    hidden test, which draws noise with a seed the student never sees)."""
    real = data.images[data.labels == REAL]
    if len(real) == 0:
        raise ValueError(f"The data hold no REAL image (counts: {data.counts()}); pass a split "
                         f"with REAL images.")
    return gan_score_auc(score, real, generate(model, len(real), seed=seed), seed=seed)


# --------------------------------------------------------------------------- saved detectors


def load_saved_detectors(session: Any, saved: Mapping[str, str]) -> dict[str, keras.Model]:
    """The saved course models among ``saved`` (label -> artifact name), each with the line
    :func:`dflearn.artifacts.load_or_train` prints (``loaded 05_grid_best (trained by
    05_age_classifier_grid, ...)``) or one saying it is absent. Nothing is trained or saved.
    Used in 09 §6."""
    from dflearn import artifacts

    found: dict[str, keras.Model] = {}
    for label, name in saved.items():
        if not artifacts.model_path(session, name).exists():
            print(f"{name}: not saved under profile '{session.profile.name}' (its notebook "
                  f"saves it), skipped")
            continue
        found[label], how = artifacts.load_or_train(session, name, _never_train, save=False)
        print(how)
    return found


def _never_train() -> keras.Model:
    raise GANConfigError("load_saved_detectors only loads models that are saved.")
