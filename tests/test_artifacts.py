"""Models shared between notebooks: names, saving, and loading in a fresh interpreter."""

from __future__ import annotations

import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from dflearn.artifacts import CUSTOM_OBJECT_MODULES, model_path
from dflearn.course.config import get_profile
from dflearn.course.session import Session

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture
def session(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Session:
    monkeypatch.setenv("DFLEARN_ARTIFACTS", str(tmp_path / "artifacts"))
    return Session(get_profile("ci"), "04")


def test_model_names_are_plain_words(session: Session) -> None:
    assert model_path(session, "04_resnet50").name == "04_resnet50.keras"
    for bad in ("", "a/b", "x.keras"):
        with pytest.raises(ValueError, match="plain words"):
            model_path(session, bad)


@pytest.mark.slow
def test_a_model_with_dflearn_layers_loads_where_its_module_was_never_imported(
        session: Session) -> None:
    """Notebook 07 loads notebook 04's TransferNet: the loader must register dflearn's classes."""
    import keras

    from dflearn.artifacts import load_model, save_model
    from dflearn.layers import BlurJpeg

    inputs = keras.Input((8, 8, 3))
    model = keras.Model(inputs, keras.layers.Dense(2)(BlurJpeg(seed=1)(inputs)))
    path = save_model(session, model, "08_blur")
    assert load_model(session, "08_blur") is not None and load_model(session, "none") is None
    code = textwrap.dedent(f"""
        import sys
        from dflearn.artifacts import load_model
        from dflearn.course.config import get_profile
        from dflearn.course.session import Session
        assert not any(m in sys.modules for m in {CUSTOM_OBJECT_MODULES!r})
        model = load_model(Session(get_profile("ci"), "07"), "08_blur")
        print(type(model.layers[1]).__name__)
    """)
    assert path.exists()
    # the child inherits DFLEARN_ARTIFACTS from the fixture, so it finds the same folder
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT,
                            timeout=180)
    assert result.returncode == 0, result.stderr[-2000:]
    assert result.stdout.strip().endswith("BlurJpeg")


@pytest.fixture(scope="module")
def tiny_splits():
    """Eight 32x32 images per class and split: enough to train a stand-in for one step."""
    import numpy as np

    from dflearn.data import Dataset
    from dflearn.splits import Splits

    rng = np.random.default_rng(0)

    def part(n: int) -> Dataset:
        labels = np.repeat([0, 1], n)
        return Dataset(rng.integers(0, 256, (2 * n, 32, 32, 3), dtype=np.uint8), labels,
                       np.array([f"{i}.jpg" for i in range(2 * n)]))

    return Splits(part(8), part(4), part(4))


@pytest.mark.slow
def test_every_registered_stand_in_trains_a_two_class_model(tiny_splits) -> None:
    from dflearn import artifacts, models

    options = artifacts.StandInOptions(width=0.0625, epochs=1, batch_size=8, run_eagerly=True,
                                       small=True)
    personal = artifacts.stand_in("03_personal_cnn", tiny_splits, options)()
    built = {"03_personal_cnn": personal}
    for name in artifacts.STAND_INS:
        if name not in built:
            built[name] = artifacts.stand_in(name, tiny_splits, options, base=personal)()
    for name, model in built.items():
        assert model.input_shape == (None, 32, 32, 3), name
        assert models.head_of(model) in models.HEADS, name
    assert built["05_grid_best"].name == "4conv_512-512-2"  # the study's best grid model
    assert artifacts.STAND_INS["04_resnet50"].trained_by == "04_transfer_learning"


def test_an_unregistered_stand_in_names_the_registered_ones(tiny_splits) -> None:
    from dflearn import artifacts

    with pytest.raises(KeyError, match="03_personal_cnn"):
        artifacts.stand_in("03_mobilenet_cnn", tiny_splits, artifacts.StandInOptions())


def test_load_or_train_says_which_happened(session: Session) -> None:
    import keras

    from dflearn.artifacts import load_or_train

    def tiny() -> keras.Model:
        inputs = keras.Input((4, 4, 3))
        return keras.Model(inputs, keras.layers.Dense(2)(keras.layers.Flatten()(inputs)))

    _, how = load_or_train(session, "03_personal_cnn", tiny)
    assert how.startswith("trained 03_personal_cnn here") and "stand-in" in how
    _, how = load_or_train(session, "03_personal_cnn", tiny)  # the stand-in 04 saved
    assert how.startswith("loaded 03_personal_cnn (a stand-in trained by 04_transfer_learning, ")


def test_the_hand_over_line_names_the_notebook_file_that_trained_the_model(session: Session) -> None:
    import dataclasses

    import keras

    from dflearn.artifacts import provenance, save_model

    inputs = keras.Input((4, 4, 3))
    model = keras.Model(inputs, keras.layers.Dense(2)(keras.layers.Flatten()(inputs)))
    save_model(dataclasses.replace(session, notebook="03"), model, "03_vgg16_bn")
    assert provenance(session, "03_vgg16_bn").startswith("trained by 03_cnns, ")
    (session.artifacts / "03_vgg16_bn.json").write_text('{"notebook": "03"}')  # an older record
    assert provenance(session, "03_vgg16_bn").startswith("trained by notebook 03, ")


def test_the_hand_over_line_names_notebook_date_and_test_accuracy(session: Session) -> None:
    import dataclasses

    import keras

    from dflearn.artifacts import load_or_train, save_model

    inputs = keras.Input((4, 4, 3))
    model = keras.Model(inputs, keras.layers.Dense(2)(keras.layers.Flatten()(inputs)))
    save_model(dataclasses.replace(session, notebook="05"), model, "05_grid_best", test_accuracy=0.8125)
    _, how = load_or_train(session, "05_grid_best", lambda: model)
    assert how.startswith("loaded 05_grid_best (trained by 05_age_classifier_grid, ")
    assert how.endswith(", test acc 0.812)")


def test_two_writers_of_one_name_at_once_both_succeed(tmp_path: Path) -> None:
    """CI ran solutions/04 and notebooks/04 on two workers with one artifacts folder: both saved
    ``04_resnet50`` at once, through one shared temporary name, and one of them crashed."""
    from dflearn.paths import replacing

    target = tmp_path / "04_resnet50.keras"
    with replacing(target) as first:
        first.write_text("first")
        with replacing(target) as second:
            assert second != first
            second.write_text("second")
        assert target.read_text() == "second"
    assert target.read_text() == "first"
    assert [p.name for p in tmp_path.iterdir()] == [target.name]


def test_a_failed_write_keeps_the_old_file_and_leaves_no_temporary(tmp_path: Path) -> None:
    from dflearn.paths import replacing

    target = tmp_path / "grid.json"
    target.write_text("old")
    with pytest.raises(RuntimeError):
        with replacing(target) as tmp:
            tmp.write_text("half")
            raise RuntimeError("disk full")
    assert target.read_text() == "old"
    assert [p.name for p in tmp_path.iterdir()] == ["grid.json"]
