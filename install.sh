#!/bin/sh
# Builds gate in release mode and installs it to ${PREFIX:-$HOME/.local}/bin.
# Idempotent: running it again rebuilds (if needed) and replaces the binary.
set -eu

prefix="${PREFIX:-$HOME/.local}"
bin="$prefix/bin"
here="$(cd "$(dirname "$0")" && pwd)"

if ! command -v cargo >/dev/null 2>&1; then
    echo "install.sh: cargo is not on PATH." >&2
    echo "Install a Rust toolchain (https://rustup.rs, Rust 1.95 or newer), then run this again." >&2
    exit 1
fi

echo "Building gate (release) in $here ..."
cargo build --release --locked --manifest-path "$here/Cargo.toml"

mkdir -p "$bin"
# Copy to a temporary name, then rename: a running gate keeps working while it is replaced.
cp "$here/target/release/gate" "$bin/.gate.tmp.$$"
chmod 755 "$bin/.gate.tmp.$$"
mv -f "$bin/.gate.tmp.$$" "$bin/gate"
echo "Installed $bin/gate ($("$bin/gate" --version))"

case ":$PATH:" in
    *":$bin:"*) ;;
    *) echo "Note: $bin is not on your PATH; add it, e.g.: export PATH=\"$bin:\$PATH\"" ;;
esac
