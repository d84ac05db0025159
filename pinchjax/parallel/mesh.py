"""Device meshes with the axes `data`, `fsdp` and `tensor`.

Axis types are always passed explicitly: recent JAX makes `jax.make_mesh` default to
Explicit (sharding in types), while pinchjax's model code is written for Auto axes, where
parameter shardings plus the activation constraints of `rules.constrain` let XLA's
partitioner place the collectives.
"""
from __future__ import annotations

import math
from typing import Mapping, Sequence

import gin
import jax
from jax.sharding import AxisType, Mesh

MESH_AXES = ("data", "fsdp", "tensor")


@gin.configurable
def make_mesh(shape: Mapping[str, int] | None = None,
              devices: Sequence[jax.Device] | None = None) -> Mesh:
  """Builds a mesh over `devices` (default: all of them).

  Args:
    shape: mesh axis -> size, e.g. {"data": -1, "fsdp": 1, "tensor": 1}; at most one -1,
      which takes the devices the others leave. Axes must be among `data`, `fsdp`,
      `tensor`; missing ones get size 1. The product must equal the device count.
    devices: the devices to lay out (default jax.devices()).
  """
  shape = dict(shape or {"data": -1, "fsdp": 1, "tensor": 1})
  unknown = sorted(set(shape) - set(MESH_AXES))
  if unknown:
    raise ValueError(f"unknown mesh axes {unknown}; expected a subset of {MESH_AXES}")
  devices = list(jax.devices() if devices is None else devices)
  sizes = {a: int(shape.get(a, 1)) for a in MESH_AXES}
  fill = [a for a, s in sizes.items() if s == -1]
  if len(fill) > 1:
    raise ValueError(f"only one mesh axis may be -1, got {fill}")
  known = math.prod(s for s in sizes.values() if s != -1)
  if fill:
    if len(devices) % known:
      raise ValueError(f"mesh {shape}: {len(devices)} devices are not divisible by {known}")
    sizes[fill[0]] = len(devices) // known
  if math.prod(sizes.values()) != len(devices):
    raise ValueError(f"mesh {sizes} needs {math.prod(sizes.values())} devices, "
                     f"have {len(devices)}")
  return jax.make_mesh(tuple(sizes.values()), MESH_AXES,
                       axis_types=(AxisType.Auto,) * len(MESH_AXES), devices=devices)
