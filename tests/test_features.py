"""dflearn.features: content classes from file names, the study's colour features, histograms,
Fourier spectra and the feature sets of the classical baselines."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from dflearn import features as F
from dflearn.data import list_images


def random_images(n: int = 5, size: int = 8, seed: int = 0) -> np.ndarray:
    return np.random.default_rng(seed).integers(0, 256, size=(n, size, size, 3), dtype=np.uint8)


def stripes(period: int, size: int = 32, vertical: bool = True) -> np.ndarray:
    """One grey image whose intensity varies as a cosine along x (or y) with ``period`` pixels."""
    wave = 127.5 + 100 * np.cos(2 * np.pi * np.arange(size) / period)
    grey = np.tile(wave, (size, 1)) if vertical else np.tile(wave[:, None], (1, size))
    return np.repeat(grey[None, :, :, None], 3, axis=3).round().astype(np.uint8)


# --------------------------------------------------------------------------- content classes


@pytest.mark.parametrize("name, expected", [
    ("0000 (10).jpg", 10), ("1000 (3).jpg", 3), ("0000.jpg", None), ("12 (1).png", 1),
])
def test_content_class_index(name: str, expected: int | None) -> None:
    assert F.content_class_index(f"/data/train/REAL/{name}") == expected


def test_content_class_out_of_range_names_the_file() -> None:
    with pytest.raises(ValueError, match=r"0007 \(11\)\.jpg"):
        F.content_class_index("0007 (11).jpg")


def test_content_classes_cifake_names_and_missing_suffix_is_airplane() -> None:
    names = ["0000.jpg", "0001 (2).jpg", "0002 (10).jpg", "0003 (4).jpg"]
    assert F.content_classes(names).tolist() == ["airplane", "automobile", "truck", "cat"]


def test_set_without_any_suffix_has_unknown_content() -> None:
    assert F.content_classes(["0000.jpg", "0001.jpg"]).tolist() == ["unknown", "unknown"]


def test_shared_sample_names_cover_all_ten_classes(shared_sample: Path) -> None:
    paths, _ = list_images(shared_sample, "train")
    found = set(F.content_classes(paths).tolist())
    assert found == set(F.CONTENT_CLASSES)


# --------------------------------------------------------------------------- input checks


@pytest.mark.parametrize("shape, message", [
    ((8, 8, 3), "one image"), ((2, 8, 8), r"\(N, height, width, 3\)"),
    ((2, 8, 8, 4), r"\(N, height, width, 3\)"), ((0, 8, 8, 3), "empty"),
])
def test_bad_batches_are_rejected_clearly(shape: tuple[int, ...], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        F.channel_means(np.zeros(shape, dtype=np.uint8))


# --------------------------------------------------------------------------- the study's features


def test_channel_means_match_a_per_pixel_loop() -> None:
    images = random_images()
    expected = np.zeros((len(images), 3))
    for n, image in enumerate(images):
        for row in image:
            for pixel in row:
                expected[n] += pixel
    expected /= images.shape[1] * images.shape[2]
    np.testing.assert_allclose(F.channel_means(images), expected)


def test_channel_stds_match_numpy() -> None:
    images = random_images()
    expected = images.reshape(len(images), -1, 3).astype(float).std(axis=1)
    np.testing.assert_allclose(F.channel_stds(images), expected, atol=1e-9)


def test_brightness_is_the_mean_of_all_values_and_luma_weights_green() -> None:
    images = random_images()
    np.testing.assert_allclose(F.brightness(images), images.reshape(len(images), -1).mean(axis=1))
    green = np.zeros((1, 4, 4, 3), dtype=np.uint8)
    green[..., 1] = 200
    assert F.brightness(green, F.LUMA_WEIGHTS)[0] == pytest.approx(0.587 * 200)


def test_brightness_rejects_weights_that_do_not_sum_to_one() -> None:
    with pytest.raises(ValueError, match="sum to 1"):
        F.brightness(random_images(), (1.0, 1.0, 1.0))


def test_summary_features_columns() -> None:
    table = F.summary_features(random_images(3))
    assert list(table.columns) == list(F.STUDY_FEATURES)
    np.testing.assert_allclose(table["brightness"], table.iloc[:, :3].mean(axis=1))


# --------------------------------------------------------------------------- histograms


@pytest.mark.parametrize("bins", [4, 16])
def test_colour_histograms_match_numpy_histogram(bins: int) -> None:
    images = random_images(n=4)
    hist = F.colour_histograms(images, bins, chunk=3)  # chunk boundary inside the batch
    assert hist.shape == (4, 3, bins)
    np.testing.assert_allclose(hist.sum(axis=2), 1.0)
    for n in range(4):
        for c in range(3):
            expected, _ = np.histogram(images[n, ..., c], bins=F.bin_edges(bins))
            np.testing.assert_allclose(hist[n, c], expected / images[n, ..., c].size)


def test_histogram_bins_must_divide_256() -> None:
    with pytest.raises(ValueError, match="divide 256"):
        F.colour_histograms(random_images(), bins=10)


def test_joint_histogram_marginals_are_the_channel_histograms() -> None:
    images = random_images(n=6)
    joint = F.joint_histogram(images, bins=4, chunk=4)
    assert joint.shape == (4, 4, 4) and joint.sum() == pytest.approx(1.0)
    per_image = F.colour_histograms(images, 4).mean(axis=0)
    np.testing.assert_allclose(joint.sum(axis=(1, 2)), per_image[0])
    np.testing.assert_allclose(joint.sum(axis=(0, 1)), per_image[2])


def test_joint_histogram_of_one_colour_is_one_cell() -> None:
    image = np.zeros((1, 4, 4, 3), dtype=np.uint8)
    image[...] = (255, 0, 130)
    joint = F.joint_histogram(image, bins=4)
    assert joint[3, 0, 2] == 1.0


# --------------------------------------------------------------------------- spectra


def test_stripes_put_power_at_their_frequency() -> None:
    spectrum = F.log_power_spectrum(stripes(period=4))[0]
    freqs = np.fft.fftshift(np.fft.fftfreq(32))
    row, col = np.unravel_index(np.argmax(spectrum), spectrum.shape)
    assert freqs[row] == 0 and abs(freqs[col]) == pytest.approx(0.25)


def test_flat_image_has_no_power_after_mean_removal() -> None:
    flat = np.full((2, 8, 8, 3), 90, dtype=np.uint8)
    np.testing.assert_allclose(F.log_power_spectrum(flat), np.log10(1e-3), atol=1e-5)


def test_radial_spectrum_peaks_at_the_stripe_frequency() -> None:
    images = np.concatenate([stripes(4), stripes(8, vertical=False)])
    radial, freqs = F.radial_spectrum(images)
    assert radial.shape == (2, 16) and freqs[0] == pytest.approx(1 / 32) and freqs[-1] == 0.5
    assert freqs[np.argmax(radial[0])] == pytest.approx(0.25)
    assert freqs[np.argmax(radial[1])] == pytest.approx(0.125)


def test_mean_log_spectrum_in_chunks_equals_the_plain_mean() -> None:
    images = random_images(n=7, size=16)
    np.testing.assert_allclose(F.mean_log_spectrum(images, chunk=3),
                               F.log_power_spectrum(images).mean(axis=0), rtol=1e-5)


# --------------------------------------------------------------------------- feature sets


def test_feature_set_shapes() -> None:
    images = random_images(n=3, size=32)
    assert F.extract("brightness", images).shape == (3, 1)
    assert F.extract("histograms", images).shape == (3, 3 * 16 + 6 + 16)
    pixels = F.extract("pixels", images)
    assert pixels.shape == (3, 32 * 32 * 3) and pixels.max() <= 1.0


def test_unknown_feature_set_lists_the_choices() -> None:
    with pytest.raises(ValueError, match="brightness, histograms, pixels"):
        F.extract("colour", random_images())


def test_histograms_reject_rescaled_images() -> None:
    with pytest.raises(ValueError, match="uint8 images"):
        F.colour_histograms(random_images().astype(np.float32) / 255)
