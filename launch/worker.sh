#!/usr/bin/env bash
# Runs on each TPU worker (launch/tpu.sh ships it): `install` or `run COMMAND...`.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

case "${1:-}" in
  install)
    # Idempotent: skip pip when this exact tarball (tpu.sh copies it to the home) was installed.
    stamp="$(sha256sum "${HOME}/pinchjax.tar.gz" | cut -d' ' -f1)"
    if [[ "$(cat .installed 2>/dev/null)" == "${stamp}" ]]; then
      echo "$(hostname): pinchjax already installed"; exit 0
    fi
    # pinchjax needs Python 3.11; TPU VM images (Ubuntu 22.04) have it in their archive.
    if ! command -v python3.11 >/dev/null; then
      sudo apt-get update -q && sudo apt-get install -y -q python3.11 python3.11-venv
    fi
    python3.11 -m venv .venv
    .venv/bin/pip install --quiet -c constraints.txt -e . 'jax[tpu]'  # the tested jax
    echo "${stamp}" > .installed
    ;;
  run)
    shift
    mkdir -p logs
    export PINCHJAX_MULTIHOST=1 PATH="${PWD}/.venv/bin:${PATH}"
    "$@" 2>&1 | tee "logs/worker-$(hostname).log"
    exit "${PIPESTATUS[0]}"
    ;;
  *) echo "usage: worker.sh install | run COMMAND..." >&2; exit 2 ;;
esac
