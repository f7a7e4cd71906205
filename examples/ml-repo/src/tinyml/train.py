"""The seeded training loop: checkpoints every few epochs, one NDJSON metrics line per epoch,
and a summary of the run. Nothing written depends on the wall clock."""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np

from tinyml import checkpoint
from tinyml.data import make_blobs
from tinyml.model import LogisticRegression


@dataclass(frozen=True)
class Config:
    """Everything that decides a run's result."""

    samples: int = 512
    features: int = 8
    seed: int = 0
    epochs: int = 40
    lr: float = 0.5
    l2: float = 0.001
    checkpoint_every: int = 10
    train_fraction: float = 0.8

    def validate(self) -> None:
        """Raises ValueError for a setting no run can use."""
        if self.epochs < 1:
            raise ValueError(f"epochs must be at least 1, got {self.epochs}")
        if self.checkpoint_every < 1:
            raise ValueError(f"checkpoint_every must be at least 1, got {self.checkpoint_every}")
        if self.lr <= 0:
            raise ValueError(f"lr must be positive, got {self.lr}")


@dataclass(frozen=True)
class Summary:
    """What a run ended with; written as `summary.json`, a flat object of scalars."""

    epochs: int
    final_loss: float
    train_accuracy: float
    test_accuracy: float
    checkpoint: str
    checkpoint_sha256: str
    seed: int


def train(config: Config, out: Path) -> Summary:
    """Trains a model under `config`, writing into `out`:

    - `checkpoints/epoch-NNNN.npz` every `checkpoint_every` epochs and after the last one,
    - `metrics.ndjson`: one JSON object per epoch (epoch, loss, accuracy),
    - `summary.json`: the `Summary`.
    """
    config.validate()
    data = make_blobs(config.samples, config.features, config.seed)
    train_set, test_set = data.split(config.train_fraction)
    model = LogisticRegression(config.features, l2=config.l2)
    out.mkdir(parents=True, exist_ok=True)
    lines: list[str] = []
    last_checkpoint = Path()
    digest = ""
    for epoch in range(1, config.epochs + 1):
        loss = model.step(train_set.x, train_set.y, config.lr)
        accuracy = model.accuracy(train_set.x, train_set.y)
        record = {"epoch": epoch, "loss": round(loss, 10), "accuracy": round(accuracy, 10)}
        lines.append(json.dumps(record, sort_keys=True))
        if epoch % config.checkpoint_every == 0 or epoch == config.epochs:
            last_checkpoint = out / "checkpoints" / f"epoch-{epoch:04d}.npz"
            arrays = {"w": model.w, "b": np.array([model.b])}
            digest = checkpoint.save(last_checkpoint, arrays)
    (out / "metrics.ndjson").write_text("\n".join(lines) + "\n", encoding="utf-8")
    summary = Summary(
        epochs=config.epochs,
        final_loss=round(model.loss(train_set.x, train_set.y), 10),
        train_accuracy=round(model.accuracy(train_set.x, train_set.y), 10),
        test_accuracy=round(model.accuracy(test_set.x, test_set.y), 10),
        checkpoint=last_checkpoint.relative_to(out).as_posix(),
        checkpoint_sha256=digest,
        seed=config.seed,
    )
    text = json.dumps(asdict(summary), indent=2, sort_keys=True) + "\n"
    (out / "summary.json").write_text(text, encoding="utf-8")
    return summary


def evaluate(path: Path, seed: int, samples: int = 512, features: int = 8) -> float:
    """The accuracy of a saved checkpoint on a freshly generated dataset."""
    arrays = checkpoint.load(path)
    model = LogisticRegression(features)
    model.w = arrays["w"]
    model.b = float(arrays["b"][0])
    data = make_blobs(samples, features, seed)
    return model.accuracy(data.x, data.y)
