"""The Partitioner: one object for a mesh and its logical axis rules."""
import functools

import gin
import jax
import jax.numpy as jnp
import numpy as np
import pytest
from jax.sharding import PartitionSpec as P

from pinchjax import parallel
from pinchjax.model import sharding


def test_create_takes_the_gin_rules():
  mesh = parallel.make_mesh({"data": 4, "tensor": 2})
  assert parallel.Partitioner.create(mesh).rules == sharding.logical_axis_rules()
  with gin.unlock_config():
    gin.bind_parameter("logical_axis_rules.rules", [("batch", "tensor"), ("embed", None)])
  try:
    assert parallel.Partitioner.create(mesh).rules == (("batch", ("tensor",)), ("embed", ()))
  finally:
    gin.clear_config()


def test_equal_partitioners_share_one_trace():
  """A static jit argument: the same mesh and rules reuse the compiled program."""
  mesh = parallel.make_mesh({"data": 8})
  traces = []

  @functools.partial(jax.jit, static_argnames="partitioner")
  def double(x, *, partitioner):
    traces.append(partitioner)
    return 2 * x

  for _ in range(2):
    double(jnp.ones(8), partitioner=parallel.Partitioner.create(mesh))
  assert len(traces) == 1
  double(jnp.ones(8), partitioner=parallel.Partitioner.create(parallel.make_mesh({"tensor": 8})))
  assert len(traces) == 2


def test_place_and_activate_follow_the_rules():
  partitioner = parallel.Partitioner.create(parallel.make_mesh({"data": 2, "tensor": 4}))
  x = partitioner.place(np.arange(32.0).reshape(4, 8), ("batch", "act_mlp"))
  assert x.sharding.spec == P(("data", "fsdp"), "tensor")  # fsdp has size 1 here
  assert x.sharding.shard_shape(x.shape) == (2, 2)
  # Inside `activate`, model code's constraints apply; outside they are the identity.
  constrained = jax.jit(lambda a: sharding.constrain(a, ("batch", None)))
  with partitioner.activate():
    inside = constrained(jnp.ones((4, 8)))
  assert inside.sharding.shard_shape(inside.shape) == (2, 8)  # rows split over data
  outside = constrained(jnp.ones((4, 8)))
  assert outside.sharding.shard_shape(outside.shape) == (4, 8)
  with pytest.raises(ValueError, match="logical axis 'nope' has no rule"):
    partitioner.sharding(("nope",))
