#!/usr/bin/env bash
# Installs what lext needs to build, test and run its experiment, from Debian/Ubuntu packages:
#   build:  gcc, make, oneDNN (the matrix-product engine), OpenBLAS (OpenMP build: make BLAS=openblas
#           and the benchmark's baseline), cJSON, OpenSSL's libcrypto (sha256 for corpus splits)
#   install: pkg-config (tests/test_install.sh builds examples/ with it), pip, venv, setuptools
#           and wheel (it pip-installs python/ offline into a venv)
#   tests:  python3-torch and python3-numpy (the independent PyTorch reference)
#   hardening (`make asan`, `make fuzz`): clang with its runtimes (ASan, UBSan, libFuzzer)
#   data-parallel training (mpirun -np P lext train, tests/test_mpi.sh): OpenMPI
# Uses sudo when not root. Does nothing when everything is already there.
set -euo pipefail
pkgs=(build-essential pkg-config libdnnl-dev libopenblas-openmp-dev libcjson-dev libssl-dev python3 python3-numpy python3-torch
      python3-pip python3-venv python3-setuptools python3-wheel
      clang libclang-rt-dev cppcheck openmpi-bin libopenmpi-dev)
missing=()
for p in "${pkgs[@]}"; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ ${#missing[@]} -eq 0 ]; then exit 0; fi
echo "installing: ${missing[*]}"
SUDO=""
if [ "$(id -u)" -ne 0 ]; then SUDO="sudo"; fi
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update -qq
$SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}"
