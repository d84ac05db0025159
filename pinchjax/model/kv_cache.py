"""The decode-time key/value cache: a pytree of per-layer buffers.

Global-attention layers keep a buffer of `max_len` slots and write the token at position p
into slot p. Sliding-window layers keep a ring of min(window, max_len) slots and write
position p into slot p % ring; older entries fall out of the window anyway. Every slot
records the position it holds (-1: empty), and attention masks by those positions, so rows
of a batch may sit at different positions (ragged prefill and decode).
"""
from __future__ import annotations

import dataclasses

import jax
import jax.numpy as jnp

from pinchjax.model.config import ModelConfig
from pinchjax.model.sharding import Partitioner

KV_AXES = ("cache_batch", "cache_kv_heads", "cache_length", "head_dim")
POS_AXES = ("cache_batch", "cache_length")


@jax.tree_util.register_dataclass
@dataclasses.dataclass(frozen=True)
class LayerCache:
  """One layer's buffers: k, v [batch, kv_heads, slots, head_dim]; pos [batch, slots] int32.

  Heads come before slots so that attention reads each head's keys as one contiguous
  [slots, head_dim] matrix, without transposing the whole buffer every step."""
  k: jax.Array
  v: jax.Array
  pos: jax.Array

  @property
  def num_slots(self) -> int:
    return self.k.shape[2]


@jax.tree_util.register_dataclass
@dataclasses.dataclass(frozen=True)
class KVCache:
  """Per-layer caches, in layer order. Logical axes: `KV_AXES` for k and v, `POS_AXES` for
  pos (see `shardings`)."""
  layers: tuple[LayerCache, ...]

  def shardings(self, partitioner: Partitioner) -> "KVCache":
    """A KVCache of NamedShardings (for jit in/out_shardings or device_put)."""
    def layer(c: LayerCache) -> LayerCache:
      kv = partitioner.sharding(KV_AXES, c.k.shape, "kv_cache.k")
      pos = partitioner.sharding(POS_AXES, c.pos.shape, "kv_cache.pos")
      return LayerCache(kv, kv, pos)
    return KVCache(tuple(layer(c) for c in self.layers))


def cache_slots(cfg: ModelConfig, layer: int, max_len: int) -> int:
  """Slots of layer `layer`'s buffer: max_len for global layers, the ring for local ones."""
  if cfg.layer_kind(layer) == "local":
    return min(cfg.sliding_window, max_len)
  return max_len


def init_cache(cfg: ModelConfig, batch_size: int, max_len: int,
               dtype: jnp.dtype | str | None = None,
               partitioner: Partitioner | None = None) -> KVCache:
  """An empty cache for positions 0 .. max_len - 1.

  Args:
    cfg: the model.
    batch_size: rows.
    max_len: one more than the largest position that will be written; tokens at positions
      >= max_len are not stored (the decode loop must stop before).
    dtype: of k and v (default cfg.dtype).
    partitioner: when given, the buffers are created sharded by `KV_AXES` / `POS_AXES`.
  """
  dtype = jnp.dtype(dtype or cfg.dtype)

  def make() -> KVCache:
    layers = []
    for i in range(cfg.num_layers):
      slots = cache_slots(cfg, i, max_len)
      kv = jnp.zeros((batch_size, cfg.num_kv_heads, slots, cfg.head_dim), dtype)
      layers.append(LayerCache(kv, kv, jnp.full((batch_size, slots), -1, jnp.int32)))
    return KVCache(tuple(layers))

  if partitioner is None:
    return make()
  shardings = jax.eval_shape(make).shardings(partitioner)
  return jax.jit(make, out_shardings=shardings)()
