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
