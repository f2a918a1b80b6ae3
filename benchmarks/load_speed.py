"""Benchmark dflearn.data.load_cifake against a plain single-threaded PIL loop.

Targets (issue: foundation): the first (uncached) load is at least 1.5x faster than the plain
loop, and a cached load at least 20x faster than the first load.

Usage: python benchmarks/load_speed.py --data ../shared/cifake-sample [--split train] [--repeat 3] [--cold]

By default the files sit in the OS page cache for every timing ("warm"), which flatters the
plain loop and the first load. ``--cold`` drops the page cache before each plain-loop and
first-load run (Linux, root only), as on a machine that has not read the folder yet; the cached
load is always timed warm. Prints a table and, as its last line, JSON with the timings and
speed-ups.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import tempfile
import time
from pathlib import Path

import numpy as np
from PIL import Image

from dflearn.data import list_images, load_cifake


def plain_pil_loop(paths: list[Path]) -> np.ndarray:
    """The baseline: open, convert and stack each file in turn."""
    return np.stack([np.asarray(Image.open(p).convert("RGB")) for p in paths])


DROP_CACHES = Path("/proc/sys/vm/drop_caches")


def drop_page_cache() -> None:
    """Ask Linux to forget cached file pages, so the next read comes from the disk."""
    os.sync()
    try:
        DROP_CACHES.write_text("1\n")
    except OSError as exc:
        raise SystemExit(f"--cold needs root on Linux to write {DROP_CACHES}: {exc}") from None


def best_of(repeat: int, func, before=None) -> float:
    """Median wall time of ``repeat`` calls (``before()`` runs untimed ahead of each)."""
    times = []
    for _ in range(repeat):
        if before:
            before()
        start = time.perf_counter()
        func()
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def main() -> None:
    """Run the three timings and print the verdict."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", required=True, help="CIFAKE-layout folder")
    parser.add_argument("--split", default="train")
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--cold", action="store_true", help="drop the OS page cache before each "
                        "plain-loop and first-load run (Linux, root)")
    args = parser.parse_args()
    before = drop_page_cache if args.cold else None

    paths, _ = list_images(args.data, args.split)
    plain = best_of(args.repeat, lambda: plain_pil_loop(paths), before)

    def first_load() -> None:
        with tempfile.TemporaryDirectory() as cache:  # an empty cache every time
            os.environ["DFLEARN_CACHE"] = cache
            load_cifake(args.data, args.split)

    first = best_of(args.repeat, first_load, before)
    with tempfile.TemporaryDirectory() as cache:
        os.environ["DFLEARN_CACHE"] = cache
        load_cifake(args.data, args.split)
        cached = best_of(args.repeat, lambda: load_cifake(args.data, args.split))

    result = {
        "n_images": len(paths), "cpu_count": os.cpu_count(), "page_cache": "cold" if args.cold else "warm",
        "load_average_1min": round(os.getloadavg()[0], 2),
        "plain_pil_seconds": round(plain, 3), "first_load_seconds": round(first, 3),
        "cached_load_seconds": round(cached, 4),
        "first_vs_plain_speedup": round(plain / first, 2),
        "cached_vs_first_speedup": round(first / cached, 1),
    }
    result["targets_met"] = result["first_vs_plain_speedup"] >= 1.5 and result["cached_vs_first_speedup"] >= 20
    print(f"{len(paths)} images from {args.data}/{args.split} ({result['page_cache']} page cache, "
          f"load average {result['load_average_1min']})")
    print(f"plain PIL loop : {plain:8.3f} s")
    print(f"first load     : {first:8.3f} s  ({plain / first:.2f}x faster; target >= 1.5x)")
    print(f"cached load    : {cached:8.4f} s  ({first / cached:.1f}x faster than first; target >= 20x)")
    print(json.dumps(result))


if __name__ == "__main__":
    main()
