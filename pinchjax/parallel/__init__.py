"""Meshes, the partitioner and sharded model state.

The rules and the `Partitioner` live in pinchjax.model.sharding (model code names the
logical axes); they are re-exported here with the mesh helpers. `sharded_init`,
`sharding_report`, `logical_axes` and `abstract_model` load pinchjax.parallel.partition (and
the model) on first use, which keeps `import pinchjax.parallel` cheap.
"""
from pinchjax.model.sharding import (DEFAULT_RULES, Partitioner, Rules, check_rules, constrain,
                                     logical_axis_rules, partition_spec, use_mesh)
from pinchjax.parallel.mesh import make_mesh

_LAZY = ("sharded_init", "sharding_report", "logical_axes", "abstract_model")


def __getattr__(name: str):
  if name in _LAZY:
    from pinchjax.parallel import partition
    return getattr(partition, name)
  raise AttributeError(f"module 'pinchjax.parallel' has no attribute {name!r}")
