#!/usr/bin/env python3
"""The pre-commit hook's case: time `gate run --staged` with one file staged, in a generated
repository of N Python files, for one gate binary or two alternately (A/B).

    python3 bench/staged.py GATE [OTHER_GATE] [--files 20000] [--reps 5]

Each binary gets its own copy of the repository (its own .gate/ and kept checkout) and one
warm-up staged run; then each repetition appends a line to one file, stages it and times a
staged run. Prints every time, the medians and, with two binaries, the ratio.
"""
import argparse
import shutil
import statistics
import subprocess
import tempfile
import time
from pathlib import Path

GATES = """
gate "lint" { run "true"; inputs "src/**/*.py" }
gate "docs" { run "true"; inputs "docs/**" }
"""


def git(repo: Path, *args: str) -> None:
    subprocess.run(["git", "-c", "user.name=b", "-c", "user.email=b@example.invalid", *args],
                   cwd=repo, check=True, stdout=subprocess.DEVNULL)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("gates", nargs="+", help="one or two gate binaries")
    parser.add_argument("--files", type=int, default=20000)
    parser.add_argument("--reps", type=int, default=5)
    args = parser.parse_args()
    work = Path(tempfile.mkdtemp(prefix="gate-staged-bench-"))
    sides = []
    for index, exe in enumerate(args.gates):
        repo = work / f"repo{index}"
        for n in range(args.files):
            path = repo / "src" / f"p{n // 100:04}" / f"m{n % 100:03}.py"
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(f"# module {n}\n" + "x = 1\n" * 40)
        (repo / "gates.kdl").write_text(GATES)
        git(repo, "init", "-q")
        git(repo, "add", "-A")
        git(repo, "commit", "-qm", "init")
        command = [str(Path(exe).resolve()), "run", "--staged", "-q"]
        subprocess.run(command, cwd=repo, check=True, stdout=subprocess.DEVNULL)
        sides.append((exe, repo, command))
    times = {exe: [] for exe, _, _ in sides}
    for rep in range(args.reps):
        for exe, repo, command in sides if rep % 2 == 0 else sides[::-1]:
            edited = repo / "src" / "p0000" / "m000.py"
            edited.write_text(edited.read_text() + f"y = {rep}\n")
            git(repo, "add", str(edited.relative_to(repo)))
            start = time.perf_counter()
            subprocess.run(command, cwd=repo, check=True, stdout=subprocess.DEVNULL)
            times[exe].append(time.perf_counter() - start)
    medians = []
    for exe, values in times.items():
        median = statistics.median(values)
        medians.append(median)
        shown = " ".join(f"{v:.2f}" for v in values)
        print(f"{exe}: median {median:.3f} s (min {min(values):.2f}, max {max(values):.2f}): {shown}")
    if len(medians) == 2:
        print(f"ratio first/second: {medians[0] / medians[1]:.1f}x")
    shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
