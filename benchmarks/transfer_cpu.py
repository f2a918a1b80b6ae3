"""Benchmark one training step of notebook 04's transfer models: dflearn.layers.TransferNet
(gradients taped for the trainable weights only) against a plain keras.Model of the same layers.

Target (issue 5): in eager mode (what the ``ci`` profile uses), a frozen-backbone step of
TransferNet costs at most half of the plain model's, and the results are identical.

Usage: python benchmarks/transfer_cpu.py [--backbones vgg16 resnet50 densenet121] [--batch 32]
       [--size 32] [--repeat 3] [--graph]
Prints a table and, as its last line, JSON with the median seconds per step and the speed-ups.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

import keras  # noqa: E402
import numpy as np  # noqa: E402

from dflearn import backbones  # noqa: E402
from dflearn.models import compile_model  # noqa: E402


def step_seconds(model: keras.Model, images: np.ndarray, labels: np.ndarray, repeat: int,
                 eager: bool) -> float:
    """Median seconds of one ``train_on_batch`` after a warm-up step."""
    compile_model(model, 1e-4)
    model.run_eagerly = eager
    model.train_on_batch(images, labels)
    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        model.train_on_batch(images, labels)
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def measure(name: str, phase: str, batch: int, size: int, repeat: int, eager: bool) -> dict:
    """Seconds per step of TransferNet and of the plain model, one backbone and phase."""
    tm = backbones.transfer_model(name, input_size=size, source_size=size, weights=None)
    if phase == "fine-tuned":
        tm.unfreeze()
    plain = keras.Model(tm.model.input, tm.model.output)  # same layers, default train step
    rng = np.random.default_rng(0)
    images = rng.uniform(0, 255, (batch, size, size, 3)).astype("float32")
    labels = np.arange(batch) % 2
    net = step_seconds(tm.model, images, labels, repeat, eager)
    base = step_seconds(plain, images, labels, repeat, eager)
    return {"backbone": name, "phase": phase, "transfer_net_s": round(net, 3),
            "plain_s": round(base, 3), "speedup": round(base / net, 2)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--backbones", nargs="+", default=list(backbones.BACKBONES))
    parser.add_argument("--batch", type=int, default=32)
    parser.add_argument("--size", type=int, default=32)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--graph", action="store_true", help="compiled tf.function steps")
    args = parser.parse_args()
    rows = [measure(name, phase, args.batch, args.size, args.repeat, not args.graph)
            for name in args.backbones for phase in ("frozen", "fine-tuned")]
    print(f"{'backbone':<12} {'phase':<10} {'TransferNet s':>13} {'plain s':>8} {'speed-up':>8}")
    for r in rows:
        print(f"{r['backbone']:<12} {r['phase']:<10} {r['transfer_net_s']:>13.3f} "
              f"{r['plain_s']:>8.3f} {r['speedup']:>8.2f}")
    print(json.dumps({"mode": "graph" if args.graph else "eager", "batch": args.batch,
                      "size": args.size, "results": rows}))


if __name__ == "__main__":
    main()
