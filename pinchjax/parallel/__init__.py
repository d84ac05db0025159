"""Meshes, logical axis rules and sharded state.

`make_mesh` and the rules are imported eagerly; `sharded_init`, `state_shardings` and
`sharding_report` load pinchjax.parallel.partition (and the model) on first use, which keeps
model code free to import the rules.
"""
from pinchjax.parallel.mesh import make_mesh
from pinchjax.parallel.rules import (DEFAULT_RULES, Rules, check_rules, constrain,
                                     logical_axis_rules, partition_spec, use_mesh)

_LAZY = ("sharded_init", "state_shardings", "sharding_report", "logical_axes",
         "abstract_model")


def __getattr__(name: str):
  if name in _LAZY:
    from pinchjax.parallel import partition
    return getattr(partition, name)
  raise AttributeError(f"module 'pinchjax.parallel' has no attribute {name!r}")
