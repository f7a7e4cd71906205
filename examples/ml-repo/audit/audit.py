"""The repository audit, as seven deterministic stages.

    S1 index → S2 facets → S3 capabilities → S4 scoring → S5 gaps → S6 render → S7 manifest

Each stage reads the previous stage's artifact under `artifacts/audit/` and writes its own.
Artifacts are sorted JSON with no wall-clock time in them, and each one records the sha256 of
the artifact it was built from, so a stale or missing predecessor is caught instead of rendered:

    python audit/audit.py s1   # ... up to s7
    python audit/audit.py validate

Exit codes: 0 done, 2 usage or a missing input artifact, 4 the chain is violated (an artifact
does not match the one it claims to be built from, or the index does not match the files).
"""

from __future__ import annotations

import ast
import hashlib
import json
import os
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

OUT = Path(os.environ.get("AUDIT_OUT", "artifacts/audit"))
# What the audit looks at: the files under these roots, plus these single files.
SCOPE = ("src", "tests", "audit")
FILES = ("pyproject.toml", "Dockerfile", ".pre-commit-config.yaml", ".secrets.baseline")
ARTIFACTS = {
    "s1": "s1-index.json",
    "s2": "s2-facets.json",
    "s3": "s3-capabilities.json",
    "s4": "s4-scores.json",
    "s5": "s5-gaps.json",
    "s6": "report.md",
    "s7": "manifest.json",
}
# Weights of each capability in the score (they sum to 100).
WEIGHTS = {
    "tests": 25,
    "typed_package": 15,
    "docstrings": 15,
    "container": 10,
    "pre_commit": 10,
    "secrets_baseline": 10,
    "static_rules": 15,
}
EXIT_USAGE = 2
EXIT_VIOLATION = 4

Json = dict[str, Any]


class AuditError(Exception):
    """A stage cannot run; `code` is the exit code."""

    def __init__(self, message: str, code: int) -> None:
        super().__init__(message)
        self.code = code


def sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def dump(data: Json) -> bytes:
    return (json.dumps(data, indent=2, sort_keys=True) + "\n").encode()


def write(name: str, data: bytes) -> None:
    """Writes an artifact atomically."""
    OUT.mkdir(parents=True, exist_ok=True)
    temporary = OUT / (name + ".tmp")
    temporary.write_bytes(data)
    os.replace(temporary, OUT / name)


def read(stage: str, wanted_by: str) -> tuple[Json, str]:
    """The artifact of `stage` and its sha256; a missing one is a usage error naming it."""
    path = OUT / ARTIFACTS[stage]
    try:
        data = path.read_bytes()
    except FileNotFoundError:
        raise AuditError(
            f"{wanted_by} needs {path} (stage {stage.upper()}), which does not exist: "
            f"run `python audit/audit.py {stage}` first",
            EXIT_USAGE,
        ) from None
    try:
        parsed = json.loads(data)
    except ValueError as error:
        raise AuditError(f"{path} is not valid JSON: {error}", EXIT_VIOLATION) from None
    if not isinstance(parsed, dict):
        raise AuditError(f"{path} is not an audit artifact", EXIT_VIOLATION)
    return parsed, sha256(data)


def built(stage: str, source: str, body: Json) -> bytes:
    return dump({"stage": stage, "source_sha256": source, **body})


def files() -> list[Path]:
    found: list[Path] = []
    for root in SCOPE:
        for path in Path(root).rglob("*"):
            if path.is_file() and "__pycache__" not in path.parts:
                found.append(path)
    found.extend(Path(name) for name in FILES if Path(name).is_file())
    return sorted(found, key=lambda p: p.as_posix())


def s1() -> None:
    """S1 index: every file in scope with its size, line count and sha256."""
    entries = []
    for path in files():
        data = path.read_bytes()
        entries.append(
            {
                "path": path.as_posix(),
                "bytes": len(data),
                "lines": data.count(b"\n"),
                "sha256": sha256(data),
            }
        )
    write(ARTIFACTS["s1"], built("s1", "", {"files": entries}))


def facet(path: str) -> str:
    if path.startswith("tests/") and path.endswith(".py"):
        return "test"
    if path.endswith(".py"):
        return "source"
    if path == "Dockerfile":
        return "container"
    return "config"


def s2() -> None:
    """S2 facets: each indexed file's facet, and for Python its functions and docstrings."""
    index, digest = read("s1", "S2 facets")
    entries = []
    for entry in index["files"]:
        path = Path(entry["path"])
        data = path.read_bytes() if path.is_file() else b""
        if sha256(data) != entry["sha256"]:
            raise AuditError(
                f"{path} changed since S1 indexed it: rerun S1 (the index is stale)",
                EXIT_VIOLATION,
            )
        kind = facet(entry["path"])
        item: Json = {"path": entry["path"], "facet": kind}
        if path.suffix == ".py":
            tree = ast.parse(data, filename=str(path))
            functions = [
                node
                for node in ast.walk(tree)
                if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef)
            ]
            item["functions"] = len(functions)
            item["documented"] = sum(1 for f in functions if ast.get_docstring(f))
            item["tests"] = sum(1 for f in functions if f.name.startswith("test_"))
        entries.append(item)
    write(ARTIFACTS["s2"], built("s2", digest, {"files": entries}))


def s3() -> None:
    """S3 capabilities: what the repository has, as numbers between 0 and 1."""
    facets, digest = read("s2", "S3 capabilities")
    entries = facets["files"]
    paths = {e["path"] for e in entries}
    sources = [e for e in entries if e["facet"] == "source" and e["path"].startswith("src/")]
    functions = sum(e["functions"] for e in sources)
    documented = sum(e["documented"] for e in sources)
    tests = sum(e.get("tests", 0) for e in entries if e["facet"] == "test")
    capabilities = {
        "tests": min(1.0, tests / 10),
        "typed_package": float(any(p.endswith("/py.typed") for p in paths)),
        "docstrings": round(documented / functions, 6) if functions else 0.0,
        "container": float("Dockerfile" in paths),
        "pre_commit": float(".pre-commit-config.yaml" in paths),
        "secrets_baseline": float(".secrets.baseline" in paths),
        "static_rules": float(Path("semgrep/rules.yml").is_file()),
    }
    body = {"capabilities": capabilities, "test_functions": tests, "functions": functions}
    write(ARTIFACTS["s3"], built("s3", digest, body))


def s4() -> None:
    """S4 scoring: each capability weighted, and the total out of 100."""
    capabilities, digest = read("s3", "S4 scoring")
    scores = {
        name: round(WEIGHTS[name] * value, 3)
        for name, value in capabilities["capabilities"].items()
    }
    body = {"scores": scores, "total": round(sum(scores.values()), 3), "weights": WEIGHTS}
    write(ARTIFACTS["s4"], built("s4", digest, body))


def s5() -> None:
    """S5 gaps: the capabilities that score under 80% of their weight."""
    scores, digest = read("s4", "S5 gaps")
    gaps = [
        {"capability": name, "score": score, "weight": WEIGHTS[name]}
        for name, score in sorted(scores["scores"].items())
        if score < 0.8 * WEIGHTS[name]
    ]
    body = {"gaps": gaps, "total": scores["total"]}
    write(ARTIFACTS["s5"], built("s5", digest, body))


def s6() -> None:
    """S6 render: the Markdown report, from the gaps (and through them, everything before)."""
    gaps, digest = read("s5", "S6 render")
    lines = [
        "# Repository audit",
        "",
        f"Built from s5-gaps.json sha256 `{digest}`.",
        "",
        f"Score: **{gaps['total']} / 100**",
        "",
    ]
    if gaps["gaps"]:
        lines += ["| gap | score | weight |", "|---|---|---|"]
        lines += [f"| {g['capability']} | {g['score']} | {g['weight']} |" for g in gaps["gaps"]]
    else:
        lines.append("No gaps.")
    write(ARTIFACTS["s6"], ("\n".join(lines) + "\n").encode())


def chain() -> Json:
    """Checks that each artifact was built from the one before it; the manifest's body."""
    artifacts: Json = {}
    previous = ""
    for stage, name in ARTIFACTS.items():
        if stage == "s7":
            break
        path = OUT / name
        if not path.is_file():
            raise AuditError(f"{path} is missing: run stage {stage.upper()}", EXIT_USAGE)
        data = path.read_bytes()
        if stage == "s6":
            claimed = data.decode().split("`")[1] if b"`" in data else ""
        else:
            try:
                claimed = str(json.loads(data)["source_sha256"])
            except (ValueError, KeyError, TypeError):
                raise AuditError(f"{path} is not an audit artifact", EXIT_VIOLATION) from None
        if stage != "s1" and claimed != previous:
            raise AuditError(
                f"{path} was built from a different {ARTIFACTS[prior(stage)]} "
                f"(sha256 {claimed[:12]}, the file on disk is {previous[:12]})",
                EXIT_VIOLATION,
            )
        previous = sha256(data)
        artifacts[name] = previous
    return {"artifacts": artifacts}


def prior(stage: str) -> str:
    return f"s{int(stage[1:]) - 1}"


def s7() -> None:
    """S7 manifest: every artifact's sha256, after checking the chain."""
    write(ARTIFACTS["s7"], dump({"stage": "s7", **chain()}))


def validate() -> None:
    """Checks the chain and that the manifest lists the artifacts as they are."""
    manifest, _ = read("s7", "validate")
    if manifest != {"stage": "s7", **chain()}:
        raise AuditError("manifest.json does not match the artifacts: rerun S7", EXIT_VIOLATION)


STAGES: dict[str, Callable[[], None]] = {
    "s1": s1,
    "s2": s2,
    "s3": s3,
    "s4": s4,
    "s5": s5,
    "s6": s6,
    "s7": s7,
    "validate": validate,
}


def main(argv: list[str]) -> int:
    if len(argv) != 1 or argv[0] not in STAGES:
        print(f"usage: audit.py {{{','.join(STAGES)}}}", file=sys.stderr)
        return EXIT_USAGE
    try:
        STAGES[argv[0]]()
    except AuditError as error:
        print(f"audit {argv[0]}: {error}", file=sys.stderr)
        return error.code
    print(f"audit {argv[0]}: ok")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
