import json
from pathlib import Path

import numpy as np
import pytest

from tinyml import checkpoint
from tinyml.train import Config, evaluate, train


def test_two_runs_write_identical_files(tmp_path: Path) -> None:
    config = Config(samples=128, epochs=12, checkpoint_every=5)
    first = train(config, tmp_path / "a")
    second = train(config, tmp_path / "b")
    assert first == second
    for name in ["metrics.ndjson", "summary.json", "checkpoints/epoch-0012.npz"]:
        assert (tmp_path / "a" / name).read_bytes() == (tmp_path / "b" / name).read_bytes()


def test_checkpoints_and_metrics(tmp_path: Path) -> None:
    summary = train(Config(samples=128, epochs=12, checkpoint_every=5), tmp_path)
    names = sorted(p.name for p in (tmp_path / "checkpoints").iterdir())
    assert names == ["epoch-0005.npz", "epoch-0010.npz", "epoch-0012.npz"]
    lines = (tmp_path / "metrics.ndjson").read_text().splitlines()
    assert [json.loads(line)["epoch"] for line in lines] == list(range(1, 13))
    assert summary.checkpoint == "checkpoints/epoch-0012.npz"
    assert json.loads((tmp_path / "summary.json").read_text())["final_loss"] == summary.final_loss


def test_a_checkpoint_round_trips(tmp_path: Path) -> None:
    arrays = {"w": np.arange(3.0), "b": np.array([0.25])}
    checkpoint.save(tmp_path / "c.npz", arrays)
    loaded = checkpoint.load(tmp_path / "c.npz")
    assert np.array_equal(loaded["w"], arrays["w"])
    assert np.array_equal(loaded["b"], arrays["b"])


def test_evaluate_a_trained_model(tmp_path: Path) -> None:
    train(Config(samples=256, epochs=30), tmp_path)
    assert evaluate(tmp_path / "checkpoints" / "epoch-0030.npz", seed=0, samples=256) > 0.9


@pytest.mark.parametrize("bad", [{"epochs": 0}, {"checkpoint_every": 0}, {"lr": 0.0}])
def test_bad_configs_are_rejected(tmp_path: Path, bad: dict[str, float]) -> None:
    with pytest.raises(ValueError):
        train(Config(**bad), tmp_path)  # type: ignore[arg-type]
