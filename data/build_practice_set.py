"""Build the embedded dflearn practice set (a small CIFAKE-style data set).

REAL images are 32x32 crops of permissively licensed photographs that ship
inside PyPI packages (scikit-image, scikit-learn, matplotlib); whole photos
are held out for the test split.  FAKE images are samples of a small GAN that
this script trains from scratch on a separate pool of REAL crops of the
training photos.  The generator renders 80x80 images (nearest-neighbour
upsampling followed by convolutions) whose central 64x64 window is downscaled
to 32x32 with the same Lanczos filter the REAL crops get, so the FAKEs carry
no generator-grid fingerprint.  Each FAKE then takes the radial DCT amplitude
spectrum and the per-channel histogram of a random crop of the generator's
training pool, and is mirrored with probability 1/2 like every REAL crop, so
global colour and spectrum statistics say nothing about the label; what is
left is the generator's structure.  See data/README.md for details and the
measured baselines of each variant.

Usage::

    python data/build_practice_set.py              # rebuild data/practice
    python data/build_practice_set.py --evaluate   # ... and print the baselines
    python data/build_practice_set.py --eval-only  # only print the baselines
    python data/build_practice_set.py --variant transposed-32 --out /tmp/p
"""

from __future__ import annotations

import argparse
import hashlib
import os
import shutil
import sys
import time
from dataclasses import dataclass, replace
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
os.environ.setdefault("KERAS_BACKEND", "tensorflow")

import numpy as np  # noqa: E402
from PIL import Image  # noqa: E402

SEED = 1234
IMG_SIZE = 32
N_TRAIN = 1000  # per class
N_TEST = 250  # per class
N_POOL = 6000  # REAL crops of the training photos used only to train the generator
JPEG_QUALITY = 95
JPEG_SUBSAMPLING = 0  # 4:4:4, identical for REAL and FAKE
MIN_CROP_STD = 0.04  # reject nearly flat crops (std of grey levels in [0, 1])
MIN_SCALE = 2.0  # every REAL crop is downscaled at least 2x, like every FAKE ...
MAX_SCALE = 8.0  # ... and at most 8x
RESAMPLE = Image.Resampling.LANCZOS  # the one downscaling filter, for both classes

LATENT_DIM = 64
GAN_BATCH = 32
GEN_CHANNELS = (64, 32, 16, 8)  # after each doubling of the generator's resolution
WINDOW = 64  # a render's central 64x64 window is downscaled 2x to 32x32
GAN_LR = 2e-4
EMA_DECAY = 0.99
SAMPLE_BATCH = 250

DATA_DIR = Path(__file__).resolve().parent
REPO_DIR = DATA_DIR.parent
DEFAULT_OUT = DATA_DIR / "practice"
SPLITS = ("train", "test")
CLASSES = ("REAL", "FAKE")
TEST_PHOTOS: frozenset[str] = frozenset({"coffee", "china", "grace_hopper"})  # see SOURCES


@dataclass(frozen=True)
class Variant:
    """How the FAKE images are made; ``VARIANTS`` lists the measured ones.

    ``arch`` is ``"upsample"`` (nearest-neighbour upsampling + 3x3 convolution) or
    ``"transposed"`` (4x4 transposed convolutions with stride 2).  The
    generator renders ``render`` x ``render`` pixels.  A render of 32 is the
    sample; a larger render (80) has its central ``WINDOW`` x ``WINDOW``
    pixels downscaled to 32x32 with ``RESAMPLE``, the outer 8 pixels serving
    as the filter's support like the photo around a REAL crop (in the graph
    while training, by Pillow when sampling).  ``photo_split`` holds whole
    photos out for test; otherwise train and test are different crops of
    the same photos.  ``jpeg_quality`` is used for every file of both classes.
    ``batch_stats``: see ``sample_fakes``.  ``test_photos`` names the
    photos held out for test when ``photo_split`` is set.  ``match_stats`` and
    ``mirror``: see ``finish_fakes``.
    """

    name: str
    arch: str
    render: int
    steps: int
    photo_split: bool = True
    jpeg_quality: int = JPEG_QUALITY
    batch_stats: bool = True
    test_photos: frozenset[str] = TEST_PHOTOS
    match_stats: bool = True
    mirror: bool = True


VARIANTS: dict[str, Variant] = {
    v.name: v
    for v in (
        Variant("upsample-80", "upsample", 80, 1500),
        Variant("transposed-32", "transposed", 32, 1500),
    )
}
DEFAULT_VARIANT = "upsample-80"


@dataclass(frozen=True)
class Source:
    """One source photograph and where its licence is documented."""

    name: str
    package: str
    relpath: str
    licence: str


SOURCES: tuple[Source, ...] = (
    Source("astronaut", "skimage", "data/astronaut.png", "public domain (NASA)"),
    Source("chelsea", "skimage", "data/chelsea.png", "CC0 (Stefan van der Walt)"),
    Source("coffee", "skimage", "data/coffee.png", "CC0 (Rachel Michetti)"),
    Source("rocket", "skimage", "data/rocket.jpg", "public domain (SpaceX)"),
    Source("hubble", "skimage", "data/hubble_deep_field.jpg", "public domain (NASA)"),
    Source("ihc", "skimage", "data/ihc.png", "no known copyright restrictions"),
    Source("retina", "skimage", "data/retina.jpg", "CC0 (Mikael Haggstrom)"),
    Source("china", "sklearn", "datasets/images/china.jpg", "CC BY 2.0"),
    Source("flower", "sklearn", "datasets/images/flower.jpg", "CC BY 2.0"),
    Source(
        "grace_hopper",
        "matplotlib",
        "mpl-data/sample_data/grace_hopper.jpg",
        "public domain (US Navy photograph)",
    ),
)


# --------------------------------------------------------------------------
# REAL crops
# --------------------------------------------------------------------------


def package_dir(package: str) -> Path:
    """Return the installation folder of an importable package."""
    module = __import__(package)
    return Path(module.__file__).resolve().parent


def load_source(source: Source) -> Image.Image:
    """Load a source photograph from the installed package as RGB."""
    path = package_dir(source.package) / source.relpath
    if not path.is_file():
        raise FileNotFoundError(
            f"source photo missing: {path}; install the pinned requirements "
            f"(pip install -r requirements.txt) so that {source.package} ships it"
        )
    with Image.open(path) as img:
        return img.convert("RGB")


def random_crop(photo: Image.Image, rng: np.random.Generator) -> np.ndarray:
    """Downsample ``photo`` by a random factor and cut a random 32x32 crop.

    The crop is a box of side ``32 * scale`` in the original photo, resized
    to 32x32 with ``RESAMPLE``, which is the same as downsampling the whole
    photo first and cropping afterwards.  ``scale`` is log-uniform in
    [MIN_SCALE, MAX_SCALE] (capped by the photo size).
    """
    width, height = photo.size
    max_scale = min(MAX_SCALE, min(width, height) / (1.25 * IMG_SIZE))
    scale = float(np.exp(rng.uniform(np.log(MIN_SCALE), np.log(max_scale))))
    side = IMG_SIZE * scale
    left = rng.uniform(0.0, width - side)
    top = rng.uniform(0.0, height - side)
    box = (left, top, left + side, top + side)
    arr = np.asarray(photo.resize((IMG_SIZE, IMG_SIZE), RESAMPLE, box=box), dtype=np.uint8)
    if rng.random() < 0.5:
        arr = arr[:, ::-1]
    return np.ascontiguousarray(arr)


def crop_hash(arr: np.ndarray) -> str:
    """Return a content hash of a uint8 image array."""
    return hashlib.sha1(arr.tobytes()).hexdigest()


def is_informative(arr: np.ndarray) -> bool:
    """Reject almost uniform crops (e.g. empty black sky)."""
    return float(arr.mean(axis=2).std()) / 255.0 >= MIN_CROP_STD


def sample_real_crops(
    photos: list[Image.Image],
    n: int,
    rng: np.random.Generator,
    seen: set[str],
) -> tuple[np.ndarray, np.ndarray]:
    """Sample ``n`` unique crops of ``photos``, each photo chosen uniformly.

    ``seen`` holds the hashes of all crops drawn so far (all splits), so no
    crop appears twice anywhere.  Returns (images, photo indices).
    """
    images = np.empty((n, IMG_SIZE, IMG_SIZE, 3), dtype=np.uint8)
    sources = np.empty(n, dtype=np.int64)
    count = 0
    while count < n:
        index = int(rng.integers(len(photos)))
        arr = random_crop(photos[index], rng)
        digest = crop_hash(arr)
        if digest in seen or not is_informative(arr):
            continue
        seen.add(digest)
        images[count] = arr
        sources[count] = index
        count += 1
    return images, sources


def photo_groups(
    photo_split: bool, test_photos: frozenset[str] = TEST_PHOTOS
) -> tuple[list[Source], list[Source]]:
    """(train photos, test photos): disjoint with ``photo_split``, else all for both."""
    if not photo_split:
        return list(SOURCES), list(SOURCES)
    unknown = set(test_photos) - {s.name for s in SOURCES}
    if unknown or not test_photos or len(test_photos) == len(SOURCES):
        raise ValueError(
            f"test photos must be some, not all, of {', '.join(s.name for s in SOURCES)}; "
            f"got {', '.join(sorted(test_photos)) or 'none'}"
        )
    train = [s for s in SOURCES if s.name not in test_photos]
    test = [s for s in SOURCES if s.name in test_photos]
    return train, test


# --------------------------------------------------------------------------
# Generator (a small GAN)
# --------------------------------------------------------------------------


def configure_tensorflow(threads: int) -> None:
    """Make TensorFlow deterministic and limit its CPU threads."""
    import keras
    import tensorflow as tf

    tf.config.threading.set_intra_op_parallelism_threads(threads)
    tf.config.threading.set_inter_op_parallelism_threads(1)
    tf.config.experimental.enable_op_determinism()
    keras.utils.set_random_seed(SEED)


def upsampling_block(x, channels: int, arch: str):
    """Double the resolution: nearest-neighbour upsampling + 3x3 conv, or a transposed conv."""
    from keras import layers

    if arch == "upsample":
        x = layers.UpSampling2D(2, interpolation="nearest")(x)
        return layers.Conv2D(channels, 3, padding="same", use_bias=False)(x)
    if arch == "transposed":
        return layers.Conv2DTranspose(channels, 4, strides=2, padding="same", use_bias=False)(x)
    raise ValueError(f"unknown generator architecture {arch!r}: use 'upsample' or 'transposed'")


def build_generator(arch: str, render: int, latent_dim: int = LATENT_DIM):
    """Generator: latent vector -> ``render`` x ``render`` x 3 image in [-1, 1].

    Dense base x base x 64 (base 4 for a render of 32, 5 for 80), then one
    upsampling block per doubling (``GEN_CHANNELS``, BatchNorm + ReLU each),
    then a 3x3 conv to RGB and tanh.
    """
    import keras
    from keras import layers

    bases = {IMG_SIZE: 4, WINDOW + 16: 5}
    if render not in bases:
        raise ValueError(f"render size must be one of {sorted(bases)}, got {render}")
    base = bases[render]
    doublings = int(round(np.log2(render / base)))
    z = keras.Input(shape=(latent_dim,), name="z")
    x = layers.Dense(base * base * 64, use_bias=False)(z)
    x = layers.BatchNormalization()(x)
    x = layers.ReLU()(x)
    x = layers.Reshape((base, base, 64))(x)
    for channels in GEN_CHANNELS[:doublings]:
        x = upsampling_block(x, channels, arch)
        x = layers.BatchNormalization()(x)
        x = layers.ReLU()(x)
    x = layers.Conv2D(3, 3, padding="same")(x)
    image = layers.Activation("tanh", name="image")(x)
    return keras.Model(z, image, name=f"generator_{arch}_{render}")


def build_discriminator(width: int = 32):
    """Discriminator: 32x32x3 image -> real/fake logit."""
    import keras
    from keras import layers

    image = keras.Input(shape=(IMG_SIZE, IMG_SIZE, 3), name="image")
    x = image
    for channels in (width, width * 2, width * 4):
        x = layers.Conv2D(channels, 4, strides=2, padding="same")(x)
        x = layers.LeakyReLU(0.2)(x)
    x = layers.Flatten()(x)
    logit = layers.Dense(1, name="logit")(x)
    return keras.Model(image, logit, name="discriminator")


def window_box(render: int) -> tuple[int, int, int, int]:
    """The central ``WINDOW`` x ``WINDOW`` box of a ``render`` x ``render`` image."""
    margin = (render - WINDOW) // 2
    return (margin, margin, margin + WINDOW, margin + WINDOW)


def resize_matrix(render: int) -> np.ndarray:
    """The ``(32, render)`` matrix of Pillow's ``RESAMPLE`` resize of ``window_box`` in 1-D.

    Each column is Pillow's float resize of a unit impulse, so ``M @ row``
    is what Pillow does to a row (up to its uint8 rounding).
    """
    left, _, right, _ = window_box(render)
    matrix = np.empty((IMG_SIZE, render), dtype=np.float32)
    for i in range(render):
        impulse = np.zeros((1, render), dtype=np.float32)
        impulse[0, i] = 1.0
        resized = Image.fromarray(impulse, mode="F").resize(
            (IMG_SIZE, 1), RESAMPLE, box=(left, 0, right, 1)
        )
        matrix[:, i] = np.asarray(resized, dtype=np.float32)[0]
    return matrix


def downscale_in_graph(images, matrix):
    """Downscale a batch's central window to 32x32 with ``RESAMPLE`` (differentiable)."""
    import tensorflow as tf

    if matrix is None:
        return images
    m = tf.constant(matrix)
    return tf.einsum("ij,njkc,lk->nilc", m, images, m)


def to_unit_range(images: np.ndarray) -> np.ndarray:
    """uint8 [0, 255] -> float32 [-1, 1]."""
    return images.astype(np.float32) / 127.5 - 1.0


def to_uint8(images: np.ndarray) -> np.ndarray:
    """float [-1, 1] -> uint8 [0, 255]."""
    return np.clip(np.rint((images + 1.0) * 127.5), 0, 255).astype(np.uint8)


def make_train_step(generator, discriminator, ema_generator, matrix):
    """Return a compiled GAN training step (non-saturating loss)."""
    import keras
    import tensorflow as tf

    g_opt = keras.optimizers.Adam(GAN_LR, beta_1=0.5)
    d_opt = keras.optimizers.Adam(GAN_LR, beta_1=0.5)
    bce = keras.losses.BinaryCrossentropy(from_logits=True)
    g_vars = generator.trainable_variables
    d_vars = discriminator.trainable_variables

    @tf.function
    def train_step(real, z) -> tuple[tf.Tensor, tf.Tensor]:
        with tf.GradientTape() as g_tape, tf.GradientTape() as d_tape:
            fake = downscale_in_graph(generator(z, training=True), matrix)
            real_logit = discriminator(real, training=True)
            fake_logit = discriminator(fake, training=True)
            d_loss = bce(tf.ones_like(real_logit), real_logit) + bce(
                tf.zeros_like(fake_logit), fake_logit
            )
            g_loss = bce(tf.ones_like(fake_logit), fake_logit)
        g_opt.apply_gradients(zip(g_tape.gradient(g_loss, g_vars), g_vars))
        d_opt.apply_gradients(zip(d_tape.gradient(d_loss, d_vars), d_vars))
        for ema_var, var in zip(ema_generator.weights, generator.weights):
            ema_var.assign(EMA_DECAY * ema_var + (1.0 - EMA_DECAY) * var)
        return d_loss, g_loss

    return train_step


def train_generator(pool: np.ndarray, rng: np.random.Generator, variant: Variant):
    """Train the GAN on the REAL pool; return the EMA generator."""
    generator = build_generator(variant.arch, variant.render)
    discriminator = build_discriminator()
    ema_generator = build_generator(variant.arch, variant.render)
    ema_generator.set_weights(generator.get_weights())
    matrix = resize_matrix(variant.render) if variant.render != IMG_SIZE else None
    train_step = make_train_step(generator, discriminator, ema_generator, matrix)
    data = to_unit_range(pool)
    order = rng.permutation(len(data))
    cursor = 0
    start = time.time()
    for step in range(1, variant.steps + 1):
        if cursor + GAN_BATCH > len(order):
            order, cursor = rng.permutation(len(data)), 0
        batch = data[order[cursor : cursor + GAN_BATCH]]
        cursor += GAN_BATCH
        z = rng.standard_normal((GAN_BATCH, LATENT_DIM)).astype(np.float32)
        d_loss, g_loss = train_step(batch, z)
        if step % 250 == 0 or step == variant.steps:
            print(
                f"  GAN step {step:5d}/{variant.steps}  d_loss={float(d_loss):.3f}"
                f"  g_loss={float(g_loss):.3f}  ({time.time() - start:.0f}s)",
                flush=True,
            )
    return ema_generator


def render_to_32(batch: np.ndarray) -> np.ndarray:
    """uint8 renders ``(N, S, S, 3)`` -> 32x32: the central window resized with Pillow's
    ``RESAMPLE``, exactly as a REAL crop's box is."""
    if batch.shape[1] == IMG_SIZE:
        return batch
    box = window_box(batch.shape[1])
    return np.stack(
        [
            np.asarray(Image.fromarray(arr).resize((IMG_SIZE, IMG_SIZE), RESAMPLE, box=box))
            for arr in batch
        ]
    )


def sample_fakes(
    generator, n: int, rng: np.random.Generator, seen: set[str], batch_stats: bool = True
) -> np.ndarray:
    """Draw ``n`` unique 32x32 images from the generator using random latent noise.

    With ``batch_stats`` BatchNorm normalises with the statistics of each
    batch of ``SAMPLE_BATCH`` latents, as in training: the EMA generator's
    moving averages belong to the raw generator's weights, not to its own,
    and give washed-out, low-contrast samples.
    """
    out: list[np.ndarray] = []
    while len(out) < n:
        z = rng.standard_normal((SAMPLE_BATCH, LATENT_DIM)).astype(np.float32)
        batch = render_to_32(to_uint8(np.asarray(generator(z, training=batch_stats))))
        for arr in batch:
            digest = crop_hash(arr)
            if digest not in seen and len(out) < n:
                seen.add(digest)
                out.append(arr)
    return np.stack(out)


# --------------------------------------------------------------------------
# Matching the FAKEs' global statistics to REAL crops
# --------------------------------------------------------------------------

_U, _V = np.meshgrid(np.arange(IMG_SIZE), np.arange(IMG_SIZE), indexing="ij")
DCT_RING = np.sqrt(_U**2 + _V**2).round().astype(int)  # radial frequency of each DCT coefficient
_RING_SIZES = np.bincount(DCT_RING.ravel())


def radial_profile(amplitude: np.ndarray) -> np.ndarray:
    """Mean of a 32x32 DCT amplitude over each ring of ``DCT_RING``."""
    return np.bincount(DCT_RING.ravel(), amplitude.ravel(), len(_RING_SIZES)) / _RING_SIZES


def histogram_match(channel: np.ndarray, reference: np.ndarray) -> np.ndarray:
    """``channel``'s pixels, in their own rank order, replaced by ``reference``'s sorted values."""
    out = np.empty(channel.shape, dtype=np.float64)
    out.ravel()[np.argsort(channel.ravel(), kind="stable")] = np.sort(reference.ravel())
    return out


def match_statistics(fake: np.ndarray, reference: np.ndarray) -> np.ndarray:
    """One uint8 FAKE with the spectrum and colour histogram of one uint8 REAL ``reference``.

    Per channel: scale each ring of the orthonormal 2-D DCT (a mirror-extended
    spectrum, so the image's edges add no artefact) to the reference's mean
    amplitude on that ring, keeping every coefficient's sign and its relative size
    within the ring; then give the pixels the reference's values in the FAKE's own
    rank order (histogram matching).  The FAKE keeps its layout; the reference
    gives only the statistics notebook 02 measures.
    """
    from scipy.fft import dctn, idctn

    out = np.empty(fake.shape, dtype=np.float64)
    for c in range(fake.shape[-1]):
        coeffs = dctn(fake[..., c].astype(np.float64), norm="ortho")
        target = radial_profile(np.abs(dctn(reference[..., c].astype(np.float64), norm="ortho")))
        gain = target / np.maximum(radial_profile(np.abs(coeffs)), 1e-9)
        gain[0] = 1.0  # the mean is set by the histogram step
        shaped = idctn(coeffs * gain[DCT_RING], norm="ortho")
        out[..., c] = histogram_match(shaped, reference[..., c])
    return np.clip(np.round(out), 0, 255).astype(np.uint8)


def finish_fakes(
    images: np.ndarray, pool: np.ndarray, rng: np.random.Generator, variant: Variant
) -> np.ndarray:
    """The last steps of a FAKE: statistics of a random pool crop, then a random mirror.

    With ``variant.match_stats`` each image gets the spectrum and histogram of
    a pool crop drawn uniformly (``match_statistics``); the pool trained the
    generator and is apart from the REAL train and test images.  With
    ``variant.mirror`` each image is mirrored left to right with probability
    1/2, as every REAL crop is.
    """
    images = images.copy()
    if variant.match_stats:
        references = pool[rng.integers(len(pool), size=len(images))]
        images = np.stack([match_statistics(f, r) for f, r in zip(images, references)])
    if variant.mirror:
        mirrored = rng.random(len(images)) < 0.5
        images[mirrored] = images[mirrored, :, ::-1]
    return images


# --------------------------------------------------------------------------
# Writing the folder
# --------------------------------------------------------------------------


def check_target(out: Path) -> None:
    """Refuse to delete or write anything that is not a practice-set folder.

    Inside the repository only ``data/practice`` may be written; elsewhere
    the target must be new, empty, or an earlier build (JPEGs only).
    """
    shared = REPO_DIR.parent / "shared"
    if out != DEFAULT_OUT and (out == REPO_DIR or REPO_DIR in out.parents):
        sys.exit(f"refusing to write inside the repository except {DEFAULT_OUT}: {out}")
    if out in REPO_DIR.parents or out == Path.home().resolve() or out.parent == out:
        sys.exit(f"refusing to write to {out}")
    if out == shared or shared in out.parents:
        sys.exit(f"refusing to write inside {shared}: {out}")
    if out.exists() and not out.is_dir():
        sys.exit(f"refusing to overwrite {out}: not a folder")
    if out.exists():
        allowed = {f"{split}/{label}" for split in SPLITS for label in CLASSES}
        for path in out.rglob("*"):
            rel = path.relative_to(out).as_posix()
            if path.is_dir() and (rel in SPLITS or rel in allowed):
                continue
            folder = path.parent.relative_to(out).as_posix()
            if path.is_file() and path.suffix == ".jpg" and folder in allowed:
                continue
            sys.exit(f"refusing to overwrite {out}: unexpected entry {rel}")


def write_split(out: Path, split: str, label: str, images: np.ndarray, quality: int) -> None:
    """Write images as 0000.jpg, 0001.jpg, ... with one JPEG setting."""
    folder = out / split / label
    folder.mkdir(parents=True, exist_ok=False)
    for i, arr in enumerate(images):
        Image.fromarray(arr, mode="RGB").save(
            folder / f"{i:04d}.jpg",
            format="JPEG",
            quality=quality,
            subsampling=JPEG_SUBSAMPLING,
        )


def write_practice_set(
    out: Path, sets: dict[tuple[str, str], np.ndarray], quality: int = JPEG_QUALITY
) -> None:
    """Delete ``out`` (a previous build) and write all splits to it."""
    check_target(out)
    if out.exists():
        shutil.rmtree(out)
    out.mkdir(parents=True)
    for (split, label), images in sets.items():
        write_split(out, split, label, images, quality)


# --------------------------------------------------------------------------
# Baselines
# --------------------------------------------------------------------------


def load_split(root: Path, split: str) -> tuple[np.ndarray, np.ndarray]:
    """One split through dflearn's loader: (uint8 images, labels FAKE 0 / REAL 1)."""
    if str(REPO_DIR) not in sys.path:
        sys.path.insert(0, str(REPO_DIR))
    from dflearn.data import load_cifake

    images, labels, _ = load_cifake(root, split)
    return images, np.asarray(labels)


def logistic_regression_accuracy(root: Path) -> float:
    """Test accuracy of logistic regression on raw [0, 1] pixels."""
    from sklearn.linear_model import LogisticRegression

    x_train, y_train = load_split(root, "train")
    x_test, y_test = load_split(root, "test")
    model = LogisticRegression(max_iter=2000)
    model.fit(x_train.reshape(len(x_train), -1) / 255.0, y_train)
    return float(model.score(x_test.reshape(len(x_test), -1) / 255.0, y_test))


def classical_accuracy(root: Path) -> tuple[str, float]:
    """Best test accuracy of notebook 02's six models on its histogram + spectrum features.

    Uses ``dflearn.features.extract("histograms")`` and
    ``dflearn.classical.run_baselines`` with their defaults; the maximum over
    the models is an upper bound of what notebook 02 selects on validation.
    """
    from dflearn import classical, features

    x_train, y_train = load_split(root, "train")
    x_test, y_test = load_split(root, "test")
    feature_sets = {
        "histograms": (
            features.extract("histograms", x_train),
            features.extract("histograms", x_test),
        )
    }
    table, _ = classical.run_baselines(feature_sets, y_train, y_test, seed=SEED)
    return str(table.index[0]), float(table["accuracy"].iloc[0])


def build_small_cnn():
    """Two conv layers + dense head, binary output."""
    import keras
    from keras import layers

    image = keras.Input(shape=(IMG_SIZE, IMG_SIZE, 3), name="image")
    x = layers.Rescaling(1.0 / 255.0)(image)
    x = layers.Conv2D(16, 3, activation="relu", padding="same")(x)
    x = layers.MaxPooling2D()(x)
    x = layers.Conv2D(32, 3, activation="relu", padding="same")(x)
    x = layers.MaxPooling2D()(x)
    x = layers.Flatten()(x)
    x = layers.Dense(64, activation="relu")(x)
    prob = layers.Dense(1, activation="sigmoid", name="p_real")(x)
    return keras.Model(image, prob, name="small_cnn")


def small_cnn_accuracy(root: Path, epochs: int = 10) -> float:
    """Test accuracy of a small Keras CNN trained for a few epochs."""
    import keras

    keras.utils.set_random_seed(SEED)
    x_train, y_train = load_split(root, "train")
    x_test, y_test = load_split(root, "test")
    model = build_small_cnn()
    model.compile(
        optimizer=keras.optimizers.Adam(1e-3),
        loss="binary_crossentropy",
        metrics=["accuracy"],
    )
    model.fit(x_train, y_train, epochs=epochs, batch_size=32, shuffle=True, verbose=0)
    _, accuracy = model.evaluate(x_test, y_test, verbose=0)
    return float(accuracy)


def evaluate(root: Path) -> dict[str, float]:
    """Print and return the three target numbers of a practice-set folder."""
    results = {"logistic_regression": logistic_regression_accuracy(root)}
    print(f"logistic regression on raw pixels, test accuracy: {results['logistic_regression']:.3f}")
    best, results["classical"] = classical_accuracy(root)
    print(f"best classical model (02) on histograms+spectrum: {results['classical']:.3f} ({best})")
    results["small_cnn"] = small_cnn_accuracy(root)
    print(f"small CNN, test accuracy:                         {results['small_cnn']:.3f}")
    return results


# --------------------------------------------------------------------------
# Main
# --------------------------------------------------------------------------


def make_sets(variant: Variant) -> dict[tuple[str, str], np.ndarray]:
    """Sample REAL crops, train the generator, sample FAKEs: ``{(split, label): images}``."""
    rng = np.random.default_rng(SEED)
    t0 = time.time()
    train_sources, test_sources = photo_groups(variant.photo_split, variant.test_photos)
    train_photos = [load_source(source) for source in train_sources]
    test_photos = [load_source(source) for source in test_sources]
    seen: set[str] = set()
    pool, _ = sample_real_crops(train_photos, N_POOL, rng, seen)
    real_train, train_src = sample_real_crops(train_photos, N_TRAIN, rng, seen)
    real_test, test_src = sample_real_crops(test_photos, N_TEST, rng, seen)
    print(f"variant {variant}")
    print(f"sampled {N_POOL} pool + {N_TRAIN + N_TEST} REAL crops ({time.time() - t0:.0f}s)")
    groups = ((train_sources, train_src, "train"), (test_sources, test_src, "test"))
    for group, indices, split in groups:
        counts = ", ".join(f"{s.name}={int((indices == i).sum())}" for i, s in enumerate(group))
        print(f"  {split}: {counts}")
    generator = train_generator(pool, rng, variant)
    fake_train = finish_fakes(
        sample_fakes(generator, N_TRAIN, rng, seen, variant.batch_stats), pool, rng, variant
    )
    fake_test = finish_fakes(
        sample_fakes(generator, N_TEST, rng, seen, variant.batch_stats), pool, rng, variant
    )
    print(f"sampled {N_TRAIN + N_TEST} FAKEs ({time.time() - t0:.0f}s)")
    return {
        ("train", "REAL"): real_train,
        ("train", "FAKE"): fake_train,
        ("test", "REAL"): real_test,
        ("test", "FAKE"): fake_test,
    }


def build(out: Path, variant: Variant) -> None:
    """Make every image in memory, then (re)write ``out``."""
    check_target(out)
    sets = make_sets(variant)
    write_practice_set(out, sets, variant.jpeg_quality)
    print(f"wrote {sum(len(v) for v in sets.values())} images to {out}")


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    """Command-line options."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--out", type=Path, default=DEFAULT_OUT, help="output folder (default: data/practice)"
    )
    parser.add_argument(
        "--evaluate", action="store_true", help="print the three baseline accuracies"
    )
    parser.add_argument(
        "--eval-only", action="store_true", help="evaluate an existing folder, do not rebuild"
    )
    parser.add_argument(
        "--threads", type=int, default=1, help="TensorFlow intra-op threads (default 1)"
    )
    parser.add_argument(
        "--variant",
        choices=sorted(VARIANTS),
        default=DEFAULT_VARIANT,
        help=f"how FAKEs are made (default {DEFAULT_VARIANT}; others need --out)",
    )
    parser.add_argument("--steps", type=int, default=0, help="GAN steps (default: the variant's)")
    parser.add_argument("--jpeg-quality", type=int, default=0, help="JPEG quality (needs --out)")
    parser.add_argument(
        "--moving-stats",
        action="store_true",
        help="sample with BatchNorm's moving averages, not batch statistics (needs --out)",
    )
    parser.add_argument(
        "--test-photos",
        default="",
        help="comma-separated photos held out for test (default: "
        f"{','.join(sorted(TEST_PHOTOS))}; needs --out)",
    )
    parser.add_argument(
        "--no-match",
        action="store_true",
        help="keep the FAKEs' own spectrum and colour histogram (needs --out)",
    )
    parser.add_argument(
        "--no-mirror", action="store_true", help="never mirror a FAKE (needs --out)"
    )
    parser.add_argument(
        "--crop-split",
        action="store_true",
        help="split crops, not photos, between train and test (needs --out)",
    )
    return parser.parse_args(argv)


def chosen_variant(args: argparse.Namespace) -> Variant:
    """The variant named on the command line with its overrides applied."""
    variant = VARIANTS[args.variant]
    if args.steps:
        variant = replace(variant, steps=args.steps)
    if args.jpeg_quality:
        variant = replace(variant, jpeg_quality=args.jpeg_quality)
    if args.crop_split:
        variant = replace(variant, photo_split=False)
    if args.moving_stats:
        variant = replace(variant, batch_stats=False)
    if args.test_photos:
        variant = replace(variant, test_photos=frozenset(args.test_photos.split(",")))
    if args.no_match:
        variant = replace(variant, match_stats=False)
    if args.no_mirror:
        variant = replace(variant, mirror=False)
    return variant


def main(argv: list[str] | None = None) -> None:
    """Entry point."""
    args = parse_args(argv)
    out = args.out.expanduser().resolve()
    variant = chosen_variant(args)
    if variant != VARIANTS[DEFAULT_VARIANT] and out == DEFAULT_OUT and not args.eval_only:
        sys.exit(
            "--variant/--steps/--jpeg-quality/--moving-stats/--test-photos/--crop-split/"
            "--no-match/--no-mirror change the set: "
            "use them only with --out DIR"
        )
    start = time.time()
    configure_tensorflow(args.threads)
    if not args.eval_only:
        build(out, variant)
    if args.evaluate or args.eval_only:
        evaluate(out)
    print(f"total time {time.time() - start:.0f}s")


if __name__ == "__main__":
    main()
