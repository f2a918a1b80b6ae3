"""Throughput of dflearn's training loop against a bare ``model.fit`` on in-memory arrays.

    python benchmarks/pipeline_overhead.py [--data PATH] [--profile cpu] [--images 4096] [--rounds 3]

Both train the profile's recommended CNN (notebook 03's recipe) on the same images with the same
batch size; the first epoch of every run (tracing) is left out. Runs alternate between the two so
that changing load on a shared machine hits both alike; the median images/s of each is compared.
The last output line is JSON with both throughputs and the overhead in percent.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import time
from typing import Any, Callable

import keras
import numpy as np

import dflearn
from dflearn import models, training


class EpochTimer(keras.callbacks.Callback):
    """Records the wall time of every epoch."""

    def __init__(self) -> None:
        super().__init__()
        self.seconds: list[float] = []
        self._start = 0.0

    def on_epoch_begin(self, epoch: int, logs: dict[str, Any] | None = None) -> None:
        self._start = time.perf_counter()

    def on_epoch_end(self, epoch: int, logs: dict[str, Any] | None = None) -> None:
        self.seconds.append(time.perf_counter() - self._start)


def parse_args() -> argparse.Namespace:
    """Command-line options."""
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--data", help="a CIFAKE-layout folder (default: random images)")
    p.add_argument("--profile", default="cpu")
    p.add_argument("--images", type=int, default=4096, help="training images per run")
    p.add_argument("--epochs", type=int, default=3, help="epochs per run (the first is dropped)")
    p.add_argument("--rounds", type=int, default=3, help="alternating runs of each loop")
    p.add_argument("--augment", default="none", help="augmentation in dflearn's loop")
    return p.parse_args()


def images_and_labels(data: str | None, n: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """``n`` training images (uint8) and labels, from ``data`` or random."""
    if data:
        ds = dflearn.load_cifake(data, "train")
        idx = np.random.default_rng(seed).choice(len(ds.labels), size=min(n, len(ds.labels)), replace=False)
        return ds.images[idx], ds.labels[idx]
    rng = np.random.default_rng(seed)
    return rng.integers(0, 256, (n, 32, 32, 3), dtype=np.uint8), rng.integers(0, 2, n)


def timed(run: Callable[[EpochTimer], None], n_images: int) -> float:
    """Images per second over the epochs after the first."""
    timer = EpochTimer()
    run(timer)
    return n_images * (len(timer.seconds) - 1) / sum(timer.seconds[1:])


def main() -> None:
    """Alternate the two loops and print the comparison."""
    args = parse_args()
    session = dflearn.setup(args.profile, notebook="03", seed=0, clock=False)  # own budgets
    recipe = training.recipe(session.settings)
    x, y = images_and_labels(args.data, args.images, 0)
    x_float = x.astype("float32")
    print(f"recipe: {recipe.describe()}; {len(y)} images; load average {os.getloadavg()[0]:.2f}")

    def ours(timer: EpochTimer) -> None:
        model = recipe.build()
        training.fit(model, (x, y), None, epochs=args.epochs, batch_size=recipe.batch_size,
                     learning_rate=recipe.learning_rate, schedule=None, patience=0,
                     augment=training.augmentation_named(args.augment) or False, callbacks=[timer])

    def bare(timer: EpochTimer) -> None:
        model = models.compile_model(recipe.build(), recipe.learning_rate)
        model.fit(x_float, y, batch_size=recipe.batch_size, epochs=args.epochs, shuffle=True,
                  callbacks=[timer], verbose=0)

    speeds: dict[str, list[float]] = {"dflearn": [], "bare": []}
    for r in range(args.rounds):
        for name, run in (("dflearn", ours), ("bare", bare)) if r % 2 == 0 else (("bare", bare), ("dflearn", ours)):
            speeds[name].append(timed(run, len(y)))
            print(f"round {r + 1} {name:>8}: {speeds[name][-1]:.0f} images/s "
                  f"(load average {os.getloadavg()[0]:.2f})", flush=True)
    ours_ips, bare_ips = statistics.median(speeds["dflearn"]), statistics.median(speeds["bare"])
    print(json.dumps({"dflearn_images_per_second": round(ours_ips, 1),
                      "bare_fit_images_per_second": round(bare_ips, 1),
                      "overhead_percent": round(100 * (1 - ours_ips / bare_ips), 2),
                      "model": recipe.arch, "width": recipe.width, "batch_size": recipe.batch_size,
                      "augment": args.augment, "rounds": args.rounds, "n_images": len(y)}))


if __name__ == "__main__":
    main()
