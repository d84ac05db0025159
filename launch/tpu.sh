#!/usr/bin/env bash
# Runs a pinchjax command on every worker of a Cloud TPU VM (single host or pod slice).
#
# Usage:
#   launch/tpu.sh create                      # TPU VM, or a queued resource with QUEUED=1
#   launch/tpu.sh install                     # ship this checkout to all workers, pip install
#   launch/tpu.sh run pinchjax train --gin_file=gin/runs/tune.gin ...   # on all workers
#   launch/tpu.sh logs                        # fetch per-worker logs into $LOG_DIR
#   launch/tpu.sh delete
#   launch/tpu.sh all pinchjax train ...      # create, install, run, logs, delete
#
# Environment: TPU_NAME and ZONE (required); PROJECT; ACCELERATOR_TYPE (v5litepod-8);
# RUNTIME_VERSION (v2-alpha-tpuv5-lite); QUEUED=1 for a queued resource; SPOT=1 for spot
# capacity; REMOTE_DIR (pinchjax, relative to the remote home, or absolute; any characters);
# LOG_DIR (logs/$TPU_NAME); DRY_RUN=1 prints the gcloud commands instead of running them.
# `install` ships the last commit: it warns when the checkout has uncommitted changes.
# Every step is idempotent: create and delete check whether the TPU exists, install skips
# workers that already have this revision, so a failed `all` can simply be run again.
set -euo pipefail

: "${TPU_NAME:?set TPU_NAME}"
: "${ZONE:?set ZONE}"
ACCELERATOR_TYPE="${ACCELERATOR_TYPE:-v5litepod-8}"
RUNTIME_VERSION="${RUNTIME_VERSION:-v2-alpha-tpuv5-lite}"
REMOTE_DIR="${REMOTE_DIR:-pinchjax}"
LOG_DIR="${LOG_DIR:-logs/${TPU_NAME}}"
REPO_ROOT="$(cd "$(dirname "$(readlink -f "${BASH_SOURCE[0]}")")/.." && pwd)"
# shellcheck source=launch/common.sh
source "${REPO_ROOT}/launch/common.sh"

common=(--zone="${ZONE}")
if [[ -n "${PROJECT:-}" ]]; then common+=(--project="${PROJECT}"); fi

# Runs gcloud, or prints the command when DRY_RUN=1.
gc() {
  if [[ "${DRY_RUN:-0}" == "1" ]]; then print_cmd gcloud "$@"; else gcloud "$@"; fi
}

# True if the TPU (or queued resource) exists; in a dry run, assume it does not.
exists() {
  [[ "${DRY_RUN:-0}" == "1" ]] && return 1
  if [[ "${QUEUED:-0}" == "1" ]]; then
    gcloud compute tpus queued-resources describe "${TPU_NAME}" "${common[@]}" >/dev/null 2>&1
  else
    gcloud compute tpus tpu-vm describe "${TPU_NAME}" "${common[@]}" >/dev/null 2>&1
  fi
}

on_all_workers() {
  gc compute tpus tpu-vm ssh "${TPU_NAME}" "${common[@]}" --worker=all --command="$1"
}

create() {
  if exists; then echo "TPU ${TPU_NAME} exists; not creating it again" >&2; return; fi
  local spot=()
  if [[ "${SPOT:-0}" == "1" ]]; then spot=(--spot); fi
  if [[ "${QUEUED:-0}" == "1" ]]; then
    gc compute tpus queued-resources create "${TPU_NAME}" "${common[@]}" \
      --node-id="${TPU_NAME}" --accelerator-type="${ACCELERATOR_TYPE}" \
      --runtime-version="${RUNTIME_VERSION}" "${spot[@]}"
    wait_active
  else
    gc compute tpus tpu-vm create "${TPU_NAME}" "${common[@]}" \
      --accelerator-type="${ACCELERATOR_TYPE}" --version="${RUNTIME_VERSION}" "${spot[@]}"
  fi
}

# A queued resource is granted later; poll until it is ACTIVE (or fails).
wait_active() {
  [[ "${DRY_RUN:-0}" == "1" ]] && return
  local state=""
  until [[ "${state}" == "ACTIVE" ]]; do
    state="$(gcloud compute tpus queued-resources describe "${TPU_NAME}" "${common[@]}" \
      --format='value(state.state)')"
    case "${state}" in
      FAILED|SUSPENDED) echo "queued resource ${TPU_NAME} is ${state}" >&2; return 1 ;;
    esac
    echo "queued resource ${TPU_NAME}: ${state:-unknown}; waiting" >&2
    sleep "${POLL_SECONDS:-60}"
  done
}

# Warns that `git archive HEAD` leaves uncommitted (and untracked) changes behind.
warn_if_dirty() {
  local changed
  changed="$(git -C "${REPO_ROOT}" status --porcelain)" || return 0  # not a git checkout
  [[ -z "${changed}" ]] && return
  echo "warning: ${REPO_ROOT} has uncommitted changes that install does not ship" \
    "(it ships git archive HEAD); commit them first:" >&2
  echo "${changed}" >&2
}

# Ships the committed tree (git archive HEAD) to every worker and installs it there.
install() {
  warn_if_dirty
  if [[ "${DRY_RUN:-0}" != "1" ]]; then
    mkdir -p "${LOG_DIR}"
    git -C "${REPO_ROOT}" archive --format=tar.gz -o "$(cd "${LOG_DIR}" && pwd)/pinchjax.tar.gz" HEAD
  fi
  gc compute tpus tpu-vm scp "${LOG_DIR}/pinchjax.tar.gz" "${TPU_NAME}:pinchjax.tar.gz" \
    "${common[@]}" --worker=all
  local dir
  dir="$(print_cmd "${REMOTE_DIR}")"
  on_all_workers "mkdir -p ${dir} && tar -xzf pinchjax.tar.gz -C ${dir} \
&& bash ${dir}/launch/worker.sh install"
}

run() {
  [[ $# -gt 0 ]] || { echo "run: give the command, e.g. pinchjax train --gin_file=..." >&2; exit 2; }
  on_all_workers "bash $(print_cmd "${REMOTE_DIR}/launch/worker.sh") run $(print_cmd "$@")"
}

logs() {
  [[ "${DRY_RUN:-0}" == "1" ]] || mkdir -p "${LOG_DIR}"
  gc compute tpus tpu-vm scp "${TPU_NAME}:${REMOTE_DIR}/logs/*" "${LOG_DIR}/" "${common[@]}" \
    --worker=all
}

delete() {
  if [[ "${DRY_RUN:-0}" != "1" ]] && ! exists; then
    echo "TPU ${TPU_NAME} does not exist; nothing to delete" >&2; return
  fi
  if [[ "${QUEUED:-0}" == "1" ]]; then
    gc compute tpus queued-resources delete "${TPU_NAME}" "${common[@]}" --force --quiet
  else
    gc compute tpus tpu-vm delete "${TPU_NAME}" "${common[@]}" --quiet
  fi
}

step="${1:-}"
shift || true
case "${step}" in
  create|install|logs|delete) "${step}" ;;
  run) run "$@" ;;
  all) create; install; status=0; run "$@" || status=$?; logs; delete; exit "${status}" ;;
  *) sed -n '2,20p' "${BASH_SOURCE[0]}" >&2; exit 2 ;;
esac
