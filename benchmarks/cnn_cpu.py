"""Speed and accuracy benchmark: train the profile's recommended CNN on DATA/train, score it on
all of DATA/test.

    python benchmarks/cnn_cpu.py --data /path/to/cifake [--profile cpu]

The last output line is JSON: test_accuracy, train_seconds, n_train, n_test (and more).
Options such as --arch/--width/--epochs override the profile's choice, for tuning.
"""

from __future__ import annotations

import argparse
import json
import os
import time

import dflearn
from dflearn import training
from dflearn.metrics import evaluate
from dflearn.splits import balanced_subset, official_split


def parse_args() -> argparse.Namespace:
    """Command-line options."""
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--data", required=True, help="a CIFAKE-layout folder (train/ and test/)")
    p.add_argument("--profile", default="cpu", help="dflearn profile (default: cpu)")
    p.add_argument("--arch", help="override the recommended architecture")
    p.add_argument("--width", type=float, help="override the width multiplier")
    p.add_argument("--epochs", type=int, help="override the number of epochs")
    p.add_argument("--batch-size", type=int, help="override the batch size")
    p.add_argument("--learning-rate", type=float, help="override the learning rate")
    p.add_argument("--time-budget", type=float, help="override the training time budget (s)")
    p.add_argument("--n-train", type=int, help="override images per class used for training")
    p.add_argument("--schedule", help="override the learning-rate schedule")
    p.add_argument("--weight-decay", type=float, help="override the weight decay")
    p.add_argument("--augment", help="override the augmentation (none, flip, shift, ...)")
    p.add_argument("--monitor", help="override what early stopping watches")
    p.add_argument("--option", action="append", default=[], metavar="KEY=VALUE",
                   help="builder option, e.g. dropout=0.1 or stem=space_to_depth (repeatable)")
    p.add_argument("--val-fraction", type=float, default=0.05,
                   help="share of the training images held out for early stopping")
    p.add_argument("--save", help="save the trained model to this .keras file")
    p.add_argument("--seed", type=int, default=42)
    return p.parse_args()


def parse_options(pairs: list[str], base: dict | None) -> dict | None:
    """``["dropout=0.1", "stem=none"]`` merged over the profile's builder options."""
    if not pairs:
        return None
    options = dict(base or {})
    for pair in pairs:
        key, sep, value = pair.partition("=")
        if not sep:
            raise SystemExit(f"--option needs KEY=VALUE, got {pair!r}")
        try:
            options[key] = json.loads(value)
        except json.JSONDecodeError:
            options[key] = value
    return options


def main() -> None:
    """Train, evaluate and print the JSON summary line."""
    args = parse_args()
    session = dflearn.setup(args.profile, notebook="03", data=args.data, seed=args.seed,
                            clock=False)  # each fit keeps its own budget
    s = session.settings
    recipe = training.recipe(s, arch=args.arch, width=args.width, epochs=args.epochs,
                             batch_size=args.batch_size, learning_rate=args.learning_rate,
                             time_budget=args.time_budget, schedule=args.schedule,
                             weight_decay=args.weight_decay, augment=args.augment,
                             monitor=args.monitor,
                             options=parse_options(args.option, s.recipe.get("options")))
    n_train = args.n_train or s.n_train_per_class
    t0 = time.perf_counter()
    train = balanced_subset(session.load("train"), n_train, args.seed)
    splits = official_split(train, session.load("test"), args.val_fraction, args.seed)
    print(f"data loaded in {time.perf_counter() - t0:.1f} s\n{splits.describe()}")
    print(f"recipe: {recipe.describe()} | threads: {os.cpu_count()} cores, "
          f"load average {os.getloadavg()[0]:.2f}", flush=True)
    model = recipe.build()
    result = training.fit(model, splits.train, splits.val,
                          **recipe.fit_options(seed=args.seed, verbose=2))
    print(result.summary(), flush=True)
    if args.save:
        model.save(args.save)
    row = evaluate(model, splits.test)
    tta = evaluate(model, splits.test, flip_tta=True)
    print(json.dumps({"test_accuracy": round(row["accuracy"], 4),
                      "train_seconds": round(result.seconds, 1),
                      "train_cpu_seconds": round(result.cpu_seconds, 1),
                      "n_train": len(splits.train.labels), "n_test": len(splits.test.labels),
                      "n_val": len(splits.val.labels), "epochs_run": result.epochs_run,
                      "images_per_second": round(result.images_per_second, 1),
                      "model": recipe.arch, "width": recipe.width, "params": model.count_params(),
                      "roc_auc": round(row["roc_auc"], 4),
                      "test_accuracy_flip_tta": round(tta["accuracy"], 4),
                      "load_average": round(os.getloadavg()[0], 2)}))


if __name__ == "__main__":
    main()
