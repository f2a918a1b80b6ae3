"""Build the embedded dflearn practice set (a small CIFAKE-style data set).

REAL images are 32x32 crops of permissively licensed photographs that ship
inside PyPI packages (scikit-image, scikit-learn, matplotlib).  FAKE images
are samples drawn from a small DCGAN that this script trains from scratch on
a separate pool of REAL crops.  See data/README.md for details.

Usage::

    python data/build_practice_set.py              # rebuild data/practice
    python data/build_practice_set.py --evaluate   # ... and print baselines
    python data/build_practice_set.py --out /tmp/p # write somewhere else
"""

from __future__ import annotations

import argparse
import hashlib
import os
import shutil
import sys
import time
from dataclasses import dataclass
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
os.environ.setdefault("KERAS_BACKEND", "tensorflow")

import numpy as np  # noqa: E402
from PIL import Image  # noqa: E402

SEED = 1234
IMG_SIZE = 32
N_TRAIN = 1000  # per class
N_TEST = 250  # per class
N_POOL = 6000  # REAL crops used only to train the generator
JPEG_QUALITY = 95
JPEG_SUBSAMPLING = 0  # 4:4:4, identical for REAL and FAKE
MIN_CROP_STD = 0.04  # reject nearly flat crops (std of grey levels in [0, 1])
MAX_SCALE = 8.0  # largest downsampling factor applied to a source photo

LATENT_DIM = 64
GEN_BASE = 5  # generator starts at 5x5 and outputs 40x40 ...
GEN_SIZE = GEN_BASE * 8  # ... from which a random 32x32 window is taken
GAN_STEPS = 2000
GAN_BATCH = 64
GAN_LR = 2e-4
EMA_DECAY = 0.99

DATA_DIR = Path(__file__).resolve().parent
REPO_DIR = DATA_DIR.parent
DEFAULT_OUT = DATA_DIR / "practice"
SPLITS = ("train", "test")
CLASSES = ("REAL", "FAKE")


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
        raise FileNotFoundError(f"source image missing: {path}")
    with Image.open(path) as img:
        return img.convert("RGB")


def random_crop(photo: Image.Image, rng: np.random.Generator) -> np.ndarray:
    """Downsample ``photo`` by a random factor and cut a random 32x32 crop.

    The crop is taken as a box of side ``32 * scale`` in the original photo
    and resized to 32x32 with an anti-aliasing filter, which is the same as
    downsampling the whole photo first and cropping afterwards.
    """
    width, height = photo.size
    max_scale = min(MAX_SCALE, min(width, height) / (1.25 * IMG_SIZE))
    scale = float(np.exp(rng.uniform(0.0, np.log(max_scale))))
    side = IMG_SIZE * scale
    left = rng.uniform(0.0, width - side)
    top = rng.uniform(0.0, height - side)
    box = (left, top, left + side, top + side)
    crop = photo.resize((IMG_SIZE, IMG_SIZE), Image.Resampling.LANCZOS, box=box)
    arr = np.asarray(crop, dtype=np.uint8)
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
    """Sample ``n`` unique crops, sources chosen uniformly at random.

    ``seen`` holds the hashes of all crops drawn so far (all splits), so no
    crop appears twice anywhere.  Returns (images, source indices).
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


# --------------------------------------------------------------------------
# Generator (DCGAN)
# --------------------------------------------------------------------------


def configure_tensorflow(threads: int) -> None:
    """Make TensorFlow deterministic and limit its CPU threads."""
    import keras
    import tensorflow as tf

    tf.config.threading.set_intra_op_parallelism_threads(threads)
    tf.config.threading.set_inter_op_parallelism_threads(1)
    tf.config.experimental.enable_op_determinism()
    keras.utils.set_random_seed(SEED)


def build_generator(latent_dim: int = LATENT_DIM, width: int = 64):
    """DCGAN generator: latent vector -> 40x40x3 image in [-1, 1].

    A random 32x32 window of the output is the final sample (see
    ``random_window``), so the fixed pixel grid of the transposed
    convolutions does not sit at the same position in every fake.
    """
    import keras
    from keras import layers

    z = keras.Input(shape=(latent_dim,), name="z")
    x = layers.Dense(GEN_BASE * GEN_BASE * width * 2, use_bias=False)(z)
    x = layers.BatchNormalization()(x)
    x = layers.ReLU()(x)
    x = layers.Reshape((GEN_BASE, GEN_BASE, width * 2))(x)
    for channels in (width, width // 2):
        x = layers.Conv2DTranspose(channels, 4, strides=2, padding="same", use_bias=False)(x)
        x = layers.BatchNormalization()(x)
        x = layers.ReLU()(x)
    x = layers.Conv2DTranspose(3, 4, strides=2, padding="same")(x)
    image = layers.Activation("tanh", name="image")(x)
    return keras.Model(z, image, name="generator")


def build_discriminator(width: int = 32):
    """DCGAN discriminator: 32x32x3 image -> real/fake logit."""
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


def to_unit_range(images: np.ndarray) -> np.ndarray:
    """uint8 [0, 255] -> float32 [-1, 1]."""
    return images.astype(np.float32) / 127.5 - 1.0


def to_uint8(images: np.ndarray) -> np.ndarray:
    """float [-1, 1] -> uint8 [0, 255]."""
    return np.clip(np.rint((images + 1.0) * 127.5), 0, 255).astype(np.uint8)


def window_offsets(n: int, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """Random top/left offsets of 32x32 windows inside a generator output."""
    high = GEN_SIZE - IMG_SIZE + 1
    return (
        rng.integers(0, high, n).astype(np.int32),
        rng.integers(0, high, n).astype(np.int32),
    )


def random_window(images, top, left):
    """Cut one 32x32 window per image (differentiable, TensorFlow)."""
    import tensorflow as tf

    rows = top[:, None] + tf.range(IMG_SIZE)[None, :]
    cols = left[:, None] + tf.range(IMG_SIZE)[None, :]
    images = tf.gather(images, rows, axis=1, batch_dims=1)
    return tf.gather(images, cols, axis=2, batch_dims=1)


def make_train_step(generator, discriminator, ema_generator):
    """Return a compiled DCGAN training step (non-saturating loss)."""
    import keras
    import tensorflow as tf

    g_opt = keras.optimizers.Adam(GAN_LR, beta_1=0.5)
    d_opt = keras.optimizers.Adam(GAN_LR, beta_1=0.5)
    bce = keras.losses.BinaryCrossentropy(from_logits=True)
    g_vars = generator.trainable_variables
    d_vars = discriminator.trainable_variables

    @tf.function
    def train_step(real, z, top, left) -> tuple[tf.Tensor, tf.Tensor]:
        with tf.GradientTape() as g_tape, tf.GradientTape() as d_tape:
            fake = random_window(generator(z, training=True), top, left)
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


def train_generator(pool: np.ndarray, rng: np.random.Generator, steps: int):
    """Train a DCGAN on the REAL pool; return the EMA generator."""
    generator = build_generator()
    discriminator = build_discriminator()
    ema_generator = build_generator()
    ema_generator.set_weights(generator.get_weights())
    train_step = make_train_step(generator, discriminator, ema_generator)
    data = to_unit_range(pool)
    order = rng.permutation(len(data))
    cursor = 0
    start = time.time()
    for step in range(1, steps + 1):
        if cursor + GAN_BATCH > len(order):
            order, cursor = rng.permutation(len(data)), 0
        batch = data[order[cursor : cursor + GAN_BATCH]]
        cursor += GAN_BATCH
        if rng.random() < 0.5:
            batch = batch[:, :, ::-1]
        z = rng.standard_normal((GAN_BATCH, LATENT_DIM)).astype(np.float32)
        top, left = window_offsets(GAN_BATCH, rng)
        d_loss, g_loss = train_step(batch, z, top, left)
        if step % 200 == 0 or step == steps:
            print(
                f"  GAN step {step:5d}/{steps}  d_loss={float(d_loss):.3f}"
                f"  g_loss={float(g_loss):.3f}  ({time.time() - start:.0f}s)",
                flush=True,
            )
    return ema_generator


def sample_fakes(generator, n: int, rng: np.random.Generator, seen: set[str]) -> np.ndarray:
    """Draw ``n`` unique images from the generator using random latent noise."""
    out: list[np.ndarray] = []
    while len(out) < n:
        z = rng.standard_normal((250, LATENT_DIM)).astype(np.float32)
        top, left = window_offsets(250, rng)
        batch = to_uint8(np.asarray(random_window(generator(z, training=False), top, left)))
        for arr in batch:
            digest = crop_hash(arr)
            if digest not in seen and len(out) < n:
                seen.add(digest)
                out.append(arr)
    return np.stack(out)


# --------------------------------------------------------------------------
# Writing and reading the folder
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


def write_split(out: Path, split: str, label: str, images: np.ndarray) -> None:
    """Write images as 0000.jpg, 0001.jpg, ... with one JPEG setting."""
    folder = out / split / label
    folder.mkdir(parents=True, exist_ok=False)
    for i, arr in enumerate(images):
        Image.fromarray(arr, mode="RGB").save(
            folder / f"{i:04d}.jpg",
            format="JPEG",
            quality=JPEG_QUALITY,
            subsampling=JPEG_SUBSAMPLING,
        )


def write_practice_set(out: Path, sets: dict[tuple[str, str], np.ndarray]) -> None:
    """Delete ``out`` (a previous build) and write all splits to it."""
    check_target(out)
    if out.exists():
        shutil.rmtree(out)
    out.mkdir(parents=True)
    for (split, label), images in sets.items():
        write_split(out, split, label, images)


def load_split(root: Path, split: str) -> tuple[np.ndarray, np.ndarray]:
    """Read one split back from JPEG files; label 1 = FAKE, 0 = REAL."""
    images, labels = [], []
    for label, name in enumerate(CLASSES):
        for path in sorted((root / split / name).glob("*.jpg")):
            with Image.open(path) as img:
                images.append(np.asarray(img.convert("RGB"), dtype=np.uint8))
            labels.append(label)
    return np.stack(images), np.asarray(labels)


# --------------------------------------------------------------------------
# Baselines
# --------------------------------------------------------------------------


def logistic_regression_accuracy(root: Path) -> float:
    """Test accuracy of logistic regression on raw [0, 1] pixels."""
    from sklearn.linear_model import LogisticRegression

    x_train, y_train = load_split(root, "train")
    x_test, y_test = load_split(root, "test")
    model = LogisticRegression(max_iter=2000)
    model.fit(x_train.reshape(len(x_train), -1) / 255.0, y_train)
    return float(model.score(x_test.reshape(len(x_test), -1) / 255.0, y_test))


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
    prob = layers.Dense(1, activation="sigmoid", name="p_fake")(x)
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


# --------------------------------------------------------------------------
# Main
# --------------------------------------------------------------------------


def build(out: Path, steps: int) -> None:
    """Sample REAL crops, train the generator, sample FAKEs, write files."""
    rng = np.random.default_rng(SEED)
    t0 = time.time()
    photos = [load_source(source) for source in SOURCES]
    seen: set[str] = set()
    pool, _ = sample_real_crops(photos, N_POOL, rng, seen)
    real_train, train_src = sample_real_crops(photos, N_TRAIN, rng, seen)
    real_test, test_src = sample_real_crops(photos, N_TEST, rng, seen)
    print(f"sampled {N_POOL} pool + {N_TRAIN + N_TEST} REAL crops ({time.time() - t0:.0f}s)")
    for i, source in enumerate(SOURCES):
        n_train, n_test = int((train_src == i).sum()), int((test_src == i).sum())
        print(f"  {source.name:13s} train={n_train:4d} test={n_test:3d}")
    generator = train_generator(pool, rng, steps)
    fake_train = sample_fakes(generator, N_TRAIN, rng, seen)
    fake_test = sample_fakes(generator, N_TEST, rng, seen)
    sets = {
        ("train", "REAL"): real_train,
        ("train", "FAKE"): fake_train,
        ("test", "REAL"): real_test,
        ("test", "FAKE"): fake_test,
    }
    write_practice_set(out, sets)
    print(f"wrote {sum(len(v) for v in sets.values())} images to {out} ({time.time() - t0:.0f}s)")


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    """Command-line options."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--out", type=Path, default=DEFAULT_OUT, help="output folder (default: data/practice)"
    )
    parser.add_argument(
        "--evaluate", action="store_true", help="print the two baseline accuracies"
    )
    parser.add_argument(
        "--eval-only", action="store_true", help="evaluate an existing folder, do not rebuild"
    )
    parser.add_argument(
        "--threads", type=int, default=1, help="TensorFlow intra-op threads (default 1)"
    )
    parser.add_argument(
        "--steps",
        type=int,
        default=GAN_STEPS,
        help=f"GAN training steps (default {GAN_STEPS}; other values need --out)",
    )
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> None:
    """Entry point."""
    args = parse_args(argv)
    out = args.out.expanduser().resolve()
    if args.steps != GAN_STEPS and out == DEFAULT_OUT and not args.eval_only:
        sys.exit("--steps changes the set: use it only together with --out DIR")
    start = time.time()
    configure_tensorflow(args.threads)
    if not args.eval_only:
        build(out, args.steps)
    if args.evaluate or args.eval_only:
        print(f"logistic regression test accuracy: {logistic_regression_accuracy(out):.3f}")
        print(f"small CNN test accuracy:           {small_cnn_accuracy(out):.3f}")
    print(f"total time {time.time() - start:.0f}s")


if __name__ == "__main__":
    main()
