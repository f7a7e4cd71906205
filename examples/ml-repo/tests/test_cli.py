import json
from pathlib import Path

import pytest

from tinyml import __version__
from tinyml.cli import main


def test_version(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exit:
        main(["--version"])
    assert exit.value.code == 0
    assert capsys.readouterr().out.strip() == f"tinyml {__version__}"


def test_train_then_evaluate(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["train", "--out", str(tmp_path), "--epochs", "20", "--samples", "128"]) == 0
    assert json.loads(capsys.readouterr().out)["epochs"] == 20
    assert main(["evaluate", str(tmp_path / "checkpoints" / "epoch-0020.npz")]) == 0
    assert 0.0 <= json.loads(capsys.readouterr().out)["accuracy"] <= 1.0


def test_errors_are_reported_not_raised(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["train", "--out", str(tmp_path), "--epochs", "0"]) == 2
    assert "epochs must be at least 1" in capsys.readouterr().err
