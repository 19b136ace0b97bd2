"""Mutation testing of every week's graders: each part's kill rate, the survivors, and the mutants judged equivalent.

Every mutant of each part's reference answer (autograder/authoring/mutants.py: cosmic-ray's operators and this
field's) is graded through the normal sandbox by that part's graders; a part must kill at least 95% of those not
judged equivalent (autograder/course/graders/equivalent_mutants.json, each with its reason). Slow (about a
thousand gradings); prints; asserts nothing. Run from the repository root:
    PATH=$PWD/.venv/bin:$PATH .venv/bin/python benchmarks/mutation.py [--weeks week1_tensors] [--jobs 2]
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from autograder.authoring.mutants import KILL_TARGET, run  # noqa: E402
from autograder.course.weeks import WEEKS, get_week  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--weeks", default=",".join(WEEKS), help="comma-separated weeks (default: all)")
    parser.add_argument("--parts", help="comma-separated parts (default: every part of those weeks)")
    parser.add_argument("--jobs", type=int, default=2, help="mutants graded at once (default: 2)")
    parser.add_argument("--json", type=Path, help="also write every mutant's outcome here")
    args = parser.parse_args()
    parts = set(args.parts.split(",")) if args.parts else None
    print(f"{'week':<18} {'part':<17} {'mutants':>7} {'equiv':>5} {'killed':>6} {'kill rate':>9}")
    record, below, started = [], [], time.monotonic()
    for name in args.weeks.split(","):
        for part, result in run(get_week(name), parts, jobs=args.jobs).items():
            rate = result.kill_rate
            flag = "" if rate >= KILL_TARGET else "  < 95%"
            total = result.counted + len(result.equivalent) + len(result.broken)
            counts = f"{total:>7} {len(result.equivalent):>5} {len(result.killed):>6}"
            print(f"{name:<18} {part:<17} {counts} {rate:>9.1%}{flag}")
            for mutant in result.survived:
                print(f"    survived  {mutant.operator:<22} {mutant.line}")
            for mutant, said in result.broken:
                print(f"    GRADER ERROR {mutant.operator:<19} {mutant.line}: {said[:200]}")
            if rate < KILL_TARGET:
                below.append(f"{name}/{part}")
            record += [
                {"week": name, "part": part, "operator": m.operator, "line": m.line, "outcome": outcome}
                for outcome, mutants in (("killed", result.killed), ("survived", result.survived))
                for m in mutants
            ]
            record += [
                {"week": name, "part": part, "operator": m.operator, "line": m.line, "outcome": "equivalent"}
                for m, _ in result.equivalent
            ]
    print(
        f"\n{len(record)} mutants in {time.monotonic() - started:.0f} s; "
        f"parts under {KILL_TARGET:.0%}: {below or 'none'}"
    )
    if args.json:
        args.json.write_text(json.dumps(record, indent=1) + "\n")


if __name__ == "__main__":
    main()
