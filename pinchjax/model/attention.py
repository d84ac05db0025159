"""Grouped-query self-attention with RoPE, packing masks, sliding windows and a KV cache.

Masks are built from positions, never from array indices: a query at position p sees a key
at position s when s <= p, p - s < window (local layers), both tokens are real (segment id
!= 0, cache slot filled) and, without a cache, both are in the same segment. This one rule
covers packed rows, left- or right-padded rows and cached decoding alike.
"""
from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
from flax import nnx

from pinchjax.model import lora
from pinchjax.model.config import ModelConfig
from pinchjax.model.kv_cache import LayerCache
from pinchjax.model.layers import RMSNorm, apply_rope, fan_in_init, param, rope_inv_freq
from pinchjax.model.sharding import constrain

# Finite, so a query with no visible key (a pad) gets a uniform average, not NaN.
MASK_VALUE = -0.7 * float(np.finfo(np.float32).max)


def attend(q: jax.Array, k: jax.Array, v: jax.Array, q_pos: jax.Array, k_pos: jax.Array,
           *, scale: float, window: int | jax.Array | None, softcap: float | None,
           q_seg: jax.Array | None = None, k_seg: jax.Array | None = None) -> jax.Array:
  """Masked softmax attention.

  Args:
    q: [B, L, H, D]; k, v: [B, K, S, D] (the cache's layout) with H a multiple of K.
    q_pos: [B, L]; k_pos: [B, S], -1 for keys that must never be seen.
    scale: multiplies the scores.
    window: sliding window (None: global); may be traced.
    softcap: tanh soft-cap of the scores (None: off).
    q_seg, k_seg: segment ids [B, L], [B, S]; if given, queries only see their segment.
  Returns:
    [B, L, H, D] in q's dtype.
  """
  b, l, h, d = q.shape
  kv_heads = k.shape[1]
  g = h // kv_heads
  q = q.reshape(b, l, kv_heads, g, d)
  # One query per row (a decode step) on a CPU: one matrix-vector product per query head of
  # a group instead of a [g, d] x [d, S] product per (row, kv head). XLA:CPU runs the batched
  # matrix-vector products several times faster than the tiny batched matrix products (2.4x
  # for this function at 32 rows, 4 kv heads, g = 2, 96 slots), though each reads the keys
  # and values g times; accelerators, bound by reading the cache, keep the grouped form.
  per_head = l == 1 and g > 1 and jax.default_backend() == "cpu"
  if per_head:
    scores = jnp.stack([jnp.einsum("bkd,bksd->bks", q[:, 0, :, j], k,
                                   preferred_element_type=jnp.float32) for j in range(g)],
                       axis=2)[:, :, :, None] * scale
  else:
    scores = jnp.einsum("blkgd,bksd->bkgls", q, k, preferred_element_type=jnp.float32) * scale
  if softcap is not None:
    scores = jnp.tanh(scores / softcap) * softcap
  qp, kp = q_pos[:, :, None], k_pos[:, None, :]
  mask = (kp >= 0) & (kp <= qp)
  if window is not None:
    mask &= qp - kp < window
  if q_seg is not None:
    mask &= q_seg[:, :, None] == k_seg[:, None, :]
  scores = jnp.where(mask[:, None, None], scores, MASK_VALUE)
  probs = jax.nn.softmax(scores, axis=-1).astype(v.dtype)
  if per_head:
    out = jnp.stack([jnp.einsum("bks,bksd->bkd", probs[:, :, j, 0], v) for j in range(g)],
                    axis=2)[:, :, :, None]
  else:
    out = jnp.einsum("bkgls,bksd->bkgld", probs, v)
  return out.transpose(0, 3, 1, 2, 4).reshape(b, l, h, d)


def _write(cache: LayerCache, k: jax.Array, v: jax.Array, positions: jax.Array,
           slots: jax.Array) -> LayerCache:
  """Scatters tokens (k, v [B, L, K, D]) into their slots; slots == num_slots means "do not
  store". Vmapped over rows: a scatter with a batch dimension, which a batch-sharded cache
  partitions row by row."""
  def put_kv(buf, x):
    return jax.vmap(lambda b, u, s: b.at[:, s].set(u.swapaxes(0, 1).astype(b.dtype),
                                                   mode="drop"))(buf, x, slots)
  pos = jax.vmap(lambda b, u, s: b.at[s].set(u, mode="drop"))(
      cache.pos, positions.astype(jnp.int32), slots)
  return LayerCache(k=put_kv(cache.k, k), v=put_kv(cache.v, v), pos=pos)


def _ring_slots(positions: jax.Array, valid: jax.Array, ring: int) -> jax.Array:
  """Ring slots of the tokens to store: when several tokens of a row fall on one slot, only
  the one with the largest position is kept (scatter order is undefined otherwise)."""
  slots = positions % ring
  same = (slots[:, :, None] == slots[:, None, :]) & valid[:, None, :]
  newer = same & (positions[:, None, :] > positions[:, :, None])
  keep = valid & ~jnp.any(newer, axis=-1)
  return jnp.where(keep, slots, ring)


def _rope_and_window(cfg: ModelConfig, local: bool | jax.Array
                     ) -> tuple[np.ndarray | jax.Array, int | jax.Array | None]:
  """RoPE inverse frequencies and sliding window of a layer. `local` is a Python bool when
  the layer is known at trace time, or a traced bool inside a scan over mixed layers."""
  if isinstance(local, bool):
    kind = "local" if local else "global"
    return rope_inv_freq(cfg, kind), cfg.sliding_window if local else None
  inv_freq = jnp.where(local, rope_inv_freq(cfg, "local"), rope_inv_freq(cfg, "global"))
  if cfg.sliding_window is None:
    return inv_freq, None
  return inv_freq, jnp.where(local, cfg.sliding_window, np.iinfo(np.int32).max)


class Attention(nnx.Module):
  """Self-attention of one layer; whether it is a sliding-window layer is a call argument,
  so that one set of stacked parameters can serve a scan over mixed layers."""

  def __init__(self, cfg: ModelConfig, *, rngs: nnx.Rngs):
    d, h, kv, hd, pd = cfg.d_model, cfg.num_heads, cfg.num_kv_heads, cfg.head_dim, \
        cfg.jnp_param_dtype
    self.cfg = cfg
    self.q = param(rngs, fan_in_init(d), (d, h, hd), ("embed", "heads", "head_dim"), pd)
    self.k = param(rngs, fan_in_init(d), (d, kv, hd), ("embed", "kv_heads", "head_dim"), pd)
    self.v = param(rngs, fan_in_init(d), (d, kv, hd), ("embed", "kv_heads", "head_dim"), pd)
    self.o = param(rngs, fan_in_init(h * hd), (h, hd, d), ("heads", "head_dim", "embed"), pd)
    self.q_lora = lora.maybe(cfg, "q_proj", (d,), ("embed",), (h, hd), ("heads", "head_dim"),
                             rngs)
    self.k_lora = lora.maybe(cfg, "k_proj", (d,), ("embed",), (kv, hd),
                             ("kv_heads", "head_dim"), rngs)
    self.v_lora = lora.maybe(cfg, "v_proj", (d,), ("embed",), (kv, hd),
                             ("kv_heads", "head_dim"), rngs)
    self.o_lora = lora.maybe(cfg, "o_proj", (h, hd), ("heads", "head_dim"), (d,), ("embed",),
                             rngs)
    zeros = jax.nn.initializers.zeros
    if cfg.qkv_bias:
      self.q_bias = param(rngs, zeros, (h, hd), ("heads", "head_dim"), pd)
      self.k_bias = param(rngs, zeros, (kv, hd), ("kv_heads", "head_dim"), pd)
      self.v_bias = param(rngs, zeros, (kv, hd), ("kv_heads", "head_dim"), pd)
    if cfg.out_bias:
      self.o_bias = param(rngs, zeros, (d,), ("embed",), pd)
    if cfg.qk_norm:
      self.q_norm = RMSNorm(hd, "head_dim", cfg, rngs=rngs)
      self.k_norm = RMSNorm(hd, "head_dim", cfg, rngs=rngs)

  def __call__(self, x: jax.Array, positions: jax.Array, segment_ids: jax.Array | None,
               cache: LayerCache | None, local: bool | jax.Array
               ) -> tuple[jax.Array, LayerCache | None]:
    cfg, dt = self.cfg, x.dtype
    if cache is not None and not isinstance(local, bool):
      raise ValueError("cached attention needs the layer kind at trace time")
    inv_freq, window = _rope_and_window(cfg, local)
    q = lora.add(self.q_lora, jnp.einsum("bld,dhk->blhk", x, self.q[...].astype(dt)), x)
    k = lora.add(self.k_lora, jnp.einsum("bld,dhk->blhk", x, self.k[...].astype(dt)), x)
    v = lora.add(self.v_lora, jnp.einsum("bld,dhk->blhk", x, self.v[...].astype(dt)), x)
    if cfg.qkv_bias:
      q = q + self.q_bias[...].astype(dt)
      k = k + self.k_bias[...].astype(dt)
      v = v + self.v_bias[...].astype(dt)
    if cfg.qk_norm:
      q, k = self.q_norm(q), self.k_norm(k)
    q = constrain(apply_rope(q, positions, inv_freq), ("batch", "length", "act_heads", "head_dim"))
    k = constrain(apply_rope(k, positions, inv_freq),
                  ("batch", "length", "act_kv_heads", "head_dim"))
    v = constrain(v, ("batch", "length", "act_kv_heads", "head_dim"))

    opts = dict(scale=(cfg.query_scale or cfg.head_dim) ** -0.5, window=window,
                softcap=cfg.attn_logit_softcap)
    valid = jnp.ones(positions.shape, bool) if segment_ids is None else segment_ids != 0
    key_pos = jnp.where(valid, positions, -1)
    if cache is None:
      out = attend(q, k.swapaxes(1, 2), v.swapaxes(1, 2), positions, key_pos, q_seg=segment_ids,
                   k_seg=segment_ids, **opts)
    elif window is None:
      # Slot = position: no two tokens share a slot, so write first, then read the buffer.
      cache = _write(cache, k, v, positions,
                     jnp.where(valid, positions, cache.num_slots))
      out = attend(q, cache.k.astype(dt), cache.v.astype(dt), positions, cache.pos, **opts)
    else:
      # A ring slot may be overwritten within this chunk, so attend over the old ring plus
      # the chunk, then store the newest token of each slot.
      out = attend(q, jnp.concatenate([cache.k.astype(dt), k.swapaxes(1, 2)], axis=2),
                   jnp.concatenate([cache.v.astype(dt), v.swapaxes(1, 2)], axis=2),
                   positions, jnp.concatenate([cache.pos, key_pos], axis=1), **opts)
      cache = _write(cache, k, v, positions, _ring_slots(positions, valid, cache.num_slots))
    out = constrain(out, ("batch", "length", "act_heads", "head_dim"))
    y = lora.add(self.o_lora, jnp.einsum("blhk,hkd->bld", out, self.o[...].astype(dt)), out)
    if cfg.out_bias:
      y = y + self.o_bias[...].astype(dt)
    return y, cache
