"""Multi-host runs: process initialisation, agreement across hosts, global batches.

Each process reads its own shard of the data stream (`shard_index=jax.process_index()`) with
the per-process batch size; `global_batch` assembles the per-process numpy batches into one
global `jax.Array` sharded over the batch mesh axes, without moving data between hosts.
"""
from __future__ import annotations

import os
import signal

import gin
import jax
import numpy as np
from jax.experimental import multihost_utils


@gin.configurable
def initialize(coordinator_address: str | None = None, num_processes: int | None = None,
               process_id: int | None = None) -> None:
  """Calls `jax.distributed.initialize` when this is a multi-process run.

  A run is multi-process when a coordinator is given (gin, or the environment variables
  JAX_COORDINATOR_ADDRESS, JAX_NUM_PROCESSES, JAX_PROCESS_ID as launch/gpu.sh sets them), or
  when PINCHJAX_MULTIHOST=1 (launch/tpu.sh): then JAX detects the cluster itself (Cloud TPU
  metadata, Slurm). Otherwise this is a no-op and the run uses the local devices.
  """
  env = os.environ
  coordinator_address = coordinator_address or env.get("JAX_COORDINATOR_ADDRESS")
  if num_processes is None and "JAX_NUM_PROCESSES" in env:
    num_processes = int(env["JAX_NUM_PROCESSES"])
  if process_id is None and "JAX_PROCESS_ID" in env:
    process_id = int(env["JAX_PROCESS_ID"])
  if not coordinator_address and env.get("PINCHJAX_MULTIHOST") != "1":
    return
  if jax.distributed.is_initialized():
    return
  sigterm = signal.getsignal(signal.SIGTERM)
  jax.distributed.initialize(coordinator_address=coordinator_address,
                             num_processes=num_processes, process_id=process_id)
  # JAX's preemption service installs its own SIGTERM handler (in C++, invisible to Python),
  # which only records the signal for `reached_preemption_sync_point`. The trainer's handler
  # (PreemptionGuard, agreeing with `any_process`) is the one that must see it.
  signal.signal(signal.SIGTERM, sigterm)


def any_process(flag: bool) -> bool:
  """True on every process if `flag` is true on any (e.g. one host got SIGTERM)."""
  if jax.process_count() == 1:
    return flag
  return bool(np.any(multihost_utils.process_allgather(np.asarray(flag))))


def global_batch(local: dict[str, np.ndarray], sharding: jax.sharding.Sharding
                 ) -> dict[str, jax.Array]:
  """One global array per feature from this process's rows (processes in index order)."""
  n = jax.process_count()
  return {k: jax.make_array_from_process_local_data(
      sharding, np.asarray(v), (v.shape[0] * n, *v.shape[1:])) for k, v in local.items()}
