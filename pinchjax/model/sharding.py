"""Logical axis names -> mesh axes, and the partitioner that owns a mesh and its rules.

Model code names the axes of every parameter and main activation with logical names
(`embed`, `mlp`, `heads`, ...); a rule list, configured in gin, maps each name to zero or more
mesh axes (`data`, `fsdp`, `tensor`). Parameters and activations use different names for the
model width (`embed` vs `act_embed`) so that FSDP can shard weights over `fsdp` while the
activations' batch dimension uses the same mesh axis.

Rules are strict, unlike Flax's: a logical name with no rule is an error (a typo would
otherwise silently replicate), and two axes of one array that land on the same mesh axis are
an error (`check_rules`) instead of one of them being dropped.

`Partitioner` (after T5X's PjitPartitioner) holds a mesh and the rules placed on it; it is
what travels through loading, initialisation, training and decoding instead of a
(mesh, rules) pair. The module sits in `model` because model code names the logical axes
(`constrain`); it imports nothing else of pinchjax.
"""
from __future__ import annotations

import contextlib
import contextvars
import dataclasses
import logging
from typing import Any, Callable, Iterator, Mapping, Sequence

import gin
import jax
from flax import nnx
from jax.sharding import Mesh, NamedSharding, PartitionSpec

log = logging.getLogger(__name__)

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


def path_name(path: tuple[Any, ...]) -> str:
  """The dotted name of an nnx state path, e.g. `layers.0.attn.q`."""
  return ".".join(str(getattr(k, "key", k)) for k in path)


@dataclasses.dataclass(frozen=True)
class Partitioner:
  """A mesh and the logical axis rules that place arrays on it.

  Hashable, so a jitted function can take it as a static argument (one trace per mesh).
  Build it with `Partitioner.create(mesh)` for the gin-configured rules.
  """
  mesh: Mesh
  rules: Rules

  @classmethod
  def create(cls, mesh: Mesh, rules: Rules | None = None) -> "Partitioner":
    return cls(mesh, rules if rules is not None else logical_axis_rules())

  def sharding(self, axes: LogicalAxes, shape: Sequence[int] | None = None,
               what: str = "array") -> NamedSharding:
    """The NamedSharding of an array with logical `axes` (see `named_sharding`)."""
    return named_sharding(self.mesh, self.rules, axes, shape, what)

  def shardings(self, abstract: nnx.State) -> nnx.State:
    """A State of the same structure whose Variables hold NamedShardings, from each
    Variable's `logical_axes` metadata.

    Raises ValueError (naming the parameter) if the rules make two axes of one parameter
    share a mesh axis or a logical axis has no rule.
    """
    def one(path: tuple[Any, ...], var: nnx.Variable) -> nnx.Variable:
      axes, name = tuple(var.get_metadata().get("logical_axes")), path_name(path)
      sharding = self.sharding(axes, var.shape, name)
      wanted = partition_spec(axes, self.rules, what=name)
      if sharding.spec != wanted:
        log.warning("%s %s: mesh axes do not divide the shape; %s instead of %s", name,
                    var.shape, sharding.spec, wanted)
      return var.replace(sharding)
    return jax.tree.map_with_path(one, abstract,
                                  is_leaf=lambda x: isinstance(x, nnx.Variable))

  def init(self, make: Callable[[], nnx.Module]) -> tuple[nnx.Module, nnx.State]:
    """`make()`'s module with its parameters created directly in their shardings: the state
    is built abstractly first, its shardings derived, and only then materialised by
    `jax.jit(..., out_shardings=...)`, so no device ever holds an unsharded copy.

    Returns (module, shardings): shardings mirrors `nnx.state(module)` with NamedShardings.
    """
    graphdef, abstract = nnx.split(nnx.eval_shape(make))
    shardings = self.shardings(abstract)
    state = jax.jit(lambda: nnx.state(make()), out_shardings=shardings)()
    return nnx.merge(graphdef, state), shardings

  def place(self, x: Any, axes: LogicalAxes) -> jax.Array:
    """`x` put on the mesh by its logical `axes`."""
    return jax.device_put(x, self.sharding(axes, x.shape))

  def activate(self) -> contextlib.AbstractContextManager[None]:
    """The mesh and rules active for `constrain` (see `use_mesh`): trace the model in it."""
    return use_mesh(self.mesh, self.rules)
