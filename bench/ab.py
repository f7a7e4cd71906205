#!/usr/bin/env python3
"""A/B of two gate binaries on one repository: each gets its own copy (its own .gate/), both
are run once to warm their state, then the no-op `run all -j2 -q` is timed alternately.

    python3 bench/ab.py OLD_GATE NEW_GATE REPO [--reps N]

REPO is any graph, e.g. one made by `bench/generate.py DIR --files 50000 --packages 50`
(commit it with git to include the manifest's git probe). Prints medians and the ratio.
"""
import argparse
import shutil
import statistics
import subprocess
import tempfile
import time
from pathlib import Path


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("old")
    parser.add_argument("new")
    parser.add_argument("repo")
    parser.add_argument("--reps", type=int, default=15)
    args = parser.parse_args()
    work = Path(tempfile.mkdtemp(prefix="gate-ab-"))
    sides = []
    for name, exe in (("old", args.old), ("new", args.new)):
        copy = work / name
        shutil.copytree(args.repo, copy, symlinks=True, ignore=shutil.ignore_patterns(".gate"))
        command = [str(Path(exe).resolve()), "-f", str(copy / "gates.kdl"), "run", "all", "-j2", "-q"]
        subprocess.run(command, check=True)
        sides.append((name, command))
    times = {name: [] for name, _ in sides}
    for rep in range(args.reps):
        for name, command in sides if rep % 2 == 0 else sides[::-1]:
            start = time.perf_counter()
            subprocess.run(command, check=True)
            times[name].append(time.perf_counter() - start)
    for name, values in times.items():
        print(f"{name}: median {statistics.median(values) * 1000:.1f} ms, min {min(values) * 1000:.1f} ms")
    print(f"new/old (median): {statistics.median(times['new']) / statistics.median(times['old']):.2f}")
    shutil.rmtree(work)


if __name__ == "__main__":
    main()
