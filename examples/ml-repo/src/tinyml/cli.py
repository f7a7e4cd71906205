"""The `tinyml` command: `tinyml --version`, `tinyml train`, `tinyml evaluate`."""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Sequence
from pathlib import Path

from tinyml import __version__
from tinyml.train import Config, evaluate, train


def parser() -> argparse.ArgumentParser:
    """The argument parser (exposed for the docs and the tests)."""
    top = argparse.ArgumentParser(prog="tinyml", description=__doc__)
    top.add_argument("--version", action="version", version=f"tinyml {__version__}")
    commands = top.add_subparsers(dest="command", required=True)
    run = commands.add_parser("train", help="train a model and write checkpoints and metrics")
    run.add_argument("--out", type=Path, default=Path("artifacts/train"))
    run.add_argument("--epochs", type=int, default=Config.epochs)
    run.add_argument("--seed", type=int, default=Config.seed)
    run.add_argument("--samples", type=int, default=Config.samples)
    run.add_argument("--lr", type=float, default=Config.lr)
    run.add_argument("--checkpoint-every", type=int, default=Config.checkpoint_every)
    check = commands.add_parser("evaluate", help="the accuracy of a checkpoint")
    check.add_argument("checkpoint", type=Path)
    check.add_argument("--seed", type=int, default=1)
    return top


def main(argv: Sequence[str] | None = None) -> int:
    """Runs the command line; returns the exit code."""
    args = parser().parse_args(argv)
    try:
        if args.command == "train":
            config = Config(
                samples=args.samples,
                seed=args.seed,
                epochs=args.epochs,
                lr=args.lr,
                checkpoint_every=args.checkpoint_every,
            )
            summary = train(config, args.out)
            print(json.dumps({"final_loss": summary.final_loss, "epochs": summary.epochs}))
        else:
            print(json.dumps({"accuracy": evaluate(args.checkpoint, args.seed)}))
    except (ValueError, OSError) as error:
        print(f"tinyml: error: {error}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
