import json
from pathlib import Path

import pytest

import audit

STAGES = ["s1", "s2", "s3", "s4", "s5", "s6", "s7"]


@pytest.fixture
def repo(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    (tmp_path / "src" / "pkg").mkdir(parents=True)
    (tmp_path / "src" / "pkg" / "__init__.py").write_text(
        'def f() -> int:\n    """One."""\n    return 1\n'
    )
    (tmp_path / "src" / "pkg" / "py.typed").write_text("")
    (tmp_path / "tests").mkdir()
    (tmp_path / "tests" / "test_f.py").write_text("def test_f() -> None:\n    pass\n")
    (tmp_path / "Dockerfile").write_text("FROM scratch\n")
    monkeypatch.chdir(tmp_path)
    monkeypatch.setattr(audit, "OUT", Path("artifacts/audit"))
    return tmp_path


def run_all() -> None:
    for stage in STAGES:
        assert audit.main([stage]) == 0


def test_the_stages_chain_and_validate(repo: Path) -> None:
    run_all()
    assert audit.main(["validate"]) == 0
    manifest = json.loads((repo / "artifacts/audit/manifest.json").read_text())
    assert sorted(manifest["artifacts"]) == sorted(
        name for stage, name in audit.ARTIFACTS.items() if stage != "s7"
    )
    report = (repo / "artifacts/audit/report.md").read_text()
    assert "Score: **" in report and "pre_commit" in report


def test_the_artifacts_are_deterministic(repo: Path) -> None:
    run_all()
    first = {p.name: p.read_bytes() for p in (repo / "artifacts/audit").iterdir()}
    run_all()
    assert first == {p.name: p.read_bytes() for p in (repo / "artifacts/audit").iterdir()}


def test_a_stage_without_its_input_fails_clearly(
    repo: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert audit.main(["s4"]) == audit.EXIT_USAGE
    assert "S4 scoring needs artifacts/audit/s3-capabilities.json" in capsys.readouterr().err


def test_a_stale_index_is_a_violation(repo: Path) -> None:
    assert audit.main(["s1"]) == 0
    (repo / "Dockerfile").write_text("FROM busybox\n")
    assert audit.main(["s2"]) == audit.EXIT_VIOLATION


def test_a_broken_chain_is_a_violation(repo: Path, capsys: pytest.CaptureFixture[str]) -> None:
    run_all()
    (repo / "Dockerfile").write_text("FROM busybox\n")
    for stage in ["s1", "s2", "s3"]:
        assert audit.main([stage]) == 0
    assert audit.main(["s7"]) == audit.EXIT_VIOLATION
    assert "was built from a different s3-capabilities.json" in capsys.readouterr().err
    assert audit.main(["validate"]) == audit.EXIT_VIOLATION


def test_a_damaged_artifact_is_a_violation(repo: Path) -> None:
    run_all()
    with (repo / "artifacts/audit/s4-scores.json").open("a") as file:
        file.write("garbage")
    assert audit.main(["validate"]) == audit.EXIT_VIOLATION
    assert audit.main(["s5"]) == audit.EXIT_VIOLATION


def test_usage(capsys: pytest.CaptureFixture[str]) -> None:
    assert audit.main([]) == audit.EXIT_USAGE
    assert audit.main(["s8"]) == audit.EXIT_USAGE
    assert "usage: audit.py" in capsys.readouterr().err
