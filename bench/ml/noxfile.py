"""The nox sessions that examples/ml-repo's gates.kdl replaces, doing the same work.

bench/ml.py copies this file into a copy of the example and times `nox` against
`gate run all`. Each session runs the commands of the gate it stands for (tasks/*.kdl), with
the same environment variables, so the difference is the runner, not the checks:

    nox                      # ci: every session below except docs and build
    nox -s tests coverage    # by name
    nox -t fast              # the `fast` group: lint, typecheck, hadolint, secrets
    nox -s security docker   # groups, as sessions that only require others

Session names follow examples/ml-repo/README.md's table (`audit` is pip-audit there; the
S1..S7 audit is `audit_stages`).

The tools come from PATH, as they do for gate: `venv_backend="none"` (see bench/README.md for
why that is the fairest setup). A session whose tool is missing is skipped, as gate skips a
gate whose `requires` is missing.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import nox

nox.options.default_venv_backend = "none"
nox.options.error_on_missing_interpreters = False

PYTHON = "python"
PACKAGE = "tinyml"
LINT_PATHS = ["src", "tests", "audit"]
ART = "artifacts"
COVERAGE_FILE = f"{ART}/test/.coverage"
SECRETS_PATHS = [
    "src",
    "tests",
    "audit",
    "Dockerfile",
    "pyproject.toml",
    ".pre-commit-config.yaml",
]
NO_PYC = {"PYTHONDONTWRITEBYTECODE": "1"}


def need(session: nox.Session, *tools: str) -> None:
    """Skip the session, visibly, when a tool is not on PATH (gate's `requires`)."""
    missing = [t for t in tools if shutil.which(t) is None]
    if missing:
        session.skip(f"missing tool {', '.join(missing)}")


@nox.session(tags=["fast", "python"], allow_parallel=True)
def lint(session: nox.Session) -> None:
    """ruff check and ruff format --check: report, never rewrite."""
    need(session, "ruff")
    env = {"RUFF_NO_CACHE": "true"}
    session.run("ruff", "check", "--no-fix", *LINT_PATHS, env=env)
    session.run("ruff", "format", "--check", *LINT_PATHS, env=env)


@nox.session(tags=["fast", "python"], allow_parallel=True)
def typecheck(session: nox.Session) -> None:
    """mypy with the configuration in pyproject.toml."""
    need(session, "mypy", PYTHON)
    session.run("mypy", "--no-incremental", "--cache-dir=/dev/null")


@nox.session(tags=["python"], allow_parallel=True)
def tests(session: nox.Session) -> None:
    """pytest with PYTHONHASHSEED=0, plugins loaded explicitly, junit XML and coverage data."""
    need(session, PYTHON)
    env = {
        "PYTHONHASHSEED": "0",
        "PYTEST_DISABLE_PLUGIN_AUTOLOAD": "1",
        "COVERAGE_FILE": COVERAGE_FILE,
        **NO_PYC,
    }
    session.run(
        PYTHON,
        "-m",
        "pytest",
        "-p",
        "pytest_cov",
        "-p",
        "no:cacheprovider",
        "--cov",
        "--cov-report=",
        "--cov-fail-under=0",
        f"--junitxml={ART}/test/junit.xml",
        env=env,
        success_codes=[0, 5],
    )


@nox.session(tags=["python"], requires=["tests"])
def coverage(session: nox.Session) -> None:
    """The coverage floor from pyproject.toml, applied to the tests session's data."""
    need(session, "coverage")
    env = {"COVERAGE_FILE": COVERAGE_FILE}
    session.run(
        "coverage",
        "xml",
        "-q",
        "-o",
        f"{ART}/coverage/coverage.xml",
        "--fail-under=0",
        env=env,
    )
    session.run("coverage", "report", env=env)


@nox.session(tags=["python"], default=False)
def docs(session: nox.Session) -> None:
    """API documentation with pdoc, into artifacts/docs (release only, as in gates.kdl)."""
    need(session, "pdoc", PYTHON)
    shutil.rmtree(f"{ART}/docs", ignore_errors=True)
    session.run(
        "pdoc",
        "--output-directory",
        f"{ART}/docs",
        PACKAGE,
        env={"PYTHONPATH": "src", **NO_PYC},
    )


@nox.session(tags=["python", "release"], default=False)
def build(session: nox.Session) -> None:
    """sdist and wheel with SOURCE_DATE_EPOCH, then the wheel's entry point runs --version."""
    need(session, PYTHON)
    env = {"SOURCE_DATE_EPOCH": "315532800", **NO_PYC}
    shutil.rmtree(f"{ART}/dist", ignore_errors=True)
    shutil.rmtree("build", ignore_errors=True)
    session.run(
        PYTHON, "-m", "build", "--no-isolation", "--outdir", f"{ART}/dist", ".", env=env
    )
    target = session.create_tmp()
    wheels = [str(w) for w in Path(f"{ART}/dist").glob("*.whl")]
    session.run(
        PYTHON,
        "-m",
        "pip",
        "install",
        "--quiet",
        "--no-deps",
        "--no-index",
        "--no-compile",
        "--disable-pip-version-check",
        "--target",
        target,
        *wheels,
        env=env,
    )
    session.run(
        f"{target}/bin/{PACKAGE}", "--version", env={"PYTHONPATH": target, **env}
    )
    shutil.rmtree("build", ignore_errors=True)
    for info in Path("src").glob("*.egg-info"):
        shutil.rmtree(info)


@nox.session(tags=["security"], allow_parallel=True)
def bandit(session: nox.Session) -> None:
    """bandit: common security mistakes in Python code."""
    need(session, "bandit")
    session.run("bandit", "--quiet", "--recursive", "src", "audit")


@nox.session(tags=["security"], allow_parallel=True)
def semgrep(session: nox.Session) -> None:
    """semgrep with the repository's rules only; no metrics, no registry, no version check."""
    need(session, "semgrep")
    env = {"SEMGREP_SEND_METRICS": "off", "SEMGREP_ENABLE_VERSION_CHECK": "0"}
    session.run(
        "semgrep",
        "scan",
        "--config",
        "semgrep/rules.yml",
        "--metrics=off",
        "--disable-version-check",
        "--error",
        "--quiet",
        "src",
        "audit",
        env=env,
    )


@nox.session(tags=["fast", "security"], allow_parallel=True)
def secrets(session: nox.Session) -> None:
    """detect-secrets: nothing beyond the committed baseline (which this never rewrites)."""
    need(session, "detect-secrets")
    out = session.run(
        "detect-secrets", "scan", "--all-files", *SECRETS_PATHS, silent=True
    )

    def pairs(results: dict) -> set[tuple[str, str, str]]:
        return {
            (f, s["type"], s["hashed_secret"])
            for f, found in results.items()
            for s in found
        }

    new = json.loads(str(out))["results"]
    old = json.loads(Path(".secrets.baseline").read_text())["results"]
    extra = sorted(pairs(new) - pairs(old))
    if extra:
        session.error(
            "; ".join(f"{f}: {t} not in .secrets.baseline" for f, t, _ in extra)
        )


@nox.session(tags=["security"])
def audit(session: nox.Session) -> None:
    """pip-audit: known vulnerabilities in the dependencies (opt-in: GATE_AUDIT=1)."""
    import os

    if os.environ.get("GATE_AUDIT") != "1":
        session.skip('condition (env GATE_AUDIT is not "1")')
    need(session, "pip-audit")
    session.run("pip-audit", "--strict", "--requirement", "requirements.txt")


@nox.session(tags=["fast", "docker"], allow_parallel=True)
def hadolint(session: nox.Session) -> None:
    """hadolint over the Dockerfiles."""
    need(session, "hadolint")
    session.run("hadolint", "Dockerfile")


@nox.session(tags=["docker"], allow_parallel=True)
def trivy(session: nox.Session) -> None:
    """trivy config scan of the repository's container setup."""
    need(session, "trivy")
    session.run("trivy", "config", "--exit-code", "1", "--quiet", ".")


@nox.session(tags=["ml"], allow_parallel=True)
def train_smoke(session: nox.Session) -> None:
    """A short seeded training run: real numpy, a checkpoint and metrics."""
    need(session, PYTHON)
    env = {
        "PYTHONPATH": "src",
        "PYTHONHASHSEED": "0",
        "OMP_NUM_THREADS": "1",
        "OPENBLAS_NUM_THREADS": "1",
        "MKL_NUM_THREADS": "1",
        **NO_PYC,
    }
    guard = (
        "import importlib.util, pathlib, sys; spec = importlib.util.find_spec(sys.argv[1]); "
        "origin = pathlib.Path(spec.origin).resolve() if spec and spec.origin else None; "
        "root = pathlib.Path.cwd().resolve(); ok = origin is not None and root not in origin.parents; "
        "print(f'{sys.argv[1]} resolves to {origin}'); sys.exit(0 if ok else 1)"
    )
    session.run(PYTHON, "-c", guard, "numpy", env=env)
    shutil.rmtree(f"{ART}/train", ignore_errors=True)
    session.run(
        PYTHON,
        "-m",
        PACKAGE,
        "train",
        "--epochs",
        "30",
        "--samples",
        "512",
        "--seed",
        "0",
        "--out",
        f"{ART}/train",
        env=env,
    )
    summary = Path(f"{ART}/train/summary.json")
    checkpoint = Path(f"{ART}/train/checkpoints/epoch-0030.npz")
    if not (summary.stat().st_size and checkpoint.stat().st_size):
        session.error("no checkpoint or summary")
    for line in Path(f"{ART}/train/metrics.ndjson").read_text().splitlines():
        json.loads(line)


@nox.session(tags=["audit"], allow_parallel=True)
def audit_stages(session: nox.Session) -> None:
    """The repository audit, S1 index .. S7 manifest, in order."""
    need(session, PYTHON)
    env = {"AUDIT_OUT": f"{ART}/audit", **NO_PYC}
    for stage in ("s1", "s2", "s3", "s4", "s5", "s6", "s7"):
        session.run(PYTHON, "audit/audit.py", stage, env=env)


@nox.session(default=False, requires=["bandit", "semgrep", "secrets", "audit"])
def security(session: nox.Session) -> None:
    """bandit, semgrep, secrets and pip-audit (a group: the work is in the sessions it requires)."""


@nox.session(default=False, requires=["hadolint", "trivy"])
def docker(session: nox.Session) -> None:
    """hadolint and trivy (a group)."""
