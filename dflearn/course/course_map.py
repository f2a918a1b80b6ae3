"""The course map and the profile tables shown in 00_index."""

from __future__ import annotations

import dataclasses
import html

import pandas as pd

from dflearn.course.config import NOTEBOOKS, PROFILES, NotebookSettings
from dflearn.paths import course_root

TOPICS: dict[str, tuple[str, str]] = {
    "00": ("Course map, environment check, how to work", "-"),
    "01": ("Colour-histogram EDA, spectra, duplicates", "study Figs. 5-7"),
    "02": ("Classical baselines: k-NN, RF, linear/logistic regression, SVC, MLP", "study's first experiments"),
    "03": ("CNNs from scratch: Personal CNN, VGG16/19, MobileNet-style, 8-conv", "study; lightweight-detector and faces projects"),
    "04": ("Transfer learning: VGG16, DenseNet121, ResNet50", "study; faces project"),
    "05": ("The 12-model age-classifier grid", "study Fig. 2-3"),
    "06": ("Ensembles: averaging, stacking, learned weighting", "ensemble project"),
    "07": ("Saliency: gradients, SmoothGrad, Grad-CAM, integrated gradients", "study Figs. 13-16"),
    "08": ("Generalisation: other datasets, robustness, leakage, calibration", "study's second dataset"),
    "09": ("Making fakes: DCGAN, WGAN-GP, Fréchet distance", "GAN project"),
    "10": ("Beyond the study: cross-generator tests, NPR, frozen-feature probe, JPEG shortcuts",
           "NPR, UniversalFakeDetect, GenImage/DIRE"),
}


def course_map() -> pd.DataFrame:
    """One row per notebook: id, file, topic and what it reproduces."""
    rows = [{"id": key, "notebook": f"{stem}.ipynb", "topic": TOPICS[key][0],
             "reproduces": TOPICS[key][1]} for key, stem in NOTEBOOKS.items()]
    return pd.DataFrame(rows).set_index("id")


def missing_notebooks() -> list[str]:
    """Notebooks of the course map that this checkout does not have yet."""
    folder = course_root() / "solutions"
    return [f"{stem}.ipynb" for stem in NOTEBOOKS.values() if not (folder / f"{stem}.ipynb").exists()]


def profiles_table(notebook: str = "03") -> pd.DataFrame:
    """The common settings every profile gives one notebook, one row per profile (its own
    knobs and grading thresholds are left out)."""
    common = [f.name for f in dataclasses.fields(NotebookSettings) if f.name != "grade"]
    rows = {}
    for name, profile in PROFILES.items():
        settings = profile.for_notebook(notebook)
        rows[name] = {"data": profile.data, "split": profile.split,
                      **{key: getattr(settings, key) for key in common}}
    table = pd.DataFrame.from_dict(rows, orient="index")
    table.index.name = "profile"
    return table.fillna("all")


def profile_explorer():  # -> ipywidgets.Widget
    """A dropdown pair (profile, notebook) that shows that combination's settings."""
    import ipywidgets as widgets
    from IPython.display import display

    profile = widgets.Dropdown(options=list(PROFILES), value="ci", description="profile")
    notebook = widgets.Dropdown(options=[(f"{k} {v}", k) for k, v in NOTEBOOKS.items()],
                                value="03", description="notebook")
    out = widgets.HTML()

    def show(_=None) -> None:
        out.value = f"<code>{html.escape(PROFILES[profile.value].summary(notebook.value))}</code>"

    profile.observe(show, names="value")
    notebook.observe(show, names="value")
    show()
    box = widgets.VBox([widgets.HBox([profile, notebook]), out])
    display(box)
    return box
