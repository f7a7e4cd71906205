"""Logistic regression with an L2 penalty, trained by full-batch gradient descent."""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
from numpy.typing import NDArray

EPSILON = 1e-12


def sigmoid(z: NDArray[np.float64]) -> NDArray[np.float64]:
    """The logistic function, computed without overflow for large |z|."""
    out = np.empty_like(z)
    positive = z >= 0
    out[positive] = 1.0 / (1.0 + np.exp(-z[positive]))
    exp_z = np.exp(z[~positive])
    out[~positive] = exp_z / (1.0 + exp_z)
    return out


@dataclass
class LogisticRegression:
    """Weights `w`, bias `b` and the L2 strength `l2`."""

    features: int
    l2: float = 0.0
    w: NDArray[np.float64] = field(init=False)
    b: float = field(init=False, default=0.0)

    def __post_init__(self) -> None:
        self.w = np.zeros(self.features, dtype=np.float64)

    def predict_proba(self, x: NDArray[np.float64]) -> NDArray[np.float64]:
        """P(y = 1 | x) for each row of `x`."""
        return sigmoid(x @ self.w + self.b)

    def predict(self, x: NDArray[np.float64]) -> NDArray[np.float64]:
        """The predicted class (0.0 or 1.0) of each row."""
        return (self.predict_proba(x) >= 0.5).astype(np.float64)

    def loss(self, x: NDArray[np.float64], y: NDArray[np.float64]) -> float:
        """Mean binary cross-entropy plus the L2 penalty."""
        p = np.clip(self.predict_proba(x), EPSILON, 1.0 - EPSILON)
        bce = -np.mean(y * np.log(p) + (1.0 - y) * np.log(1.0 - p))
        return float(bce + 0.5 * self.l2 * float(self.w @ self.w))

    def step(self, x: NDArray[np.float64], y: NDArray[np.float64], lr: float) -> float:
        """One gradient-descent step; returns the loss before the step."""
        loss = self.loss(x, y)
        error = self.predict_proba(x) - y
        grad_w = x.T @ error / len(y) + self.l2 * self.w
        grad_b = float(np.mean(error))
        self.w = self.w - lr * grad_w
        self.b = self.b - lr * grad_b
        return loss

    def accuracy(self, x: NDArray[np.float64], y: NDArray[np.float64]) -> float:
        """The fraction of rows classified correctly."""
        return float(np.mean(self.predict(x) == y))
