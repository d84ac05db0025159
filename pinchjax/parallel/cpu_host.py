"""Decoding on a CPU-only host: XLA settings, which take effect only when set before JAX
starts its backends (the first `jax.devices()` or compilation), and the mesh to decode on.

- One XLA CPU device per core (`--xla_force_host_platform_device_count`), and `decode_mesh`
  splits the model's weights over them (tensor parallelism): each step then reads every
  weight once on the whole host, where splitting only the rows reads one copy per core. On a
  2-core AMD EPYC host, batch-32 decoding of the bench's model took 327-345 ms per call with
  weights split against 397-469 ms with rows split (4 alternating runs each).
- XLA's own dot emitter instead of YNNPACK fusions (`--xla_cpu_experimental_ynn_fusion_type=`
  with no fusion kinds): on a 2-core AMD EPYC host, batch-32 decoding was faster with it in
  each of 11 alternating A/B pairs (median 22%, 4-47%); batch 1 was 8-23% slower in 2
  pairs, batch 32 being the case that fills a CPU host.

Flags that XLA_FLAGS already sets are left as they are, so a user's choice wins. The flags
only concern XLA's CPU backend: on a GPU or TPU host they change nothing that runs there.
"""
from __future__ import annotations

import logging
import os
from typing import Sequence

import jax
from jax.sharding import Mesh

from pinchjax.model.config import ModelConfig
from pinchjax.parallel import mesh as mesh_lib

log = logging.getLogger(__name__)


def decode_flags(cores: int | None = None) -> dict[str, str]:
  """The XLA flags (name -> value) for decoding on `cores` CPU cores (default: all)."""
  return {"xla_force_host_platform_device_count": str(cores or os.cpu_count() or 1),
          "xla_cpu_experimental_ynn_fusion_type": ""}


def use_for_decoding(cores: int | None = None) -> bool:
  """Adds `decode_flags` to XLA_FLAGS, each unless XLA_FLAGS already names it. Returns False
  (and changes nothing) when JAX's backends have already started, too late for the flags."""
  # No public JAX API tells whether the backends have started; xla_bridge's does.
  from jax._src import xla_bridge  # pylint: disable=import-outside-toplevel
  if xla_bridge.backends_are_initialized():
    log.warning("JAX has already started; CPU decoding flags not applied")
    return False
  flags = os.environ.get("XLA_FLAGS", "")
  given = {f.lstrip("-").split("=", 1)[0] for f in flags.split()}
  extra = [f"--{k}={v}" for k, v in decode_flags(cores).items() if k not in given]
  os.environ["XLA_FLAGS"] = " ".join([flags] + extra).strip()
  return True


def decode_mesh(cfg: ModelConfig, devices: Sequence[jax.Device] | None = None) -> Mesh:
  """A `tensor` x `data` mesh for decoding `cfg`: weights split over the most devices that
  the heads, kv heads, MLP width and vocabulary all divide into, rows over the rest."""
  devices = list(jax.devices() if devices is None else devices)
  n = len(devices)
  dims = (cfg.num_heads, cfg.num_kv_heads, cfg.mlp_dim, cfg.vocab_size)
  tensor = max(t for t in range(1, n + 1) if n % t == 0 and all(x % t == 0 for x in dims))
  return mesh_lib.make_mesh({"data": n // tensor, "tensor": tensor}, devices)
