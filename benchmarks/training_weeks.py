"""Weeks 4 and 5: grading wall time, week 4's score over repeated gradings, and time to each threshold.

  * `dlgrade grade` of each week's solution (week 4 with the weights its notebook trained, made once under
    build/solution-files/), --runs times, whole process, wall clock: every run's seconds and score.
    Targets: week 4 under 90 s, week 5 under 20 s; week 4's score must be the same every run.
  * The reference networks trained as the notebook trains them (SGD lr 0.01, momentum 0.9, batch 64, shuffled),
    with the test accuracy measured every --every batches: the training time (evaluation excluded) until it
    first reaches the grader's target (NetCNN 0.85, NetFF 0.82), per seed.
Prints; asserts nothing. Run from the repository root:
    PATH=$PWD/.venv/bin:$PATH .venv/bin/python benchmarks/training_weeks.py [--runs 10] [--seeds 3]
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import time
from pathlib import Path

import torch

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
sys.path.insert(0, str(REPO / "benchmarks"))

from training_thresholds import NORMALISE, tensors, test_accuracy, training_steps  # noqa: E402

from autograder.authoring.handed_in import solution_with_files  # noqa: E402
from autograder.course.data import fashion_mnist  # noqa: E402
from autograder.course.graders.week4_cnn import CNN_TARGET, FF_TARGET, NetCNN, NetFF  # noqa: E402
from autograder.course.weeks import get_week  # noqa: E402

BIN = Path(sys.executable).parent


def grading(week: str, runs: int) -> None:
    notebook = solution_with_files(get_week(week), log=print)
    seconds, scores = [], []
    for _ in range(runs):
        started = time.perf_counter()
        run = subprocess.run(
            [str(BIN / "dlgrade"), "grade", str(notebook), "--format", "json"], capture_output=True, text=True
        )
        seconds.append(time.perf_counter() - started)
        if run.returncode != 0:
            raise SystemExit(f"dlgrade grade {notebook} failed ({run.returncode}):\n{run.stderr[-3000:]}")
        report = json.loads(run.stdout)
        scores.append(f"{report['score']:g}/{report['max_score']:g}")
    print(
        f"{week}: dlgrade grade of the solution, {runs} runs: median {statistics.median(seconds):.1f} s, "
        f"min {min(seconds):.1f}, max {max(seconds):.1f}"
    )
    print(f"  seconds: {', '.join(f'{s:.1f}' for s in seconds)}")
    print(f"  scores:  {', '.join(scores)}  ({'all equal' if len(set(scores)) == 1 else 'NOT ALL EQUAL'})")


def time_to_target(model_class: type, target: float, seed: int, data: dict, every: int, epochs: int) -> str:
    torch.manual_seed(seed)
    model = model_class()
    per_epoch = len(data["train"][0]) / 64
    training, began = 0.0, time.perf_counter()
    for steps in training_steps(model, data, epochs, lr=0.01, batch=64):
        training += time.perf_counter() - began
        if steps % every == 0 and (accuracy := test_accuracy(model, data)) >= target:
            return f"{accuracy:.4f} after {steps} batches ({steps / per_epoch:.2f} epochs), {training:.1f} s"
        began = time.perf_counter()
    return f"not reached in {epochs} epochs ({test_accuracy(model, data):.4f}, {training:.1f} s)"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=10, help="gradings per week (default: 10)")
    parser.add_argument("--seeds", type=int, default=3, help="training runs per network (default: 3)")
    parser.add_argument("--every", type=int, default=100, help="batches between test evaluations (default: 100)")
    parser.add_argument("--epochs", type=int, default=4, help="give up after this many epochs (default: 4)")
    args = parser.parse_args()
    print(f"{torch.get_num_threads()} threads")
    for week in ("week4_cnn", "week5_checkpoints"):
        grading(week, args.runs)
    mean, std = NORMALISE["fashion-mnist"]
    data = {split: tensors(fashion_mnist(train=split == "train"), mean, std) for split in ("train", "test")}
    for model_class, target in ((NetCNN, CNN_TARGET), (NetFF, FF_TARGET)):
        for seed in range(1, args.seeds + 1):
            result = time_to_target(model_class, target, seed, data, args.every, args.epochs)
            print(f"{model_class.__name__} to {target:.2f}, seed {seed}: {result}")


if __name__ == "__main__":
    main()
