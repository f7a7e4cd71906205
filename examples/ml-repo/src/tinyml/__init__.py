"""tinyml: a tiny numpy classifier with a seeded, checkpointed training loop.

The package is small on purpose: a synthetic dataset (`tinyml.data`), a logistic-regression
model (`tinyml.model`), a training loop that writes `.npz` checkpoints and NDJSON metrics
(`tinyml.train`) and a command line (`tinyml.cli`).
"""

__version__ = "0.3.0"

__all__ = ["__version__"]
