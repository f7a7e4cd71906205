import numpy as np
import pytest

from tinyml.data import make_blobs
from tinyml.model import LogisticRegression, sigmoid


def test_sigmoid_is_stable_at_the_extremes() -> None:
    z = np.array([-1000.0, 0.0, 1000.0])
    assert np.allclose(sigmoid(z), [0.0, 0.5, 1.0])


def test_a_step_lowers_the_loss() -> None:
    data = make_blobs(200, 4, seed=3)
    model = LogisticRegression(4)
    first = model.step(data.x, data.y, lr=0.5)
    assert model.loss(data.x, data.y) < first


def test_training_separates_the_blobs() -> None:
    data = make_blobs(400, 4, seed=5)
    model = LogisticRegression(4, l2=0.001)
    for _ in range(50):
        model.step(data.x, data.y, lr=0.5)
    assert model.accuracy(data.x, data.y) > 0.9


def test_the_dataset_is_seeded() -> None:
    a = make_blobs(50, 3, seed=7)
    b = make_blobs(50, 3, seed=7)
    assert np.array_equal(a.x, b.x)
    assert np.array_equal(a.y, b.y)
    assert not np.array_equal(a.x, make_blobs(50, 3, seed=8).x)


@pytest.mark.parametrize(("n", "features"), [(1, 3), (10, 0)])
def test_the_dataset_rejects_bad_shapes(n: int, features: int) -> None:
    with pytest.raises(ValueError):
        make_blobs(n, features, seed=0)


def test_split_keeps_every_row() -> None:
    data = make_blobs(10, 2, seed=0)
    left, right = data.split(0.7)
    assert (len(left), len(right)) == (7, 3)
    with pytest.raises(ValueError):
        data.split(1.0)
