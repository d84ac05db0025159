"""XLA settings that make decoding fast on a CPU-only host; they take effect only when set
before JAX starts its backends (the first `jax.devices()` or compilation).

- One XLA CPU device per core (`--xla_force_host_platform_device_count`): the default `data`
  mesh then splits a batch's rows over the cores, and each core decodes its rows in a loop of
  its own (pinchjax.infer.decode).
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
