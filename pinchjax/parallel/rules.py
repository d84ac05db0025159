"""Logical axis names -> mesh axes.

Model code names the axes of every parameter and main activation with logical names
(`embed`, `mlp`, `heads`, ...); a rule list, configured in gin, maps each name to zero or more
mesh axes (`data`, `fsdp`, `tensor`). Parameters and activations use different names for the
model width (`embed` vs `act_embed`) so that FSDP can shard weights over `fsdp` while the
activations' batch dimension uses the same mesh axis.

Rules are strict, unlike Flax's: a logical name with no rule is an error (a typo would
otherwise silently replicate), and two axes of one array that land on the same mesh axis are
an error (`check_rules`) instead of one of them being dropped.
"""
from __future__ import annotations

import contextlib
import contextvars
from typing import Iterator, Mapping, Sequence

import gin
import jax
from jax.sharding import Mesh, NamedSharding, PartitionSpec

# A logical axis maps to a mesh axis, a tuple of them (sharded over their product), or None.
MeshAxes = str | tuple[str, ...] | None
Rules = tuple[tuple[str, tuple[str, ...]], ...]
LogicalAxes = tuple[str | None, ...]

DEFAULT_RULES: tuple[tuple[str, MeshAxes], ...] = (
    # parameters
    ("vocab", "tensor"),
    ("embed", "fsdp"),
    ("mlp", "tensor"),
    ("heads", "tensor"),
    ("kv_heads", "tensor"),
    ("head_dim", None),
    ("layers", None),  # the stacked axis of scan_layers
    # activations
    ("batch", ("data", "fsdp")),
    ("length", None),
    ("act_embed", None),
    ("act_mlp", "tensor"),
    ("act_heads", "tensor"),
    ("act_kv_heads", "tensor"),
    ("act_vocab", "tensor"),
    # decode-time KV cache
    ("cache_batch", ("data", "fsdp")),
    ("cache_length", None),
    ("cache_kv_heads", "tensor"),
)


@gin.configurable
def logical_axis_rules(
    rules: Sequence[tuple[str, MeshAxes]] = DEFAULT_RULES) -> Rules:
  """The rule list in normal form: (logical name, tuple of mesh axes), one per name."""
  out: dict[str, tuple[str, ...]] = {}
  for name, axes in rules:
    if name in out:
      raise ValueError(f"logical axis {name!r} has two rules")
    out[name] = () if axes is None else (axes,) if isinstance(axes, str) else tuple(axes)
  return tuple(out.items())


def mesh_axes_of(axes: LogicalAxes, rules: Rules,
                 what: str = "array") -> tuple[tuple[str, ...], ...]:
  """Mesh axes of each dimension; raises on unknown names and on collisions."""
  table = dict(rules)
  out, used = [], {}
  for name in axes:
    if name is None:
      out.append(())
      continue
    if name not in table:
      raise ValueError(f"{what}: logical axis {name!r} has no rule; known: {sorted(table)}")
    for mesh_axis in table[name]:
      if mesh_axis in used:
        raise ValueError(f"{what}: logical axes {used[mesh_axis]!r} and {name!r} both map to "
                         f"mesh axis {mesh_axis!r} (axes {axes})")
      used[mesh_axis] = name
    out.append(table[name])
  return tuple(out)


def check_rules(rules: Rules, logical_axes: Mapping[str, LogicalAxes]) -> None:
  """Raises ValueError if any array's logical axes collide on a mesh axis under `rules`.

  Args:
    rules: from `logical_axis_rules`.
    logical_axes: array name -> its logical axes (e.g. from `param_logical_axes(model)`).
  """
  for what, axes in logical_axes.items():
    mesh_axes_of(axes, rules, what)


def partition_spec(axes: LogicalAxes, rules: Rules, shape: Sequence[int] | None = None,
                   mesh: Mesh | None = None, what: str = "array") -> PartitionSpec:
  """PartitionSpec for logical axes. With shape and mesh, a dimension that the mesh axes do
  not divide stays replicated (e.g. 1 KV head over 4 tensor devices)."""
  dims = []
  for i, mesh_axes in enumerate(mesh_axes_of(axes, rules, what)):
    if shape is not None and mesh is not None:
      size = 1
      for a in mesh_axes:
        size *= mesh.shape[a]
      if shape[i] % size:
        mesh_axes = ()
    dims.append(None if not mesh_axes else mesh_axes[0] if len(mesh_axes) == 1 else mesh_axes)
  return PartitionSpec(*dims)


def named_sharding(mesh: Mesh, rules: Rules, axes: LogicalAxes,
                   shape: Sequence[int] | None = None, what: str = "array") -> NamedSharding:
  return NamedSharding(mesh, partition_spec(axes, rules, shape, mesh, what))


_ACTIVE: contextvars.ContextVar[tuple[Mesh, Rules] | None] = contextvars.ContextVar(
    "pinchjax_sharding", default=None)


@contextlib.contextmanager
def _constraints(active: tuple[Mesh, Rules] | None) -> Iterator[None]:
  token = _ACTIVE.set(active)
  try:
    yield
  finally:
    _ACTIVE.reset(token)


@contextlib.contextmanager
def use_mesh(mesh: Mesh, rules: Rules) -> Iterator[None]:
  """Activates `mesh` (jax.set_mesh) and `rules` for the activation constraints that model
  code places with `constrain`. Trace (jit) the model inside this context."""
  with _constraints((mesh, rules)), jax.set_mesh(mesh):
    yield


def without_constraints() -> contextlib.AbstractContextManager[None]:
  """Turns `constrain` into the identity, for model code traced per device (shard_map)."""
  return _constraints(None)


def constrain(x: jax.Array, axes: LogicalAxes) -> jax.Array:
  """Sharding constraint by logical axes; the identity outside `use_mesh`."""
  active = _ACTIVE.get()
  if active is None:
    return x
  mesh, rules = active
  return jax.lax.with_sharding_constraint(x, named_sharding(mesh, rules, axes, x.shape))
