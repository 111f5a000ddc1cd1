"""What ``hwsearch train`` costs: seconds per epoch of real-width training on Fashion-MNIST.

For each architecture (a default run's front spans these), times ``--steps`` optimiser steps
of :func:`hwsearch.training.train_network` at the network's own resolution and at smaller
ones, and prints the seconds per step and the extrapolated minutes per epoch (the data set
less the search's validation split, batch 128). Run it alone: other work on the machine slows the figures.

    python benchmarks/train_cost.py --steps 20
"""

from __future__ import annotations

import argparse
import contextlib
import os
import time

from hwsearch.arch import Arch
from hwsearch.data import load_dataset
from hwsearch.proxy.budgets import get_budget
from hwsearch.training import TrainSettings, train_network, training_split

# Three networks of a default jetson-nano run's front: its fastest, its knee and its most accurate.
ARCHS = (
    "mbv1_a0.25_r160_in3_cls1000_floor8_stem32s2_conv64x1s2_conv128x1s2_conv256x1s2_ds512x1s1_ds1024x1s2",
    "mbv1_a0.75_r160_in3_cls1000_floor8_stem32s2_conv64x1s2_conv128x1s2_conv256x1s2_ds512x2s1_ds1024x1s2",
    "mbv1_a1.0_r224_in3_cls1000_floor8_stem32s2_conv64x1s2_conv128x3s2_conv256x1s1_ds512x1s1_ds1024x1s2",
)


class _Enough(Exception):
    pass


def seconds_per_step(arch: Arch, data, test, resolution: int | None, steps: int) -> float:
    """Mean seconds of one step, after two warm-up steps."""
    marks: list[float] = []

    def on_step(done: int, total: int) -> None:
        marks.append(time.perf_counter())
        if len(marks) == steps + 2:
            raise _Enough

    with contextlib.suppress(_Enough):
        train_network(arch, data, test, TrainSettings(epochs=1, resolution=resolution), on_step=on_step)
    return (marks[-1] - marks[1]) / steps


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=20)
    parser.add_argument("--resolutions", default="native,64,32", help="comma-separated; 'native' = the arch's own")
    args = parser.parse_args()
    print(f"load average {os.getloadavg()[0]:.2f} on {os.cpu_count()} cores")
    dataset = load_dataset("fashion-mnist")
    data = training_split(dataset, get_budget("quick"))
    steps_per_epoch = len(data.train) // TrainSettings().batch_size
    print(f"{len(data.train)} training images, {steps_per_epoch} steps of {TrainSettings().batch_size} per epoch")
    for text in ARCHS:
        arch = Arch.from_str(text)
        for spec in args.resolutions.split(","):
            resolution = None if spec == "native" else int(spec)
            step_s = seconds_per_step(arch, data, dataset.test, resolution, args.steps)
            shown = resolution or arch.resolution
            print(f"  alpha {arch.alpha:<5} {shown:4d} px: {step_s:6.3f} s/step, {step_s * steps_per_epoch / 60:6.1f} "
                  f"min/epoch  {text[:40]}...")  # fmt: skip


if __name__ == "__main__":
    main()
