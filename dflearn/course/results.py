"""Machine-readable headline results: ``record`` in a notebook, ``read_records`` afterwards.

``record(key, value)`` displays a custom MIME bundle (``application/vnd.dflearn.record+json``)
that papermill and nbclient keep in the executed ``.ipynb``; ``read_records`` reads them back with
nbformat. Tables (pandas DataFrames) round-trip as DataFrames.
"""

from __future__ import annotations

import math
import os
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from dflearn.course.sandbox import RECORD_MIME  # stdlib-only module: the one definition

if TYPE_CHECKING:  # nbformat is slow to import; only read_records needs it
    import nbformat


def to_jsonable(value: Any) -> Any:
    """Convert NumPy/pandas values to plain JSON types (NaN becomes None)."""
    if isinstance(value, pd.DataFrame):
        table = {"__table__": True, "columns": [str(c) for c in value.columns],
                 "index": [to_jsonable(i) for i in value.index],
                 "data": [[to_jsonable(v) for v in row] for row in value.itertuples(index=False)]}
        if any(n is not None for n in value.index.names):
            table["index_names"] = [None if n is None else str(n) for n in value.index.names]
        return table
    if isinstance(value, pd.Series):
        return {str(k): to_jsonable(v) for k, v in value.items()}
    if isinstance(value, dict):
        return {str(k): to_jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [to_jsonable(v) for v in value]
    if isinstance(value, np.ndarray):
        return to_jsonable(value.tolist())
    if isinstance(value, np.generic):
        value = value.item()
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if value is None or isinstance(value, (bool, int, float, str)):
        return value
    return str(value)


def from_jsonable(value: Any) -> Any:
    """Inverse of :func:`to_jsonable` for tables (a multi-level index comes back as one)."""
    if isinstance(value, dict) and value.get("__table__"):
        index, names = value["index"], value.get("index_names") or [None]
        if index and all(isinstance(i, list) for i in index):
            index = pd.MultiIndex.from_tuples([tuple(i) for i in index], names=names)
        else:
            index = pd.Index(index, name=names[0] if len(names) == 1 else None)
        return pd.DataFrame(value["data"], columns=value["columns"], index=index)
    return value


def _short(value: Any, width: int = 70) -> str:
    if isinstance(value, pd.DataFrame):
        return f"table {value.shape[0]}x{value.shape[1]}"
    text = f"{value:.4f}" if isinstance(value, float) else repr(value)
    return text if len(text) <= width else text[: width - 3] + "..."


def record(key: str, value: Any, *, show: bool = True) -> None:
    """Store a headline result under ``key`` in the notebook's outputs (outside IPython: nothing).

    Shown as one ``[recorded] key = value`` line; the dflearn runner and grader read it back.
    """
    payload = {"key": key, "value": to_jsonable(value)}
    try:
        from IPython import get_ipython
        from IPython.display import display
    except ImportError:  # plain Python: nowhere to display it
        return
    if get_ipython() is None:
        return
    text = f"[recorded] {key} = {_short(value)}" if show else f"[recorded] {key}"
    display({RECORD_MIME: payload, "text/plain": text}, raw=True)


def read_records(notebook: "str | os.PathLike | nbformat.NotebookNode") -> dict[str, Any]:
    """Read every record from an executed notebook; a later record of a key wins."""
    import nbformat

    nb = notebook if isinstance(notebook, nbformat.NotebookNode) else nbformat.read(notebook, as_version=4)
    records: dict[str, Any] = {}
    for cell in nb.cells:
        for output in cell.get("outputs", []):
            payload = output.get("data", {}).get(RECORD_MIME)
            if isinstance(payload, dict) and "key" in payload:
                try:
                    records[payload["key"]] = from_jsonable(payload.get("value"))
                except (TypeError, ValueError, KeyError):  # a malformed table: keep it raw
                    records[payload["key"]] = payload.get("value")
    return records
