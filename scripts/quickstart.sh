#!/usr/bin/env bash
# The main job in one command, on a fresh Debian/Ubuntu machine: install what lext needs
# (sudo when not root), build it, then run `lext experiment`, which builds the pydoc corpus
# from the Python documentation package and reproduces the paper's comparison at CPU
# scale into results/ (REPORT.md, tables, plots). Arguments go to `lext experiment`
# (e.g. --budget 4x).
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/install-deps.sh
make -j"$(nproc)"
exec ./lext experiment "$@"
