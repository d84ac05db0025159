#!/usr/bin/env bash
# Runs a pinchjax command as one process per node of a multi-node GPU cluster (each process
# drives all GPUs of its node), coordinated by jax.distributed.
#
# Slurm (one task per node; the first node of the allocation coordinates):
#   srun --nodes=2 --ntasks-per-node=1 --gpus-per-node=8 \
#     launch/gpu.sh pinchjax train --gin_file=gin/runs/tune.gin ...
# Without Slurm, on each node i of N:
#   COORDINATOR=node0:12355 NUM_PROCESSES=N PROCESS_ID=i launch/gpu.sh pinchjax train ...
#
# Environment: PORT (coordinator port under Slurm, default 12355); LOG_DIR (logs): each
# process also writes LOG_DIR/process-<id>.log; DRY_RUN=1 prints the environment and the
# command instead of running it. The run directory (train.model_dir) must be on storage all
# nodes share: orbax writes each process's shards of a checkpoint there.
set -euo pipefail

REPO_ROOT="$(cd "$(dirname "$(readlink -f "${BASH_SOURCE[0]}")")/.." && pwd)"
# shellcheck source=launch/common.sh
source "${REPO_ROOT}/launch/common.sh"

[[ $# -gt 0 ]] || { sed -n '2,16p' "${BASH_SOURCE[0]}" >&2; exit 2; }
if [[ -n "${SLURM_JOB_ID:-}" ]]; then
  first_node="$(scontrol show hostnames "${SLURM_JOB_NODELIST}" | head -n 1)"
  COORDINATOR="${COORDINATOR:-${first_node}:${PORT:-12355}}"
  NUM_PROCESSES="${NUM_PROCESSES:-${SLURM_NTASKS}}"
  PROCESS_ID="${PROCESS_ID:-${SLURM_PROCID}}"
fi
: "${COORDINATOR:?set COORDINATOR=host:port (or run under Slurm)}"
: "${NUM_PROCESSES:?set NUM_PROCESSES}"
: "${PROCESS_ID:?set PROCESS_ID}"
export JAX_COORDINATOR_ADDRESS="${COORDINATOR}" JAX_NUM_PROCESSES="${NUM_PROCESSES}" \
  JAX_PROCESS_ID="${PROCESS_ID}"
LOG_DIR="${LOG_DIR:-logs}"

if [[ "${DRY_RUN:-0}" == "1" ]]; then
  echo "JAX_COORDINATOR_ADDRESS=${JAX_COORDINATOR_ADDRESS} JAX_NUM_PROCESSES=${JAX_NUM_PROCESSES}" \
    "JAX_PROCESS_ID=${JAX_PROCESS_ID}"
  print_cmd "$@"
  exit 0
fi
mkdir -p "${LOG_DIR}"
"$@" 2>&1 | tee "${LOG_DIR}/process-${PROCESS_ID}.log"
exit "${PIPESTATUS[0]}"
