"""The notebook's training clock: one budget of training seconds for a whole notebook, which
every training helper honours.

Core layer; imports nothing from dflearn and no TensorFlow. :func:`dflearn.setup` starts it with
the profile's ``training_budgets`` entry for the notebook (the ``cpu`` profile sets them to cap
the course's time on 2 cores); :func:`dflearn.training.fit` and
:func:`dflearn.gan.train_gan` train under a :class:`dflearn.training.TimeBudget` made by
``TimeBudget.within_clock``, which clips their own ``time_budget`` to what is left
(:func:`clip`) and charges the seconds they trained (:func:`charge`). Without a started clock
both do nothing.
"""

from __future__ import annotations

from dataclasses import dataclass

# A fit that finds the clock spent still trains this long (a few batches), so it returns a model.
MIN_SECONDS = 5.0


@dataclass
class TrainingClock:
    """``seconds`` of training for one notebook, of which ``used`` are spent."""

    seconds: float
    used: float = 0.0

    @property
    def remaining(self) -> float:
        """Training seconds left (never negative)."""
        return max(0.0, self.seconds - self.used)

    def clip(self, time_budget: float | None) -> float:
        """The budget one fit gets: its own (``None``: unlimited), at most what the notebook
        has left, and at least :data:`MIN_SECONDS`."""
        left = max(self.remaining, MIN_SECONDS)
        return left if time_budget is None else min(float(time_budget), left)


_clock: TrainingClock | None = None


def start(seconds: float | None) -> TrainingClock | None:
    """Start the notebook's clock with ``seconds`` of training (``None`` or 0: no clock)."""
    global _clock
    if seconds is not None and seconds < 0:
        raise ValueError(f"A training budget is a number of seconds >= 0, got {seconds!r}.")
    _clock = TrainingClock(float(seconds)) if seconds else None
    return _clock


def current() -> TrainingClock | None:
    """The running clock, or ``None``."""
    return _clock


def clip(time_budget: float | None) -> float | None:
    """``time_budget`` clipped to the notebook's remaining training seconds (unchanged when
    no clock runs)."""
    return time_budget if _clock is None else _clock.clip(time_budget)


def charge(seconds: float) -> None:
    """Count ``seconds`` of training against the notebook's clock (if one runs)."""
    if _clock is not None:
        _clock.used += float(seconds)
