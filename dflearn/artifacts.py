"""Models shared between notebooks: saved as ``.keras`` files in the profile's artifacts folder.

A notebook that needs a model an earlier notebook trains calls :func:`load_or_train`: it loads
``<artifacts>/<name>.keras`` when present and otherwise trains a small one itself (and saves it),
so every notebook also runs on its own.
"""

from __future__ import annotations

import importlib
from pathlib import Path
from typing import TYPE_CHECKING, Callable

if TYPE_CHECKING:  # keep TensorFlow out of imports that do not need it
    import keras

    from dflearn.session import Session


def model_path(session: "Session", name: str) -> Path:
    """Where model ``name`` lives for this session's profile."""
    if not name or "/" in name or name.endswith(".keras"):
        raise ValueError(f"Model names are plain words like '03_personal_cnn', not {name!r}.")
    return session.artifacts / f"{name}.keras"


def save_model(session: "Session", model: "keras.Model", name: str) -> Path:
    """Save ``model`` as ``<artifacts>/<name>.keras`` (written to a temporary file first)."""
    path = model_path(session, name)
    tmp = path.with_name(f".{path.stem}.tmp.keras")
    model.save(tmp)
    tmp.replace(path)
    return path


# Modules that register custom Keras layers/models (``register_keras_serializable``): a saved
# model that uses them can only be loaded once they are imported.
CUSTOM_OBJECT_MODULES = ("dflearn.transfer", "dflearn.ensembles", "dflearn.robustness")


def register_custom_objects() -> None:
    """Import every dflearn module that defines saveable Keras classes."""
    for module in CUSTOM_OBJECT_MODULES:
        importlib.import_module(module)


def load_model(session: "Session", name: str) -> "keras.Model | None":
    """Load a saved model, or ``None`` when it has not been saved under this profile.

    dflearn's own layers and models (e.g. notebook 04's ``TransferNet``) are registered first,
    so a notebook can load any course model without importing the module that made it.
    """
    import keras

    path = model_path(session, name)
    if not path.exists():
        return None
    register_custom_objects()
    return keras.models.load_model(path)


def load_or_train(session: "Session", name: str, train: Callable[[], "keras.Model"],
                  save: bool = True) -> tuple["keras.Model", str]:
    """Return ``(model, how)``: the saved model ``name`` if present, else ``train()`` (saved).

    ``how`` is a sentence saying which happened, for the notebook to print.
    """
    model = load_model(session, name)
    if model is not None:
        return model, f"loaded {name} from {model_path(session, name)}"
    model = train()
    if save:
        save_model(session, model, name)
    return model, f"trained {name} here (no saved copy under profile '{session.profile.name}')"
