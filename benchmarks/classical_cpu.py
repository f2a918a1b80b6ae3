"""Time notebooks 01 (EDA) and 02 (classical baselines) under a profile on a data folder.

    python benchmarks/classical_cpu.py --data /path/to/cifake [--profile cpu] [--only 01,02]

Runs the solutions notebooks with papermill (as ``dflearn run`` does) into a temporary folder,
then prints one line per notebook (seconds, target, status) and its headline records. The last
output line is JSON with the same numbers. The target is 300 s per notebook on 2 CPU cores.
"""

from __future__ import annotations

import argparse
import json
import tempfile

import pandas as pd

from dflearn.course.runner import NotebookRun, run_course

TARGET_SECONDS = 300.0
HEADLINES = {
    "01": ["01/colour_tests", "01/findings", "01/high_frequency", "01/spectral_max_effect",
           "01/duplicates"],
    "02": ["02/brightness_threshold_val_accuracy", "02/best_validation",
           "02/test_metrics", "02/best_test_accuracy"],
}


def parse_args() -> argparse.Namespace:
    """Command-line options."""
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--data", required=True, help="a CIFAKE-layout folder (train/ and test/)")
    p.add_argument("--profile", default="cpu", help="dflearn profile (default: cpu)")
    p.add_argument("--only", default="01,02", help="notebook ids (default: 01,02)")
    p.add_argument("--target", type=float, default=TARGET_SECONDS, help="seconds per notebook")
    return p.parse_args()


def headline(run: NotebookRun) -> dict:
    """The notebook's headline records, tables reduced to plain dicts."""
    found = {}
    for key in HEADLINES.get(run.notebook[:2], []):
        value = run.records.get(key)
        found[key] = value.to_dict(orient="index") if isinstance(value, pd.DataFrame) else value
    return found


def main() -> None:
    """Run the notebooks, print the timings and headline results."""
    args = parse_args()
    only = [s for s in args.only.split(",") if s]
    with tempfile.TemporaryDirectory(prefix="dflearn-bench-") as out:
        runs, _ = run_course(args.profile, args.data, only, out, progress=False)
    summary = []
    for run in runs:
        verdict = "within" if run.seconds <= args.target else "OVER"
        print(f"{run.notebook:<28} {run.seconds:6.1f} s ({verdict} the {args.target:.0f} s target) "
              f"status={run.status} {run.error}")
        records = headline(run)
        for key, value in records.items():
            print(f"    {key}: {value}")
        summary.append({"notebook": run.notebook, "seconds": round(run.seconds, 1),
                        "status": run.status, "records": records})
    print(json.dumps({"profile": args.profile, "data": args.data, "target_s": args.target,
                      "runs": summary}, default=str))


if __name__ == "__main__":
    main()
