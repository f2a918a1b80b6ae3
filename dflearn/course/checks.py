"""Self-checks for student exercises; each result is recorded as ``exercise/<name>`` for grading."""

from __future__ import annotations

import traceback
from typing import Any, Callable, Sequence

import numpy as np

from dflearn.course.results import record


def check(name: str, passed: bool, message: str = "", points: float = 1.0) -> bool:
    """Print a pass/fail line for exercise ``name`` and record it for the grader."""
    record(f"exercise/{name}", {"passed": bool(passed), "points": points if passed else 0.0,
                               "max_points": points, "message": message}, show=False)
    mark = "PASSED" if passed else "NOT YET"
    print(f"[{mark}] exercise '{name}'" + (f": {message}" if message else ""))
    return bool(passed)


def _describe_error(exc: BaseException) -> str:
    if isinstance(exc, NotImplementedError):
        return "not implemented yet (replace `raise NotImplementedError()` with your code)"
    last = traceback.extract_tb(exc.__traceback__)[-1]
    return f"your code raised {type(exc).__name__}: {exc} (line {last.lineno})"


def check_close(name: str, got: Any, expected: Any, *, rtol: float = 1e-5, atol: float = 1e-8,
                points: float = 1.0) -> bool:
    """Check that ``got`` matches ``expected`` in shape and value (within tolerances)."""
    got_arr, exp_arr = np.asarray(got), np.asarray(expected)
    if got_arr.shape != exp_arr.shape:
        return check(name, False, f"shape {got_arr.shape}, expected {exp_arr.shape}", points)
    try:
        ok = bool(np.allclose(got_arr, exp_arr, rtol=rtol, atol=atol, equal_nan=True))
    except TypeError:
        ok = bool(np.array_equal(got_arr, exp_arr))
    if ok:
        return check(name, True, "matches the reference", points)
    worst = float(np.max(np.abs(got_arr.astype(float) - exp_arr.astype(float))))
    return check(name, False, f"values differ from the reference (max abs difference {worst:.3g})", points)


def check_function(name: str, func: Callable[..., Any], reference: Callable[..., Any],
                   cases: Sequence[tuple], *, rtol: float = 1e-5, atol: float = 1e-8,
                   points: float = 1.0) -> bool:
    """Call ``func`` and ``reference`` on each argument tuple in ``cases`` and compare results.

    Exceptions from the student's function are reported, not raised, so grading carries on.
    """
    for i, args in enumerate(cases):
        try:
            got = func(*args)
        except Exception as exc:  # student code: report any failure
            return check(name, False, _describe_error(exc), points)
        expected = reference(*args)
        if not np.allclose(np.asarray(got, dtype=float), np.asarray(expected, dtype=float),
                           rtol=rtol, atol=atol) or np.shape(got) != np.shape(expected):
            return check(name, False, f"case {i + 1} of {len(cases)} differs from the reference "
                                      f"(got shape {np.shape(got)}, expected {np.shape(expected)})", points)
    return check(name, True, f"all {len(cases)} cases match the reference", points)
