"""Profiles: lookup, environment default, per-notebook overrides, clear errors."""

from __future__ import annotations

import pytest

from dataclasses import fields

from dflearn.course.config import (NOTEBOOKS, PROFILES, NotebookSettings, Profile, ProfileError,
                                   get_profile, notebook_id, settings_class, valid_settings)


def test_four_named_profiles() -> None:
    assert list(PROFILES) == ["ci", "cpu", "gpu", "paper"]


def test_env_selects_default(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DFLEARN_PROFILE", "gpu")
    assert get_profile().name == "gpu"
    assert get_profile("paper").name == "paper"  # explicit wins
    monkeypatch.delenv("DFLEARN_PROFILE")
    assert get_profile().name == "cpu"


def test_unknown_profile_lists_valid_ones() -> None:
    with pytest.raises(ProfileError, match="Valid profiles: ci, cpu, gpu, paper"):
        get_profile("laptop")


def test_unknown_profile_from_env_names_the_variable(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DFLEARN_PROFILE", "fast")
    with pytest.raises(ProfileError, match=r"\$DFLEARN_PROFILE"):
        get_profile()


def test_paper_profile_follows_the_study() -> None:
    paper = get_profile("paper")
    s = paper.for_notebook("03")
    assert (s.batch_size, s.epochs, s.width, s.n_train_per_class) == (64, 10, 1.0, None)
    assert paper.split == "study"


def test_ci_is_small_and_offline() -> None:
    ci = get_profile("ci")
    assert ci.data == "embedded"
    for nb in NOTEBOOKS:
        s = ci.for_notebook(nb)
        assert s.weights is None
        assert s.n_train_per_class is not None and s.n_train_per_class <= 1000
        assert s.epochs <= 6


def test_overrides_merge_own_knobs_with_defaults() -> None:
    s = get_profile("ci").for_notebook("02")
    assert s.search_iter == 4
    assert s.pca_components == 64  # the class default: ci does not set it
    assert s.n_train_per_class == 400
    assert s.batch_size == get_profile("ci").defaults.batch_size


@pytest.mark.parametrize("profile", list(PROFILES))
def test_every_notebook_gets_its_typed_settings(profile: str) -> None:
    for nb in NOTEBOOKS:
        settings = PROFILES[profile].for_notebook(nb)
        assert isinstance(settings, settings_class(nb))
        assert isinstance(settings, NotebookSettings)


def test_derived_defaults_follow_the_common_knobs() -> None:
    ci = get_profile("ci")
    assert ci.for_notebook("04").finetune_epochs == 1  # set by ci
    assert get_profile("paper").for_notebook("04").finetune_epochs == 10  # None -> epochs
    assert ci.for_notebook("09").wgan_steps == 24
    common = {f.name: getattr(ci.defaults, f.name) for f in fields(NotebookSettings)}
    assert settings_class("09")(**common, gan_steps=123).wgan_steps == 123  # None -> gan_steps


def test_unknown_knob_is_an_error_listing_the_valid_ones() -> None:
    ci = get_profile("ci")
    bad = dict(ci.overrides)
    bad["06"] = {**bad["06"], "combiner_epoch": 5}  # a typo of combiner_epochs
    with pytest.raises(ProfileError, match=r"notebook 06: unknown setting\(s\) combiner_epoch\. "
                                           r"Valid settings: .*combiner_epochs"):
        Profile("typo", "a profile with a typo", "embedded", "official", ci.defaults, bad)


def test_a_notebook_without_own_knobs_rejects_any() -> None:
    ci = get_profile("ci")
    with pytest.raises(ProfileError, match="notebook 00: unknown setting"):
        Profile("typo", "", "embedded", "official", ci.defaults, {"00": {"search_iter": 3}})
    assert valid_settings("00") == sorted(f.name for f in fields(NotebookSettings))
    with pytest.raises(ProfileError, match="notebook 01: unknown setting"):  # 01 has its own
        Profile("typo", "", "embedded", "official", ci.defaults, {"01": {"search_iter": 3}})


@pytest.mark.parametrize("given,expected", [("3", "03"), ("03", "03"), ("03_cnns", "03"),
                                            ("solutions/05_age_classifier_grid.ipynb", "05")])
def test_notebook_id(given: str, expected: str) -> None:
    assert notebook_id(given) == expected


def test_bad_notebook_id() -> None:
    with pytest.raises(ProfileError):
        notebook_id("42")
    with pytest.raises(ProfileError):
        notebook_id("index")


def test_summary_is_one_line() -> None:
    line = get_profile("ci").summary("03")
    assert "\n" not in line and "profile 'ci'" in line and "notebook 03" in line


def test_comparison_epochs_spare_only_the_recipes_own_architecture() -> None:
    """ci gives the other architectures of 03's comparison fewer epochs; the recipe's trains fully."""
    ci = get_profile("ci").for_notebook("03")
    assert ci.comparison_epochs(ci.recipe["arch"]) is None
    assert ci.comparison_epochs("vgg16") == ci.compare_epochs < ci.epochs
    cpu = get_profile("cpu").for_notebook("03")
    assert cpu.compare_epochs is None and cpu.comparison_epochs("vgg16") is None


@pytest.mark.parametrize("nb", NOTEBOOKS)
def test_the_solutions_stored_ci_run_meets_its_own_grading_thresholds(nb: str) -> None:
    """A student who writes the reference answers must pass the bar the ci profile sets."""
    from pathlib import Path

    from dflearn.course.notebooks import course_notebooks
    from dflearn.course.results import read_records

    thresholds = get_profile("ci").for_notebook(nb).grade
    if not thresholds:
        pytest.skip(f"no ci thresholds for {nb}")
    solution = course_notebooks(Path(__file__).resolve().parents[1] / "solutions", only=[nb])[0]
    records = read_records(solution)
    for key, spec in thresholds.items():
        minimum = spec["min"] if isinstance(spec, dict) else spec
        assert records[key] >= minimum, f"{solution.name}: {key} = {records[key]} < {minimum}"
