#!/usr/bin/env python3
"""Benchmark gate against GNU make and go-task on synthetic repositories.

    python3 bench/run.py [--gate PATH] [--task PATH] [--sizes 1000,10000,50000] [--reps 5]
                         [--report bench/REPORT.md]

For each size, bench/generate.py makes a repository (10 packages for 1k files, 25 for 10k,
50 for 50k; 2P+1 tasks) and every tool gets its own copy of it. Per repetition and tool:

  cold        state removed (gate: .gate/ and out/; make: out/; go-task: .task/ and out/),
              then `all`
  no-op       `all` again, nothing changed
  one change  a line appended to one .py file of one package, then `all`

plus a separate repository of 500 trivial `true` tasks (scheduling overhead), and a floor:
bench/statwalk.c (gcc -O2), which lstat()s every entry under pkgs/ once.

Every command runs under bench/measure.c (gcc -O2), a small launcher that forks, execs the
tool, reaps it with wait4() and reports wall time (fork to reap, CLOCK_MONOTONIC) and
ru_maxrss. Cells are medians over the repetitions with min and max. On Linux ru_maxrss is the
largest resident set of the tool process itself or of any descendant it waited for (the
shells and find/cat/wc of the recipes), not a sum; those are a few MiB, so in practice it is
the tool's own peak. (Reaped straight from Python it would never be below the interpreter's
own ~15-20 MiB: exec() keeps the replaced address space's high-water mark.)

Sanity checks (fail loudly): every tool's run exits 0; after cold every tool has produced
every output and all tools' outputs are identical; make and go-task rewrite no output on a
no-op and exactly the changed package's two outputs on one change. What gate rewrites on
no-op and one change is reported, not enforced (its cache is work in progress).

Standard library only (Python 3.11).
"""

from __future__ import annotations

import argparse
import hashlib
import os
import platform
import resource
import shlex
import shutil
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

BENCH = Path(__file__).resolve().parent
REPO = BENCH.parent
sys.path.insert(0, str(BENCH))
import generate  # noqa: E402

TOOLS = ("gate", "make", "task")
LABEL = {"gate": "gate", "make": "make", "task": "go-task", "floor": "floor"}
SCENARIOS = ("cold", "noop", "change")
SCEN_LABEL = {"cold": "cold", "noop": "no-op", "change": "one change", "trivial": "500 trivial"}
RUN_TIMEOUT = 600  # seconds, for one tool invocation

# (label, scenario, tool numerator, tool denominator, comparison, target)
TARGETS = [
    ("no-op gate/floor", "noop", "gate", "floor", "<=", 1.3),
    ("no-op gate/make", "noop", "gate", "make", "<", 0.6),
    ("one-change gate/make", "change", "gate", "make", "<=", 1.0),
    ("cold gate/make", "cold", "gate", "make", "<=", 1.1),
]
TRIVIAL_TARGET = ("trivial gate/make", "<=", 1.2)
RSS_TARGET_MIB = 64.0


class BenchError(Exception):
    pass


def loadavg() -> str:
    try:
        return " ".join(open("/proc/loadavg").read().split()[:3])
    except OSError:
        return "?"


class ForeignCpu:
    """How much CPU other processes used while a part of the benchmark ran: busy time of the
    whole machine (/proc/stat) minus this script's and its reaped children's CPU time, as a
    share of the machine's capacity over that wall time. Far above 0: the numbers are noisy.
    (The load average cannot tell: it counts the benchmark's own jobs.)"""

    @staticmethod
    def _busy() -> float | None:
        try:
            f = open("/proc/stat").readline().split()
        except OSError:
            return None
        user, nice, system, _idle, _iowait, irq, softirq, steal = (int(x) for x in f[1:9])
        return (user + nice + system + irq + softirq + steal) / os.sysconf("SC_CLK_TCK")

    @staticmethod
    def _own() -> float:
        a, b = resource.getrusage(resource.RUSAGE_SELF), resource.getrusage(resource.RUSAGE_CHILDREN)
        return a.ru_utime + a.ru_stime + b.ru_utime + b.ru_stime

    def __enter__(self) -> "ForeignCpu":
        self.t0, self.busy0, self.own0 = time.perf_counter(), self._busy(), self._own()
        return self

    def __exit__(self, *exc) -> None:
        wall = time.perf_counter() - self.t0
        busy1 = self._busy()
        if self.busy0 is None or busy1 is None or wall <= 0:
            self.share = None
            return
        other = (busy1 - self.busy0) - (self._own() - self.own0)
        self.share = max(0.0, other / (wall * (os.cpu_count() or 1)))

    def text(self) -> str:
        if self.share is None:
            return "CPU used by other processes: unknown"
        return f"CPU used by other processes meanwhile: {self.share * 100:.0f}% of the machine"


def warn_if_busy(fc: ForeignCpu, what: str) -> None:
    if fc.share is not None and fc.share > 0.05:
        log(f"run.py: WARNING: other processes used {fc.share * 100:.0f}% of the CPUs during {what}: timings are noisy")


def log(msg: str) -> None:
    print(msg, file=sys.stderr, flush=True)


# ---------------------------------------------------------------------------------------
# running one command


@dataclass
class Sample:
    ms: float
    rss_kib: int


MEASURE: list[str] = []  # the bench/measure.c launcher, once built; empty: time from Python


def run_timed(cmd: list[str], cwd: Path, env: dict[str, str], logfile: Path) -> Sample:
    """Run cmd in cwd with output to logfile; wall time and ru_maxrss of the command.

    Through bench/measure.c when it is built (see there why); otherwise timed and reaped
    from Python with os.wait4, whose ru_maxrss then includes this interpreter's RSS."""
    result = logfile.with_suffix(".result")
    full = MEASURE + [str(result)] + cmd if MEASURE else cmd
    with open(logfile, "wb") as out:
        t0 = time.perf_counter()
        p = subprocess.Popen(full, cwd=cwd, env=env, stdin=subprocess.DEVNULL, stdout=out, stderr=subprocess.STDOUT)
        timer = threading.Timer(RUN_TIMEOUT, p.kill)
        timer.start()
        try:
            _, status, ru = os.wait4(p.pid, 0)
        finally:
            timer.cancel()
        t1 = time.perf_counter()
    p.returncode = os.waitstatus_to_exitcode(status)  # already reaped; keep Popen from waiting
    if p.returncode != 0:
        tail = logfile.read_text(errors="replace")[-3000:]
        raise BenchError(
            f"command failed with exit code {p.returncode} in {cwd}:\n  $ {shlex.join(cmd)}\n"
            f"--- output (tail) ---\n{tail}"
        )
    if MEASURE:
        ns, rss, _ = result.read_text().split()
        return Sample(ms=int(ns) / 1e6, rss_kib=int(rss))
    return Sample(ms=(t1 - t0) * 1000.0, rss_kib=ru.ru_maxrss)


def capture(cmd: list[str]) -> str:
    try:
        r = subprocess.run(cmd, capture_output=True, text=True, timeout=30)
        return (r.stdout or r.stderr).strip().splitlines()[0] if (r.stdout or r.stderr).strip() else "?"
    except (OSError, subprocess.SubprocessError):
        return "?"


# ---------------------------------------------------------------------------------------
# tools


@dataclass
class Tool:
    name: str
    exe: str
    argv: list[str]  # full command for `all`
    state: tuple[str, ...]  # paths removed for a cold run

    def clean(self, root: Path) -> None:
        for rel in self.state:
            p = root / rel
            if p.is_dir():
                shutil.rmtree(p)
            elif p.exists():
                p.unlink()


def find_task(explicit: str | None) -> str | None:
    if explicit:
        if not (os.path.isfile(explicit) and os.access(explicit, os.X_OK)):
            raise SystemExit(f"run.py: --task {explicit}: not an executable file")
        return os.path.abspath(explicit)
    found = shutil.which("task")
    if found:
        return found
    venv = os.environ.get("BENCH_VENV", "/tmp/bench-venv")
    cand = os.path.join(venv, "bin", "task")
    if os.access(cand, os.X_OK):
        return cand
    return None


def make_tools(args: argparse.Namespace) -> dict[str, Tool]:
    tools: dict[str, Tool] = {}
    gate = Path(args.gate)
    if not gate.is_absolute():
        gate = (REPO / gate) if not gate.exists() else gate.resolve()
    if not os.access(gate, os.X_OK):
        raise SystemExit(f"run.py: gate binary {gate} not found; build it with `cargo build --release`")
    if "gate" in args.tools:
        tools["gate"] = Tool("gate", str(gate), [str(gate), "-f", "gates.kdl", "run", "all", "-j2", "-q"], (".gate", "out"))
    if "make" in args.tools:
        make = shutil.which("make")
        if not make:
            log("run.py: GNU make not found on PATH: skipping make")
        else:
            tools["make"] = Tool("make", make, [make, "-s", "-j2", "all"], ("out",))
    if "task" in args.tools:
        task = find_task(args.task)
        if not task:
            log(
                "run.py: go-task not found (no --task, no `task` on PATH, none in $BENCH_VENV or "
                "/tmp/bench-venv): skipping go-task. Install: bench/install-go-task.sh"
            )
        else:
            argv = [task, "--silent"]
            if args.task_concurrency:
                argv += ["--concurrency", str(args.task_concurrency)]
            tools["task"] = Tool("task", task, argv + ["all"], (".task", "out"))
    return tools


def build_helpers(workdir: Path) -> list[str]:
    """Compile bench/measure.c (into MEASURE) and bench/statwalk.c with gcc -O2; returns the
    floor walker's command. Without gcc: Python timing and a Python walker."""
    gcc = shutil.which("gcc") or shutil.which("cc")
    if gcc:
        for name in ("measure", "statwalk"):
            subprocess.run([gcc, "-O2", "-o", str(workdir / name), str(BENCH / f"{name}.c")], check=True)
        MEASURE[:] = [str(workdir / "measure")]
        return [str(workdir / "statwalk")]
    log("run.py: no gcc: timing from Python (peak RSS includes the interpreter's) and a Python stat walker as the floor")
    code = (
        "import os,sys\n"
        "def w(p):\n"
        " n=0\n"
        " for e in os.scandir(p):\n"
        "  st=os.lstat(e.path); n+=1\n"
        "  if e.is_dir(follow_symlinks=False): n+=w(e.path)\n"
        " return n\n"
        "print(w(sys.argv[1]))\n"
    )
    return [sys.executable, "-c", code]


# ---------------------------------------------------------------------------------------
# sanity helpers


def out_mtimes(root: Path) -> dict[str, int]:
    out = root / "out"
    res = {}
    if out.is_dir():
        for dirpath, _, files in os.walk(out):
            for f in files:
                p = os.path.join(dirpath, f)
                res[os.path.relpath(p, root)] = os.stat(p).st_mtime_ns
    return res


def out_contents(root: Path, expected: list[str]) -> dict[str, str]:
    res = {}
    for rel in expected:
        p = root / rel
        if not p.is_file():
            raise BenchError(f"{root}: expected output {rel} is missing")
        res[rel] = p.read_text().strip()
    return res


def changed(before: dict[str, int], after: dict[str, int]) -> list[str]:
    return sorted(k for k in after if before.get(k) != after[k])


# ---------------------------------------------------------------------------------------
# one size


def packages_for(size: int) -> int:
    if size <= 2000:
        return 10
    if size <= 20000:
        return 25
    return 50


def summarize(xs: list[float]) -> dict[str, float]:
    return {"median": statistics.median(xs), "min": min(xs), "max": max(xs)}


@dataclass
class SizeResult:
    size: int
    packages: int
    tasks: int
    files: int
    times: dict[str, dict[str, list[float]]] = field(default_factory=dict)  # scen -> tool -> ms
    rss: dict[str, dict[str, list[int]]] = field(default_factory=dict)  # scen -> tool -> KiB
    notes: list[str] = field(default_factory=list)
    foreign: str = ""  # CPU used by other processes meanwhile
    gate_rewrites: dict[str, list[int]] = field(default_factory=dict)  # scen -> counts


def bench_size(size: int, args, tools: dict[str, Tool], walker: list[str], workdir: Path, env) -> SizeResult:
    P = packages_for(size)
    base = workdir / f"repo-{size}"
    t0 = time.perf_counter()
    layout = generate.generate(base, size, P, args.seed)
    pkgs = layout["packages"]
    nfiles = sum(len(v) for v in layout["files"].values())
    log(f"[{size}] generated {nfiles} files in {P} packages ({2 * P + 1} tasks) in {time.perf_counter() - t0:.1f}s")
    expected = [f"out/{p}/{k}.txt" for p in pkgs for k in ("lint", "test")]
    change_pkg = pkgs[len(pkgs) // 2]
    change_rel = layout["files"][change_pkg][len(layout["files"][change_pkg]) // 2]
    change_outputs = sorted([f"out/{change_pkg}/lint.txt", f"out/{change_pkg}/test.txt"])

    roots: dict[str, Path] = {}
    for name in tools:
        roots[name] = workdir / f"repo-{size}-{name}"
        subprocess.run(["cp", "-a", str(base), str(roots[name])], check=True)

    res = SizeResult(size=size, packages=P, tasks=2 * P + 1, files=nfiles)
    fc = ForeignCpu().__enter__()
    for scen in SCENARIOS:
        res.times[scen] = {n: [] for n in tools}
        res.rss[scen] = {n: [] for n in tools}
    res.times["noop"]["floor"] = []
    res.gate_rewrites = {"noop": [], "change": []}
    logf = workdir / "last-run.log"

    # warm the page cache once for every copy, so that the first timed run is not the
    # only one that reads from disk
    for name, root in roots.items():
        subprocess.run(walker + [str(root / "pkgs")], check=True, stdout=subprocess.DEVNULL)

    names = list(tools)
    for rep in range(args.reps):
        order = names[rep % len(names):] + names[: rep % len(names)]  # rotate to spread drift
        for name in order:
            tool, root = tools[name], roots[name]
            # (a) cold
            tool.clean(root)
            s = run_timed(tool.argv, root, env, logf)
            res.times["cold"][name].append(s.ms)
            res.rss["cold"][name].append(s.rss_kib)
            after_cold = out_mtimes(root)
            contents = out_contents(root, expected)
            # (b) no-op
            s = run_timed(tool.argv, root, env, logf)
            res.times["noop"][name].append(s.ms)
            res.rss["noop"][name].append(s.rss_kib)
            after_noop = out_mtimes(root)
            ch = changed(after_cold, after_noop)
            if name == "gate":
                res.gate_rewrites["noop"].append(len(ch))
            elif ch:
                raise BenchError(f"[{size}] {LABEL[name]} rewrote {len(ch)} outputs on a no-op: {ch[:5]}")
            # (c) one change
            with open(root / change_rel, "a") as f:
                f.write(f"# change {rep}\n")
            s = run_timed(tool.argv, root, env, logf)
            res.times["change"][name].append(s.ms)
            res.rss["change"][name].append(s.rss_kib)
            after_change = out_mtimes(root)
            ch = changed(after_noop, after_change)
            if name == "gate":
                res.gate_rewrites["change"].append(len(ch))
            elif ch != change_outputs:
                raise BenchError(
                    f"[{size}] {LABEL[name]} rewrote {len(ch)} outputs after changing {change_rel}, "
                    f"expected exactly {change_outputs}: {ch[:6]}"
                )
            new = out_contents(root, change_outputs)
            if new == {k: contents[k] for k in change_outputs}:
                raise BenchError(f"[{size}] {LABEL[name]}: outputs of {change_pkg} did not change after the edit")
        # all tools must agree on every output at the end of each repetition
        finals = {n: out_contents(roots[n], expected) for n in names}
        first = finals[names[0]]
        for n in names[1:]:
            if finals[n] != first:
                diff = [k for k in expected if finals[n][k] != first[k]][:5]
                raise BenchError(f"[{size}] outputs of {LABEL[n]} differ from {LABEL[names[0]]}: {diff}")
        # the floor: one walk of pkgs/ per repetition
        res.times["noop"]["floor"].append(run_timed(walker + ["pkgs"], base, env, logf).ms)
        log(
            f"[{size}] rep {rep + 1}/{args.reps}: "
            + "  ".join(
                f"{LABEL[n]} cold {res.times['cold'][n][-1]:.0f} no-op {res.times['noop'][n][-1]:.0f} "
                f"change {res.times['change'][n][-1]:.0f}"
                for n in names
            )
            + f"  floor {res.times['noop']['floor'][-1]:.1f} ms"
        )
    res.notes.append(f"changed file: `{change_rel}` (package {change_pkg})")
    fc.__exit__(None, None, None)
    warn_if_busy(fc, f"size {size}")
    res.notes.append(fc.text())
    NOISE.append(fc.share or 0.0)
    if not args.keep:
        for root in roots.values():
            shutil.rmtree(root, ignore_errors=True)
        shutil.rmtree(base, ignore_errors=True)
    return res


def bench_trivial(n: int, args, tools: dict[str, Tool], workdir: Path, env) -> dict[str, list[float]]:
    root = workdir / f"trivial-{n}"
    root.mkdir()
    subprocess.run(["git", "init", "-q", str(root)], check=True)
    (root / ".gitignore").write_text(generate.GITIGNORE)
    generate.write_trivial_files(root, n)
    logf = workdir / "last-run.log"
    times: dict[str, list[float]] = {name: [] for name in tools}
    names = list(tools)
    fc = ForeignCpu().__enter__()
    for name in names:  # one untimed warm-up each (creates gate's .gate/, loads binaries)
        run_timed(tools[name].argv, root, env, logf)
    for rep in range(args.reps):
        order = names[rep % len(names):] + names[: rep % len(names)]
        for name in order:
            times[name].append(run_timed(tools[name].argv, root, env, logf).ms)
        log(f"[trivial {n}] rep {rep + 1}/{args.reps}: " + "  ".join(f"{LABEL[x]} {times[x][-1]:.0f}" for x in names) + " ms")
    fc.__exit__(None, None, None)
    warn_if_busy(fc, f"the {n} trivial tasks")
    NOISE.append(fc.share or 0.0)
    TRIVIAL_NOTE[0] = fc.text()
    if not args.keep:
        shutil.rmtree(root, ignore_errors=True)
    return times


TRIVIAL_NOTE = [""]
START_LOAD = ["?"]
NOISE: list[float] = []  # share of the CPUs other processes used, per part


# ---------------------------------------------------------------------------------------
# report


def fmt_ms(xs: list[float] | None) -> str:
    if not xs:
        return "—"
    s = summarize(xs)
    prec = 1 if s["median"] < 10 else 0
    return f"{s['median']:.{prec}f} ({s['min']:.{prec}f}–{s['max']:.{prec}f})"


def fmt_mib(xs: list[int] | None) -> str:
    if not xs:
        return "—"
    return f"{max(xs) / 1024:.1f}"


def med(xs: list[float] | None) -> float | None:
    return statistics.median(xs) if xs else None


def verdict(value: float | None, op: str, target: float) -> str:
    if value is None:
        return "n/a"
    ok = value <= target if op == "<=" else value < target
    return "met" if ok else "**missed**"


def size_tables(r: SizeResult, names: list[str]) -> list[str]:
    cols = names + ["floor"]
    head = "| scenario | " + " | ".join(f"{LABEL[c]} ms" for c in cols) + " |"
    sep = "|---|" + "---:|" * len(cols)
    lines = [head, sep]
    for scen in SCENARIOS:
        row = [SCEN_LABEL[scen]] + [fmt_ms(r.times[scen].get(c)) for c in cols]
        lines.append("| " + " | ".join(row) + " |")
    for scen in ("cold", "noop"):
        row = [f"peak RSS {SCEN_LABEL[scen]} (MiB)"] + [fmt_mib(r.rss[scen].get(c)) for c in names] + ["—"]
        lines.append("| " + " | ".join(row) + " |")
    lines.append("")
    lines.append("| ratio | value | target | |")
    lines.append("|---|---:|---:|---|")
    for label, scen, a, b, op, target in TARGETS:
        va, vb = med(r.times[scen].get(a)), med(r.times[scen].get(b))
        v = va / vb if va is not None and vb else None
        lines.append(f"| {label} | {'—' if v is None else f'{v:.2f}'} | {op} {target} | {verdict(v, op, target)} |")
    if "gate" in names:
        rss = max(r.rss["cold"]["gate"] + r.rss["noop"]["gate"]) / 1024
        lines.append(f"| peak RSS gate (MiB, max of cold and no-op) | {rss:.1f} | < {RSS_TARGET_MIB:.0f} | {verdict(rss, '<', RSS_TARGET_MIB)} |")
    return lines


def machine_info(tools: dict[str, Tool], walker: list[str]) -> list[str]:
    cpu = "?"
    try:
        for line in open("/proc/cpuinfo"):
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    mem = "?"
    try:
        for line in open("/proc/meminfo"):
            if line.startswith("MemTotal"):
                mem = f"{int(line.split()[1]) / 1024 / 1024:.1f} GiB"
                break
    except OSError:
        pass
    head = capture(["git", "-C", str(REPO), "rev-parse", "--short", "HEAD"])
    dirty = subprocess.run(["git", "-C", str(REPO), "status", "--porcelain", "--", "src", "Cargo.toml", "Cargo.lock"], capture_output=True, text=True).stdout.strip()
    lines = [
        f"- nproc: {os.cpu_count()} (affinity: {len(os.sched_getaffinity(0))}), memory: {mem}",
        f"- CPU: {cpu}",
        f"- load average (1, 5, 15 min) when the run started: {START_LOAD[0]}",
        f"- kernel: {platform.system()} {platform.release()}",
        f"- /bin/sh: {os.path.realpath('/bin/sh')}",
        f"- python: {platform.python_version()}",
    ]
    if "gate" in tools:
        exe = tools["gate"].exe
        with open(exe, "rb") as f:
            digest = hashlib.sha256(f.read()).hexdigest()[:12]
        built = time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(os.stat(exe).st_mtime))
        lines.append(
            f"- gate: {capture([exe, '--version'])} (`{exe}`, sha256 {digest}…, built {built}; "
            f"repo at {head}{', src/ with uncommitted changes' if dirty else ''})"
        )
    if "make" in tools:
        lines.append(f"- make: {capture([tools['make'].exe, '--version'])}")
    if "task" in tools:
        lines.append(f"- go-task: {capture([tools['task'].exe, '--version'])} (`{tools['task'].exe}`)")
    if walker[0].endswith("statwalk"):
        gcc = shutil.which("gcc") or shutil.which("cc")
        lines.append(f"- floor: bench/statwalk.c, {capture([gcc, '--version'])} -O2")
    else:
        lines.append("- floor: Python os.scandir + lstat walker (no gcc)")
    return lines


def render(args, tools, walker, results: list[SizeResult], trivial, started: float) -> tuple[str, str]:
    names = list(tools)
    cmd = "python3 bench/run.py " + shlex.join(sys.argv[1:])
    body: list[str] = []
    for r in results:
        body.append(f"### {r.size} files ({r.files} .py files, {r.packages} packages, {r.tasks} tasks)")
        body.append("")
        body += size_tables(r, names)
        body.append("")
        if "gate" in names:
            rw = r.gate_rewrites
            body.append(
                f"gate rewrote outputs (of {2 * r.packages}): no-op {sorted(set(rw['noop']))}, "
                f"one change {sorted(set(rw['change']))} (make and go-task: 0 and 2, checked)."
            )
        for n in r.notes:
            body.append(f"{n}.")
        body.append("")
    if trivial is not None:
        body.append(f"### {args.trivial} trivial tasks (`true`, no inputs) + `all`")
        body.append("")
        body.append("| scenario | " + " | ".join(f"{LABEL[c]} ms" for c in names) + " |")
        body.append("|---|" + "---:|" * len(names) + "")
        body.append(f"| {args.trivial} trivial | " + " | ".join(fmt_ms(trivial.get(c)) for c in names) + " |")
        body.append("")
        label, op, target = TRIVIAL_TARGET
        g, m = med(trivial.get("gate")), med(trivial.get("make"))
        v = g / m if g is not None and m else None
        body.append("| ratio | value | target | |")
        body.append("|---|---:|---:|---|")
        body.append(f"| {label} | {'—' if v is None else f'{v:.2f}'} | {op} {target} | {verdict(v, op, target)} |")
        body.append("")
        body.append(f"{TRIVIAL_NOTE[0]}.")
        body.append("")
    stdout = "\n".join(body)

    rep: list[str] = ["# gate benchmark: gate vs GNU make vs go-task", ""]
    rep.append(f"Generated by `bench/run.py` on {time.strftime('%Y-%m-%d %H:%M %Z')}, total {time.perf_counter() - started:.0f} s.")
    rep.append("")
    if NOISE and max(NOISE) > 0.05:
        rep.append(
            f"**Noisy run:** other processes used up to {max(NOISE) * 100:.0f}% of the machine's CPU time while it ran "
            "(see under each table); rerun on an idle machine for numbers to compare against the targets."
        )
        rep.append("")
    rep.append("Reproduce (from the repository root, after `cargo build --release` and `bench/install-go-task.sh`):")
    rep.append("")
    rep.append("```sh")
    rep.append(cmd)
    rep.append("```")
    rep.append("")
    rep.append("## Machine")
    rep.append("")
    rep += machine_info(tools, walker)
    rep.append("")
    rep.append("## How it was measured")
    rep.append("")
    rep.append("- Commands, run in the generated repository with the caller's environment minus `CI`, output discarded:")
    for n in names:
        shown = [os.path.basename(tools[n].argv[0])] + tools[n].argv[1:]
        rep.append(f"  - {LABEL[n]}: `{shlex.join(shown)}`")
    if "task" in names:
        rep.append(
            "  - go-task runs `deps` in parallel with no limit by default"
            + (f"; here `--concurrency {args.task_concurrency}`." if args.task_concurrency else " (no `--concurrency` given); its `method: checksum` hashes every source on each run.")
        )
    rep.append(
        "- Graph: per package `pkgNN.lint` and `pkgNN.test` (test depends on lint), and `all` depending on every test. "
        "Each task runs `find pkgs/pkgNN -name '*.py' -exec cat {} + | wc -l` (lint) or `| wc -w` (test) into `out/pkgNN/*.txt`. "
        "gate: `inputs \"pkgs/pkgNN/**/*.py\"`; make: the same files as explicit prerequisites (mtime-based, built-in rules off); "
        "go-task: `sources` with `method: checksum`."
    )
    rep.append(
        "- cold: tool state removed first (gate `.gate/` + `out/`, make `out/`, go-task `.task/` + `out/`); the files "
        "themselves are in the page cache (this measures a cold *tool*, not a cold disk). no-op: `all` again right after. "
        "one change: a line appended to the same .py file before each repetition's run."
    )
    rep.append(
        f"- {args.reps} repetitions; each cell is median (min–max) in ms of wall-clock time from fork to reap, measured "
        "by bench/measure.c (a small C launcher: fork, execvp, wait4). "
        "The tools' order is rotated each repetition; every tool works on its own copy of the repository."
    )
    rep.append(
        "- floor: `statwalk pkgs` (bench/statwalk.c, gcc -O2), which readdir()s every directory under `pkgs/` and lstat()s "
        "every entry once, timed the same way (including process start)."
    )
    rep.append(
        "- peak RSS: `ru_maxrss` from wait4() on the tool process, in bench/measure.c (not from Python: exec() keeps the "
        "high-water RSS of the replaced address space, so a child of the Python interpreter never reports less than the "
        "interpreter's ~15-20 MiB; forked from the launcher it starts at ~1 MiB). On Linux that is the maximum over the process and "
        "every descendant it reaped (for make and gate: the `sh`/`find`/`cat`/`wc` of the recipes, a few MiB), so it is "
        "the tool's own peak unless that is smaller than a recipe's. go-task runs commands through an in-process shell "
        "interpreter (mvdan/sh): `true`, `mkdir` are not separate processes there."
    )
    rep.append(
        "- trivial: 500 independent tasks whose command is `true` plus `all` (no inputs, nothing cached), each "
        "run after one untimed warm-up. gate runs each `true` as `sh -c true`; make execs `true` directly (no shell for "
        "a simple command); go-task's interpreter runs `true` as a builtin, without any process."
    )
    rep.append(
        "- Under each table: the share of the machine's CPU time that other processes used meanwhile (/proc/stat busy "
        "time minus the benchmark's own and its children's CPU time). Much above 0% means other work shared the CPUs "
        "and the numbers are noisy.",
    )
    rep.append(
        "- Sanity (enforced): every run exits 0; after cold all outputs exist and agree across tools; make and go-task "
        "rewrite no output on no-op and exactly the changed package's two outputs on one change. gate's rewrites are "
        "reported below each table."
    )
    rep.append("")
    rep.append("## Results")
    rep.append("")
    rep.append(stdout)
    return stdout, "\n".join(rep) + "\n"


# ---------------------------------------------------------------------------------------


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--gate", default="target/release/gate", help="gate binary (default: target/release/gate in the repo)")
    ap.add_argument("--task", help="go-task binary (default: `task` on PATH, else $BENCH_VENV/bin/task or /tmp/bench-venv/bin/task)")
    ap.add_argument("--sizes", default="1000,10000,50000", help="comma-separated file counts (default 1000,10000,50000)")
    ap.add_argument("--reps", type=int, default=5, help="repetitions per measurement (default 5)")
    ap.add_argument("--trivial", type=int, default=500, help="number of trivial tasks; 0 skips it (default 500)")
    ap.add_argument("--tools", default="gate,make,task", help="comma-separated subset of gate,make,task")
    ap.add_argument("--task-concurrency", type=int, help="pass --concurrency N to go-task (default: its unlimited default)")
    ap.add_argument("--seed", type=int, default=1, help="generator seed (default 1)")
    ap.add_argument("--report", type=Path, help="also write a markdown report with machine info here")
    ap.add_argument("--workdir", type=Path, help="where to make the temporary repositories (default: system temp dir)")
    ap.add_argument("--keep", action="store_true", help="keep the generated repositories")
    args = ap.parse_args(argv)
    args.tools = [t.strip() for t in args.tools.split(",") if t.strip()]
    bad = [t for t in args.tools if t not in TOOLS]
    if bad:
        ap.error(f"--tools: unknown {bad}; choose from {','.join(TOOLS)}")
    try:
        sizes = [int(s) for s in args.sizes.split(",") if s.strip()]
    except ValueError:
        ap.error("--sizes: comma-separated integers, e.g. 1000,10000,50000")
    if args.reps < 1:
        ap.error("--reps must be >= 1")

    started = time.perf_counter()
    START_LOAD[0] = loadavg()
    tools = make_tools(args)
    if not tools:
        raise SystemExit("run.py: no tool to benchmark")
    env = {k: v for k, v in os.environ.items() if k != "CI"}
    if args.workdir:
        args.workdir.mkdir(parents=True, exist_ok=True)
    workdir = Path(tempfile.mkdtemp(prefix="gate-bench-", dir=args.workdir))
    log(f"run.py: working in {workdir}; tools: " + ", ".join(f"{LABEL[n]}={t.exe}" for n, t in tools.items()))
    try:
        walker = build_helpers(workdir)
        results = [bench_size(s, args, tools, walker, workdir, env) for s in sizes]
        trivial = bench_trivial(args.trivial, args, tools, workdir, env) if args.trivial > 0 else None
    except BenchError as e:
        log(f"run.py: FAILED: {e}")
        log(f"run.py: repositories left in {workdir}")
        return 1
    stdout, report = render(args, tools, walker, results, trivial, started)
    print(stdout)
    if args.report:
        args.report.parent.mkdir(parents=True, exist_ok=True)
        args.report.write_text(report)
        log(f"run.py: wrote {args.report}")
    if not args.keep:
        shutil.rmtree(workdir, ignore_errors=True)
    else:
        log(f"run.py: kept {workdir}")
    log(f"run.py: done in {time.perf_counter() - started:.0f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
