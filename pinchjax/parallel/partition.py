"""The Transformer's sharded state (through `Partitioner.init`) and the sharding report.

State is created abstractly first (`nnx.eval_shape`), its shardings are derived from the
parameters' logical axes, and only then is it materialised, so no device ever holds an
unsharded copy. Checkpoint restores and the Hugging Face loader target the same abstract,
sharded state (`abstract_model` + `Partitioner.shardings`).
"""
from __future__ import annotations

import logging
from typing import Any

import numpy as np
from flax import nnx
from jax.sharding import NamedSharding

from pinchjax.model import sharding as sharding_lib
from pinchjax.model.config import ModelConfig
from pinchjax.model.transformer import Transformer

log = logging.getLogger(__name__)


def logical_axes(state: nnx.State) -> dict[str, sharding_lib.LogicalAxes]:
  """Dotted parameter name -> logical axes (each Variable's `logical_axes` metadata)."""
  out = {}
  for path, var in nnx.to_flat_state(state):
    axes = var.get_metadata().get("logical_axes")
    if axes is None:
      raise ValueError(f"parameter {sharding_lib.path_name(path)} has no logical axes")
    out[sharding_lib.path_name(path)] = tuple(axes)
  return out


def abstract_model(cfg: ModelConfig, seed: int = 0) -> tuple[nnx.GraphDef, nnx.State]:
  """(graphdef, state of ShapeDtypeStructs) without allocating any parameter."""
  model = nnx.eval_shape(lambda: Transformer(cfg, rngs=nnx.Rngs(seed)))
  return nnx.split(model)


def sharded_init(cfg: ModelConfig, partitioner: sharding_lib.Partitioner,
                 seed: int = 0) -> tuple[Transformer, nnx.State]:
  """A Transformer whose parameters are created directly in their shardings.

  Args:
    cfg: the architecture.
    partitioner: the mesh and rules to create it on.
    seed: parameter init seed; the values do not depend on the mesh.
  Returns:
    (model, shardings): shardings is an nnx.State mirroring `nnx.state(model)` whose
    Variables hold NamedShardings, usable as jit in/out_shardings for the parameters.
  """
  return partitioner.init(lambda: Transformer(cfg, rngs=nnx.Rngs(seed)))


def sharding_report(state: nnx.State, shardings: nnx.State | None = None,
                    min_fraction: float = 0.0) -> dict[str, Any]:
  """How much parameter memory is sharded.

  Args:
    state: concrete or abstract parameters.
    shardings: their shardings (default: read from the arrays).
    min_fraction: raise ValueError, naming the largest replicated parameters, when less than
      this fraction of the parameter bytes is sharded (a rule set that silently replicates
      a model that should be split).
  Returns:
    dict with total_bytes, sharded_bytes (parameters split over more than one device),
    fraction_sharded, bytes_per_device (largest per-device footprint) and
    replicated (names of replicated parameters, largest first).
  """
  shard_of = dict(nnx.to_flat_state(shardings)) if shardings is not None else {}
  total = sharded = 0
  per_device: dict[Any, int] = {}
  replicated = []
  for path, var in nnx.to_flat_state(state):
    nbytes = int(np.prod(var.shape)) * np.dtype(var.dtype).itemsize
    sharding: NamedSharding = (shard_of[path].get_value() if path in shard_of
                               else var.get_value().sharding)
    shard_shape = sharding.shard_shape(var.shape)
    shard_bytes = int(np.prod(shard_shape)) * np.dtype(var.dtype).itemsize
    total += nbytes
    if shard_bytes < nbytes:
      sharded += nbytes
    else:
      replicated.append((nbytes, sharding_lib.path_name(path)))
    for device in sharding.device_set:
      per_device[device] = per_device.get(device, 0) + shard_bytes
  report = {
      "total_bytes": total,
      "sharded_bytes": sharded,
      "fraction_sharded": sharded / total if total else 0.0,
      "bytes_per_device": max(per_device.values(), default=0),
      "replicated": [name for _, name in sorted(replicated, reverse=True)],
  }
  if report["fraction_sharded"] < min_fraction:
    raise ValueError(f"only {report['fraction_sharded']:.1%} of parameter bytes are sharded "
                     f"(minimum {min_fraction:.0%}); largest replicated: "
                     f"{report['replicated'][:3]}")
  return report
