"""Ablation of the `cpu` profile's notebook-03 recipe: every variant trained under one time budget.

    python benchmarks/cnn_ablation.py --data ../shared/cifake-sample [--budget 120] [--only a,b] [--csv F]

Each variant is the recipe with one change (see VARIANTS). All train on the same images for the
same wall-clock budget (the recipe's cosine schedule follows the budget, so each anneals fully;
the last variant's does not, as the recipe's did before issue 17), then are scored on all of
DATA/test, plain and with flip test-time augmentation. The table gives images/s, achieved
GFLOP/s (3 x forward FLOPs per image x images/s: forward plus two backward products), test
accuracy and the difference from the baseline, with the load average. The last line is JSON
with every row. Run it on a quiet machine: nothing else training.
"""

from __future__ import annotations

import argparse
import json
import os
import time
from dataclasses import dataclass, field
from typing import Any, Mapping

import keras
import pandas as pd

import dflearn
from dflearn import models, training
from dflearn.metrics import evaluate
from dflearn.splits import balanced_subset, official_split


@dataclass(frozen=True)
class Variant:
    """One change to the recipe: recipe fields, extra ``training.fit`` options, a dtype policy."""

    name: str
    recipe: dict[str, Any] = field(default_factory=dict)
    fit: dict[str, Any] = field(default_factory=dict)
    policy: str = "float32"


BASELINE = "baseline (cpu recipe)"
# the recipe as issue 17 found it: the same, but its cosine ran over the planned epochs, so a
# time budget that ends training first leaves the learning rate high
ISSUE_17_RECIPE = "cosine over the planned epochs, not the budget (the recipe before issue 17)"


def variants(base_rate: float, base_batch: int,
             base_options: Mapping[str, Any] | None = None) -> list[Variant]:
    """The ablation: the baseline first, then one change each (``base_options``: the recipe's
    builder options, which the whitening variant keeps apart from its stem)."""
    whiten = {**(base_options or {}), "stem": "whiten"}
    return [
        Variant(BASELINE),
        Variant("label smoothing 0.1", fit={"label_smoothing": 0.1}),
        Variant("flips only (no shifts)", recipe={"augment": "flip"}),
        Variant("no augmentation", recipe={"augment": "none"}),
        Variant(f"batch {2 * base_batch}, learning rate x2",
                recipe={"batch_size": 2 * base_batch, "learning_rate": 2 * base_rate}),
        Variant("bfloat16 compute (mixed_bfloat16)", policy="mixed_bfloat16"),
        Variant("width 0.375 instead of 0.25", recipe={"width": 0.375}),
        Variant("EMA of the weights (momentum 0.99)", recipe={"ema": 0.99}),
        Variant("whitened 2x2 stem instead of space-to-depth", recipe={"options": whiten}),
        Variant("flips and 2-pixel shifts (airbench)", recipe={"augment": "shift2"}),
        Variant(ISSUE_17_RECIPE, fit={"schedule_options": {"follow_budget": False}}),
    ]


def parse_args() -> argparse.Namespace:
    """Command-line options."""
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--data", required=True, help="a CIFAKE-layout folder (train/ and test/)")
    p.add_argument("--profile", default="cpu", help="dflearn profile (default: cpu)")
    p.add_argument("--budget", type=float, default=120.0,
                   help="training seconds per variant (default 120)")
    p.add_argument("--n-train", type=int, help="images per class for training (default: all)")
    p.add_argument("--only", default="", help="comma-separated variant numbers, e.g. 0,2 (0 = baseline)")
    p.add_argument("--seed", type=int, default=42)
    p.add_argument("--csv", help="also write the table here (with the budget, data and sizes)")
    return p.parse_args()


def run_variant(variant: Variant, settings: Any, splits: Any, budget: float,
                seed: int) -> dict[str, Any]:
    """Train and score one variant; restore the float32 policy afterwards."""
    keras.mixed_precision.set_global_policy(variant.policy)
    try:
        keras.utils.set_random_seed(seed)
        recipe = training.recipe(settings, time_budget=budget, **variant.recipe)
        model = recipe.build()
        flops = models.forward_flops(model)
        result = training.fit(model, splits.train, splits.val,
                              **{**recipe.fit_options(seed=seed), **variant.fit})
        plain = evaluate(model, splits.test)["accuracy"]
        tta = evaluate(model, splits.test, flip_tta=True)["accuracy"]
    finally:
        keras.mixed_precision.set_global_policy("float32")
    return {"variant": variant.name, "epochs": result.epochs_run,
            "train_s": round(result.seconds, 1),
            "images_per_s": round(result.images_per_second, 1),
            "gflops_per_s": round(3 * flops * result.images_per_second / 1e9, 2),
            "test_accuracy": round(plain, 4), "test_accuracy_tta": round(tta, 4),
            "load_average": round(os.getloadavg()[0], 2)}


def warm_up(settings: Any, splits: Any, seed: int) -> None:
    """One short throwaway fit, so the first variant does not pay the process's one-time
    start-up (TensorFlow's thread pools, first graph compilations) inside its budget."""
    recipe = training.recipe(settings, epochs=1)
    few = balanced_subset(splits.train, 256, seed)
    training.fit(recipe.build(), few, None, **recipe.fit_options(seed=seed, patience=0,
                                                                   schedule=None, time_budget=None))


def main() -> None:
    """Train every chosen variant and print the table and one JSON line."""
    args = parse_args()
    session = dflearn.setup(args.profile, notebook="03", data=args.data, seed=args.seed,
                            clock=False)  # each fit keeps its own budget
    settings = session.settings
    train = balanced_subset(session.load("train"), args.n_train or settings.n_train_per_class,
                            args.seed)
    splits = official_split(train, session.load("test"), 0.05, args.seed)
    print(splits.describe())
    base = training.recipe(settings)
    chosen = variants(base.learning_rate, base.batch_size, base.options)
    if args.only:
        chosen = [chosen[int(i)] for i in args.only.split(",")]
    warm_up(settings, splits, args.seed)
    rows = []
    for variant in chosen:
        start = time.perf_counter()
        rows.append(run_variant(variant, settings, splits, args.budget, args.seed))
        print(f"{variant.name}: {rows[-1]} ({time.perf_counter() - start:.0f} s with scoring)",
              flush=True)
    table = pd.DataFrame(rows).set_index("variant")
    if chosen[0].name == BASELINE:
        table["delta_points"] = ((table["test_accuracy"] - table["test_accuracy"].iloc[0])
                                 * 100).round(2)
    print(table.to_string())
    if args.csv:
        table.assign(budget_s=args.budget, n_train=len(splits.train.labels),
                     n_test=len(splits.test.labels), data=os.path.basename(
                         os.path.normpath(args.data))).to_csv(args.csv)
    print(json.dumps({"budget_s": args.budget, "n_train": len(splits.train.labels),
                      "n_test": len(splits.test.labels), "rows": rows}))


if __name__ == "__main__":
    main()
