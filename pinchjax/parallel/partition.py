"""Sharded model state: logical axes -> shardings -> jitted init; the sharding report.

State is created abstractly first (`nnx.eval_shape`), its shardings are derived from the
parameters' logical axes, and only then is it materialised, by `jax.jit(init,
out_shardings=...)`, so no device ever holds an unsharded copy. Checkpoint restores and the
Hugging Face loader target the same abstract, sharded state.
"""
from __future__ import annotations

import logging
from typing import Any

import jax
import numpy as np
from flax import nnx
from jax.sharding import Mesh, NamedSharding

from pinchjax.model.config import ModelConfig
from pinchjax.model.transformer import Transformer
from pinchjax.parallel import rules as rules_lib

log = logging.getLogger(__name__)


def _is_var(x: Any) -> bool:
  return isinstance(x, nnx.Variable)


def _path_name(path: tuple[Any, ...]) -> str:
  return ".".join(str(getattr(k, "key", k)) for k in path)


def logical_axes(state: nnx.State) -> dict[str, rules_lib.LogicalAxes]:
  """Dotted parameter name -> logical axes (each Variable's `logical_axes` metadata)."""
  out = {}
  for path, var in nnx.to_flat_state(state):
    axes = var.get_metadata().get("logical_axes")
    if axes is None:
      raise ValueError(f"parameter {_path_name(path)} has no logical axes")
    out[_path_name(path)] = tuple(axes)
  return out


def state_shardings(state: nnx.State, mesh: Mesh, rules: rules_lib.Rules) -> nnx.State:
  """A State of the same structure whose Variables hold NamedShardings.

  Raises ValueError (naming the parameter) if the rules make two axes of one parameter
  share a mesh axis or a logical axis has no rule.
  """
  def one(path: tuple[Any, ...], var: nnx.Variable) -> nnx.Variable:
    axes, name = tuple(var.get_metadata().get("logical_axes")), _path_name(path)
    sharding = rules_lib.named_sharding(mesh, rules, axes, var.shape, name)
    wanted = rules_lib.partition_spec(axes, rules, what=name)
    if sharding.spec != wanted:
      log.warning("%s %s: mesh axes do not divide the shape; %s instead of %s", name,
                  var.shape, sharding.spec, wanted)
    return var.replace(sharding)
  return jax.tree.map_with_path(one, state, is_leaf=_is_var)


def abstract_model(cfg: ModelConfig, seed: int = 0) -> tuple[nnx.GraphDef, nnx.State]:
  """(graphdef, state of ShapeDtypeStructs) without allocating any parameter."""
  model = nnx.eval_shape(lambda: Transformer(cfg, rngs=nnx.Rngs(seed)))
  return nnx.split(model)


def sharded_init(cfg: ModelConfig, mesh: Mesh, rules: rules_lib.Rules | None = None,
                 seed: int = 0) -> tuple[Transformer, nnx.State]:
  """A Transformer whose parameters are created directly in their shardings.

  Args:
    cfg: the architecture.
    mesh: from `make_mesh`.
    rules: from `logical_axis_rules` (default: the gin-configured rules).
    seed: parameter init seed; the values do not depend on the mesh.
  Returns:
    (model, shardings): shardings is an nnx.State mirroring `nnx.state(model)` whose
    Variables hold NamedShardings, usable as jit in/out_shardings for the parameters.
  """
  rules = rules if rules is not None else rules_lib.logical_axis_rules()
  graphdef, abstract = abstract_model(cfg, seed)
  shardings = state_shardings(abstract, mesh, rules)

  def init() -> nnx.State:
    return nnx.state(Transformer(cfg, rngs=nnx.Rngs(seed)))

  state = jax.jit(init, out_shardings=shardings)()
  return nnx.merge(graphdef, state), shardings


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
      replicated.append((nbytes, _path_name(path)))
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
