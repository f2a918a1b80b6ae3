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
    from dflearn.robustness import BlurJpeg

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
