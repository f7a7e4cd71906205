"""A seeded synthetic binary classification dataset."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray


@dataclass(frozen=True)
class Dataset:
    """Features `x` (n × d) and labels `y` (n, values 0 or 1)."""

    x: NDArray[np.float64]
    y: NDArray[np.float64]

    def __len__(self) -> int:
        return int(self.x.shape[0])

    def split(self, fraction: float) -> tuple[Dataset, Dataset]:
        """The first `fraction` of the rows and the rest, in order."""
        if not 0.0 < fraction < 1.0:
            raise ValueError(f"fraction must be between 0 and 1, not {fraction}")
        cut = int(len(self) * fraction)
        return Dataset(self.x[:cut], self.y[:cut]), Dataset(self.x[cut:], self.y[cut:])


def make_blobs(n: int, features: int, seed: int, noise: float = 1.0) -> Dataset:
    """Two Gaussian blobs, one per class, separated along a seeded random direction.

    The same `(n, features, seed, noise)` always gives the same arrays.
    """
    if n < 2:
        raise ValueError(f"need at least 2 samples, got {n}")
    if features < 1:
        raise ValueError(f"need at least 1 feature, got {features}")
    rng = np.random.default_rng(seed)
    direction = rng.normal(size=features)
    direction /= np.linalg.norm(direction)
    y = (rng.random(n) < 0.5).astype(np.float64)
    centers = np.outer(2.0 * y - 1.0, direction) * 1.5
    x = centers + rng.normal(scale=noise, size=(n, features))
    return Dataset(x.astype(np.float64), y)
