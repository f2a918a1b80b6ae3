"""Models shared between notebooks: saved as ``.keras`` files in the profile's artifacts folder,
found again by name, and one registry of the stand-ins a notebook trains when they are absent.

Core layer. A notebook that needs a model an earlier notebook trains calls :func:`load_or_train`
(with :func:`stand_in` as the trainer): it loads ``<artifacts>/<name>.keras`` when present and
otherwise trains a small stand-in itself, so every notebook also runs on its own. Each shared
name maps to exactly one stand-in trainer in :data:`STAND_INS`.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Callable, Mapping, Sequence

if TYPE_CHECKING:  # keep TensorFlow out of imports that do not need it
    import keras

    from dflearn.course.session import Session
    from dflearn.splits import Splits

# The module that defines every saveable custom Keras class (``register_keras_serializable``):
# a saved model that uses one can only be loaded once it is imported.
CUSTOM_OBJECT_MODULES = ("dflearn.layers",)


def model_path(session: "Session", name: str) -> Path:
    """Where model ``name`` lives for this session's profile."""
    if not name or "/" in name or name.endswith(".keras"):
        raise ValueError(f"Model names are plain words like '03_personal_cnn', not {name!r}.")
    return session.artifacts / f"{name}.keras"


def save_model(session: "Session", model: "keras.Model", name: str,
               test_accuracy: float | None = None) -> Path:
    """Save ``model`` as ``<artifacts>/<name>.keras`` (through a temporary file unique to this
    process, so two kernels saving one name at once do not collide), and
    its provenance in ``<name>.json``: the notebook that trained it and, when given, its test
    accuracy, which the hand-over line of :func:`load_or_train` prints."""
    import json

    from dflearn.paths import replacing

    path = model_path(session, name)
    with replacing(path) as tmp:
        model.save(tmp)
    info = {"notebook": getattr(session, "notebook_name", session.notebook),
            "profile": session.profile.name}
    if test_accuracy is not None:
        info["test_accuracy"] = float(test_accuracy)
    with replacing(path.with_suffix(".json")) as tmp:
        tmp.write_text(json.dumps(info), encoding="utf-8")
    return path


def register_custom_objects() -> None:
    """Import the module that defines dflearn's saveable Keras classes."""
    import importlib

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


def saved_models(session: "Session", prefix: str = "") -> list[str]:
    """Names of the models saved in ``session.artifacts`` that start with ``prefix``, sorted."""
    folder = Path(session.artifacts)
    if not folder.is_dir():
        return []
    return sorted(p.name[:-len(".keras")] for p in folder.glob(f"{prefix}*.keras")
                  if not p.name.startswith(".") and p.is_file())


def pick_saved(session: "Session", prefix: str, prefer: Sequence[str] = (),
               exclude: Sequence[str] = ()) -> str | None:
    """The saved model to use among those whose name starts with ``prefix``: names containing
    a word of ``exclude`` are skipped; the first name containing the earliest possible word of
    ``prefer`` wins, else the first name in sorted order; ``None`` when nothing is saved.

    E.g. ``pick_saved(session, "04_", prefer=("resnet50", "best"), exclude=("personal",))``
    (07 §1).
    """
    names = [n for n in saved_models(session, prefix) if not any(w in n for w in exclude)]
    for word in prefer:
        for name in names:
            if word in name:
                return name
    return names[0] if names else None


def provenance(session: "Session", name: str) -> str:
    """``trained by 03_cnns, 2026-12-06 21:40, test acc 0.912``: the notebook and test accuracy
    that :func:`save_model` wrote beside the model, and the file's time. A model that a later
    notebook saved (a stand-in: ``03_personal_cnn`` trained by 06) says so: ``a stand-in
    trained by 06_ensembles, ...``. Models saved without that record name the stand-in registry's
    notebook, else the notebook id of their prefix."""
    import json

    path = model_path(session, name)
    when = dt.datetime.fromtimestamp(path.stat().st_mtime).strftime("%Y-%m-%d %H:%M")
    try:
        info = json.loads(path.with_suffix(".json").read_text(encoding="utf-8"))
    except (OSError, ValueError):
        info = {}
    info = info if isinstance(info, dict) else {}
    owner, trained = name.split("_", 1)[0], "trained"
    by = info.get("notebook")
    if not isinstance(by, str) or not by or by.isdigit():  # older files kept the id only
        by = STAND_INS[name].trained_by if name in STAND_INS else f"notebook {owner}"
    elif by.split("_", 1)[0] != owner:  # saved by a later notebook that trained a stand-in
        trained = "a stand-in trained"
    accuracy = info.get("test_accuracy")
    return (f"{trained} by {by}, {when}"
            + (f", test acc {accuracy:.3f}" if isinstance(accuracy, (int, float)) else ""))


def load_or_train(session: "Session", name: str, train: Callable[[], "keras.Model"],
                  save: bool = True) -> tuple["keras.Model", str]:
    """Return ``(model, how)``: the saved model ``name`` if present, else ``train()`` (saved
    unless ``save=False``). ``how`` is a sentence saying which happened, for the notebook to print.
    """
    model = load_model(session, name)
    if model is not None:
        return model, f"loaded {name} ({provenance(session, name)})"
    model = train()
    if save:
        save_model(session, model, name)
    return model, (f"trained {name} here: no saved copy under profile '{session.profile.name}'"
                   f"{', a small stand-in' if name in STAND_INS else ''}")


# --------------------------------------------------------------------------- stand-ins


@dataclass(frozen=True)
class StandInOptions:
    """How small a stand-in is: the profile's width, epochs and batch size, and a time budget
    in seconds (``None``: none). ``small`` asks for the cheapest architecture that keeps the
    model's role (04_resnet50 becomes a small CNN behind a nested backbone)."""

    width: float = 0.25
    epochs: int = 2
    batch_size: int = 64
    seed: int = 0
    time_budget: float | None = None
    run_eagerly: bool = False
    small: bool = False
    weights: str | None = None


def _fit(model: "keras.Model", splits: "Splits", options: StandInOptions, **fit_args: Any
         ) -> "keras.Model":
    """Train ``model`` on ``splits.train`` with the stand-in options (no early stopping)."""
    import keras

    from dflearn.training import fit

    keras.utils.set_random_seed(options.seed)
    fit(model, splits.train, None, epochs=options.epochs, batch_size=options.batch_size,
        schedule=None, patience=0, seed=options.seed, time_budget=options.time_budget,
        run_eagerly=options.run_eagerly, **fit_args)
    return model


def _input_size(splits: "Splits") -> int:
    return int(splits.train.images.shape[1])


def _personal_cnn(splits: "Splits", options: StandInOptions, **_: Any) -> "keras.Model":
    """The study's Personal CNN at the profile's width (03's model)."""
    import keras

    from dflearn.models import personal_cnn

    keras.utils.set_random_seed(options.seed)
    return _fit(personal_cnn(width=options.width, input_size=_input_size(splits)), splits, options)


def _best_grid(splits: "Splits", options: StandInOptions, **_: Any) -> "keras.Model":
    """The study's best age-grid model, 4 convolutions with a [512, 512, 2] head (05's model)."""
    import keras

    from dflearn.models import age_classifier

    keras.utils.set_random_seed(options.seed)
    model = age_classifier(4, (512, 512, 2), width=options.width, input_size=_input_size(splits))
    return _fit(model, splits, options)


def _resnet50(splits: "Splits", options: StandInOptions, **_: Any) -> "keras.Model":
    """ResNet50 with the study's head, its backbone frozen (04's model); with ``small``, a
    three-block CNN nested as the "backbone" in the same way, for the quick profiles."""
    import keras
    from keras import layers

    from dflearn.backbones import transfer_model
    from dflearn.models import classifier_head, three_cnn

    keras.utils.set_random_seed(options.seed)
    if not options.small:
        return _fit(transfer_model("resnet50", source_size=_input_size(splits),
                                   weights=options.weights).model, splits, options)
    cnn = three_cnn(width=options.width, input_size=_input_size(splits))
    backbone = keras.Model(cnn.input, cnn.get_layer("conv3_relu").output, name="backbone")
    inputs = keras.Input(shape=cnn.input_shape[1:], name="image")
    pooled = layers.GlobalAveragePooling2D(name="gap")(backbone(inputs, training=False))
    return _fit(keras.Model(inputs, classifier_head(pooled), name="resnet50_stand_in"), splits,
                options)


def _personal_second(splits: "Splits", options: StandInOptions, *, base: "keras.Model",
                     learning_rate: float = 1e-4, **_: Any) -> "keras.Model":
    """A copy of ``base`` (a Personal CNN) fine-tuned on ``splits`` (the second dataset) from
    the study's layer 23 (04's second model)."""
    import keras

    from dflearn.models import PERSONAL_UNFREEZE_LAYER
    from dflearn.training import layer_index, unfreeze_from

    keras.utils.set_random_seed(options.seed)
    model = keras.models.clone_model(base)
    model.set_weights(base.get_weights())
    unfreeze_from(model, layer_index(model, PERSONAL_UNFREEZE_LAYER))
    return _fit(model, splits, options, learning_rate=learning_rate)


@dataclass(frozen=True)
class StandIn:
    """The notebook that trains a shared model, and the one function that trains its stand-in:
    ``train(splits, options, **inputs)``."""

    trained_by: str
    train: Callable[..., "keras.Model"]


STAND_INS: Mapping[str, StandIn] = {
    "03_personal_cnn": StandIn("03_cnns", _personal_cnn),
    "04_resnet50": StandIn("04_transfer_learning", _resnet50),
    "04_personal_cnn_second": StandIn("04_transfer_learning", _personal_second),
    "05_grid_best": StandIn("05_age_classifier_grid", _best_grid),
}


def stand_in(name: str, splits: "Splits", options: StandInOptions, **inputs: Any
             ) -> Callable[[], "keras.Model"]:
    """A trainer for :func:`load_or_train`: the registered stand-in of ``name`` trained on
    ``splits`` (``inputs`` such as ``base=`` go to it). Used in 04, 06 and 07."""
    if name not in STAND_INS:
        raise KeyError(f"No stand-in is registered for {name!r}; shared models with one: "
                       f"{', '.join(STAND_INS)}.")
    return lambda: STAND_INS[name].train(splits, options, **inputs)
