"""Dataset resolution order and the never-hanging download fallback."""

from __future__ import annotations

import sys
import time
import types
from pathlib import Path

import pytest

from dflearn import sources
from dflearn.data import DatasetError
from dflearn.sources import resolve_dataset
from conftest import write_image


def test_explicit_path_wins(make_cifake, monkeypatch: pytest.MonkeyPatch) -> None:
    root = make_cifake(n=1)
    monkeypatch.setenv("DFLEARN_DATA", "/does/not/exist")
    choice = resolve_dataset(root)
    assert choice.root == root and choice.source == "argument"


def test_env_variable_then_layout_checked(make_cifake, monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    root = make_cifake(n=1)
    monkeypatch.setenv("DFLEARN_DATA", str(root))
    assert resolve_dataset(mode="auto").source == "$DFLEARN_DATA"
    monkeypatch.setenv("DFLEARN_DATA", str(tmp_path / "missing"))
    with pytest.raises(DatasetError, match=r"came from \$DFLEARN_DATA"):
        resolve_dataset(mode="auto")


def test_embedded_mode_ignores_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DFLEARN_DATA", "/does/not/exist")
    choice = resolve_dataset(mode="embedded")
    assert choice.is_embedded and choice.root.parts[-2:] == ("data", "practice")
    assert "Kaggle" in choice.line() and "DFLEARN_DATA" in choice.line()


def test_auto_falls_back_quickly_when_offline(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("DFLEARN_DATA", raising=False)
    monkeypatch.delenv("DFLEARN_OFFLINE", raising=False)
    calls = []
    fake = types.ModuleType("kagglehub")
    fake.dataset_download = lambda handle: calls.append(handle) or "/never"
    monkeypatch.setitem(sys.modules, "kagglehub", fake)

    def no_answer(address: tuple, timeout: float) -> None:  # a network that never answers
        time.sleep(min(timeout, 0.2))
        raise TimeoutError("timed out")

    monkeypatch.setattr(sources.socket, "create_connection", no_answer)
    start = time.perf_counter()
    choice = sources.resolve_dataset(mode="auto")
    assert time.perf_counter() - start < 10
    assert choice.is_embedded or choice.source == "data/cifake/"
    assert calls == []  # never tried to download without a network


def test_failed_download_says_so(monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture) -> None:
    fake = types.ModuleType("kagglehub")

    def boom(handle: str) -> str:
        raise PermissionError("401 Unauthorized")

    fake.dataset_download = boom
    monkeypatch.setitem(sys.modules, "kagglehub", fake)
    monkeypatch.setattr(sources, "_network_answers", lambda timeout=3.0: True)
    monkeypatch.delenv("DFLEARN_OFFLINE", raising=False)
    assert sources.download_cifake() is None
    assert "CIFAKE download failed (PermissionError: 401 Unauthorized)" in capsys.readouterr().out


def test_successful_download_finds_nested_layout(make_cifake, monkeypatch: pytest.MonkeyPatch) -> None:
    root = make_cifake(n=1)
    fake = types.ModuleType("kagglehub")
    fake.dataset_download = lambda handle: str(root.parent)
    monkeypatch.setitem(sys.modules, "kagglehub", fake)
    monkeypatch.setattr(sources, "_network_answers", lambda timeout=3.0: True)
    monkeypatch.delenv("DFLEARN_OFFLINE", raising=False)
    assert sources.download_cifake() == root


def karki_tree(root: Path, n: int = 3, size: int = 64) -> Path:
    """A small folder laid out as Karki's Kaggle download: Dataset/{Train,Validation,Test}/{Real,Fake}."""
    for split in ("Train", "Validation", "Test"):
        for k, cls in enumerate(("Fake", "Real")):
            for i in range(n):
                write_image(root / "Dataset" / split / cls / f"{cls.lower()}_{i}.jpg", size,
                            seed=100 * k + i + 1000 * len(split))
    return root


def test_karki_layout_is_found_below_the_root_in_any_case(tmp_path: Path) -> None:
    root = karki_tree(tmp_path / "karki")
    found = sources.find_labelled_splits(root)
    assert set(found) == {"train", "val", "test"}
    assert found["test"][1].name == "Real" and found["test"][0].name == "Fake"
    splits = sources.labelled_splits(root, n_per_class=2, seed=0, image_size=32)
    assert splits.train.images.shape == (4, 32, 32, 3)  # 2 per class, resized from 64 px
    assert sorted(splits.test.labels.tolist()) == [0, 0, 1, 1]


def test_a_folder_without_the_layout_says_how_to_get_karki(tmp_path: Path) -> None:
    (tmp_path / "empty" / "stuff").mkdir(parents=True)
    with pytest.raises(DatasetError, match="manjilkarki/deepfake-and-real-images"):
        sources.find_labelled_splits(tmp_path / "empty")


def test_second_dataset_prefers_karki_and_names_a_stand_in(tmp_path: Path, make_cifake,
                                                           monkeypatch: pytest.MonkeyPatch) -> None:
    from dflearn.data import load_cifake
    from dflearn.splits import make_splits

    first = make_cifake(n=24)
    train, test = load_cifake(first, "train"), load_cifake(first, "test")
    splits = make_splits(train, test, n_train_per_class=10, n_test_per_class=4, seed=0)
    choice = sources.DatasetChoice(first, "practice", "embedded")
    monkeypatch.setenv("DFLEARN_OFFLINE", "1")
    monkeypatch.setenv(sources.SECOND_DATA_ENV, str(karki_tree(tmp_path / "k")))
    second = sources.second_dataset(choice, train, splits, search=True, n_per_class=2)
    assert second.name == "Karki's dataset" and "DFLEARN_SECOND_DATA" in second.description
    assert second.splits.test.images.shape[1:] == (32, 32, 3)
    stand_in = sources.second_dataset(choice, train, splits, search=False, n_per_class=10)
    assert "NOT the study's second dataset" in stand_in.description
    assert "manjilkarki/deepfake-and-real-images" in stand_in.description


def test_a_flat_real_fake_folder_is_split_as_the_study_did(tmp_path: Path) -> None:
    for k, cls in enumerate(("REAL", "FAKE")):
        for i in range(10):
            write_image(tmp_path / "flat" / cls / f"{i}.png", 40, seed=10 * k + i)
    splits = sources.labelled_splits(tmp_path / "flat", image_size=32)
    assert [len(s.labels) for s in splits] == [16, 2, 2]
    assert splits.train.images.shape[1:] == (32, 32, 3)
