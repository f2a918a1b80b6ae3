"""The notebook's training clock (issue 16): one budget of training seconds for a notebook,
honoured by training.fit and gan.train_gan, started by dflearn.setup from the profile."""

from __future__ import annotations

import numpy as np
import pytest

from dflearn import training_clock
from dflearn.course.config import Profile, ProfileError, get_profile


@pytest.fixture(autouse=True)
def _no_clock_after():
    yield
    training_clock.start(None)


def test_fits_share_what_the_notebook_has_left() -> None:
    clock = training_clock.start(100)
    assert training_clock.clip(None) == 100 and training_clock.clip(30) == 30
    training_clock.charge(80)
    assert clock.remaining == 20
    assert training_clock.clip(None) == 20 and training_clock.clip(30) == 20 and training_clock.clip(10) == 10
    training_clock.charge(50)
    assert clock.remaining == 0
    assert training_clock.clip(None) == training_clock.MIN_SECONDS  # still a few batches


def test_without_a_clock_budgets_pass_unchanged() -> None:
    assert training_clock.start(None) is None and training_clock.start(0) is None
    assert training_clock.clip(None) is None and training_clock.clip(12) == 12
    training_clock.charge(1e9)  # nothing to charge
    assert training_clock.current() is None
    with pytest.raises(ValueError, match="seconds"):
        training_clock.start(-1)


def test_fit_stops_at_the_notebook_budget_and_charges_it() -> None:
    from dflearn import models, training

    rng = np.random.default_rng(0)
    images = rng.integers(0, 256, (512, 32, 32, 3), dtype=np.uint8)
    labels = rng.integers(0, 2, 512)
    clock = training_clock.start(0.01)  # spent after the first batch: MIN_SECONDS of training
    clock.used = clock.seconds
    model = models.build("personal", width=0.0625)
    result = training.fit(model, (images, labels), epochs=10_000, batch_size=16, schedule=None,
                          patience=0)
    assert result.settings["time_budget"] == training_clock.MIN_SECONDS
    assert len(result.history["loss"]) < 10_000 and "budget" in result.stopped
    # charged from the start to the end of training: the fit's own clock adds only set-up
    assert clock.used - clock.seconds == pytest.approx(result.seconds, abs=0.5)


def test_the_budget_callback_clips_to_the_clock_and_charges_what_it_trained() -> None:
    from dflearn.training import TimeBudget

    assert TimeBudget.within_clock(None) is None  # no clock, no budget: nothing limits training
    assert TimeBudget.within_clock(30).seconds == 30
    clock = training_clock.start(100)
    assert TimeBudget.within_clock(None).seconds == 100
    assert TimeBudget.within_clock(300).seconds == 100 and TimeBudget.within_clock(30).seconds == 30
    budget = TimeBudget.within_clock(30)
    budget.on_train_begin()
    budget.start -= 12.0  # as if training had taken 12 s
    budget.on_train_end()
    assert clock.used == pytest.approx(12.0, abs=0.5) and clock.remaining == pytest.approx(88, abs=0.5)


def test_setup_starts_the_profiles_clock_and_says_so(capsys: pytest.CaptureFixture[str]) -> None:
    import dflearn

    cpu = get_profile("cpu")
    assert cpu.training_budget("03") and cpu.training_budget("00") is None
    dflearn.setup("cpu", notebook="03", tensorflow=False)
    assert training_clock.current().seconds == cpu.training_budget("03")
    assert f"training budget {cpu.training_budget('03'):g} s" in capsys.readouterr().out
    dflearn.setup("ci", notebook="03", tensorflow=False)
    assert training_clock.current() is None
    capsys.readouterr()
    dflearn.setup("cpu", notebook="03", tensorflow=False, clock=False)  # what benchmarks do
    assert training_clock.current() is None and "training budget" not in capsys.readouterr().out


def test_a_budget_must_be_positive_seconds_of_a_real_notebook() -> None:
    for bad in ({"03": 0}, {"03": -5}, {"99": 10}):
        with pytest.raises(ProfileError):
            Profile("x", "test", "embedded", "official", get_profile("ci").defaults,
                    training_budgets=bad)
