#!/usr/bin/env bash
# Set up hwsearch on a fresh Debian machine: system packages, a virtualenv in .venv,
# the CPU build of torch (pinned: an unpinned torch pulls a CUDA build of several GB),
# then hwsearch itself with its test tools. Safe to run again; it only adds what is missing.
set -euo pipefail
cd "$(dirname "$0")/.."

sudo_if_needed() { if [ "$(id -u)" = 0 ]; then "$@"; else sudo "$@"; fi; }

PYTHON=${PYTHON:-python3}
if command -v apt-get >/dev/null 2>&1; then
    need=()
    dpkg -s dataset-fashion-mnist >/dev/null 2>&1 || need+=(dataset-fashion-mnist)
    "$PYTHON" -m venv --help >/dev/null 2>&1 || need+=(python3-venv)
    if [ ${#need[@]} -gt 0 ]; then
        echo "setup: installing Debian packages: ${need[*]}"
        sudo_if_needed apt-get update -qq
        sudo_if_needed env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${need[@]}"
    fi
fi

[ -x .venv/bin/python ] || "$PYTHON" -m venv .venv
pip_install() { .venv/bin/python -m pip install -q --disable-pip-version-check "$@"; }
# TORCH_INDEX_URL may point pip at PyTorch's CPU-only wheel index on machines without a local wheel.
pip_install "torch==2.13.0" ${TORCH_INDEX_URL:+--index-url "$TORCH_INDEX_URL"}
pip_install -e ".[test]"
echo "setup: ready ($(.venv/bin/hwsearch --version))"
