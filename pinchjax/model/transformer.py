"""The decoder-only transformer (Flax NNX) shared by Llama 3, Qwen 2.5, Gemma 3 and toy models.

Usage:

  model = init_model(cfg, seed=0)                               # or Transformer(cfg, rngs=...)
  logits, _ = model(tokens, positions, segment_ids)            # training / scoring
  cache = init_cache(cfg, batch, max_len)
  logits, cache = model(prompt, positions, segment_ids, cache)  # prefill
  logits, cache = model(next_tok[:, None], pos[:, None], cache=cache)  # one decode step

Padding and packing convention: `segment_ids` is 0 on padding and 1, 2, ... on the real
sequences of a row; `positions` count from 0 within each sequence. Without a cache, tokens
see only earlier tokens of their own segment, so packed rows give each sequence the logits
it would get alone. With a cache, a row holds one sequence: padding (segment 0) is never
written to the cache nor attended to, so prefill accepts right-padded rows (positions
0..n_b-1 then anything, segment ids 1..1 0..0) and left-padded ones (segment 0 first, then
positions 0..n_b-1); decoding continues each row at its own position.

Functional view for optax: `graphdef, params = nnx.split(model, nnx.Param)`, then inside a
jitted step `model = nnx.merge(graphdef, params)`; `params` is an nnx.State pytree whose
leaves are the arrays (see pinchjax.parallel.partition.sharded_init for its shardings).
"""
from __future__ import annotations

import math

import jax
import jax.numpy as jnp
from flax import nnx

from pinchjax.model.attention import Attention
from pinchjax.model.config import ModelConfig
from pinchjax.model.kv_cache import KVCache, LayerCache
from pinchjax.model.layers import MLP, RMSNorm, param
from pinchjax.parallel.rules import constrain

_REMAT_POLICIES = {
    "full": jax.checkpoint_policies.nothing_saveable,
    "dots": jax.checkpoint_policies.dots_with_no_batch_dims_saveable,
}


class Block(nnx.Module):
  """Pre-norm decoder block; Gemma's sandwich variant also norms each branch's output."""

  def __init__(self, cfg: ModelConfig, layer: int, *, rngs: nnx.Rngs):
    self.sandwich = cfg.sandwich_norm
    self.attn_norm = RMSNorm(cfg.d_model, "embed", cfg, rngs=rngs)
    self.attn = Attention(cfg, cfg.layer_kind(layer), rngs=rngs)
    self.mlp_norm = RMSNorm(cfg.d_model, "embed", cfg, rngs=rngs)
    self.mlp = MLP(cfg, rngs=rngs)
    if self.sandwich:
      self.post_attn_norm = RMSNorm(cfg.d_model, "embed", cfg, rngs=rngs)
      self.post_mlp_norm = RMSNorm(cfg.d_model, "embed", cfg, rngs=rngs)

  def __call__(self, x: jax.Array, positions: jax.Array, segment_ids: jax.Array | None,
               cache: LayerCache | None) -> tuple[jax.Array, LayerCache | None]:
    h, cache = self.attn(self.attn_norm(x), positions, segment_ids, cache)
    if self.sandwich:
      h = self.post_attn_norm(h)
    x = constrain(x + h, ("batch", "length", "act_embed"))
    h = self.mlp(self.mlp_norm(x))
    if self.sandwich:
      h = self.post_mlp_norm(h)
    return constrain(x + h, ("batch", "length", "act_embed")), cache


def _run_block(block: Block, x: jax.Array, positions: jax.Array,
               segment_ids: jax.Array | None,
               cache: LayerCache | None) -> tuple[jax.Array, LayerCache | None]:
  return block(x, positions, segment_ids, cache)


class Transformer(nnx.Module):
  """Decoder-only transformer. Parameters carry logical axes as `logical_axes` metadata:
  embed [vocab, embed]; per layer q [embed, heads, head_dim], k/v [embed, kv_heads,
  head_dim], o [heads, head_dim, embed], gate/up [embed, mlp], down [mlp, embed], norms
  [embed] or [head_dim]; lm_head [embed, vocab] when embeddings are not tied."""

  def __init__(self, cfg: ModelConfig, *, rngs: nnx.Rngs):
    self.cfg = cfg
    pd = cfg.jnp_param_dtype
    self.embed = param(rngs, jax.nn.initializers.normal(1.0 / math.sqrt(cfg.d_model)),
                       (cfg.vocab_size, cfg.d_model), ("vocab", "embed"), pd)
    self.layers = nnx.List([Block(cfg, i, rngs=rngs) for i in range(cfg.num_layers)])
    self.final_norm = RMSNorm(cfg.d_model, "embed", cfg, rngs=rngs)
    if not cfg.tie_embeddings:
      self.lm_head = param(rngs, jax.nn.initializers.normal(1.0 / math.sqrt(cfg.d_model)),
                           (cfg.d_model, cfg.vocab_size), ("embed", "vocab"), pd)

  def __call__(self, tokens: jax.Array, positions: jax.Array,
               segment_ids: jax.Array | None = None,
               cache: KVCache | None = None) -> tuple[jax.Array, KVCache | None]:
    """Logits for every token.

    Args:
      tokens: [B, L] int32 token ids.
      positions: [B, L] int32 positions within each sequence (RoPE and masks use them).
      segment_ids: [B, L] int32; 0 marks padding, equal non-zero ids mark one sequence.
        None: every token is real and a row is one sequence.
      cache: from `init_cache` or a previous call; the chunk's keys and values are stored
        at their positions and the chunk attends to everything stored before.
    Returns:
      (logits [B, L, vocab] float32, the updated cache or None).
    """
    cfg, dt = self.cfg, self.cfg.jnp_dtype
    table = self.embed[...]
    x = jnp.take(table, tokens, axis=0).astype(dt)
    if cfg.embed_scale:  # in the parameter dtype, as the reference rounds it
      x = x * jnp.asarray(math.sqrt(cfg.d_model), table.dtype).astype(dt)
    x = constrain(x, ("batch", "length", "act_embed"))
    run = _run_block
    if cfg.remat_policy != "none":
      run = nnx.remat(_run_block, policy=_REMAT_POLICIES[cfg.remat_policy])
    new_layers = []
    for i, block in enumerate(self.layers):
      x, layer_cache = run(block, x, positions, segment_ids,
                           None if cache is None else cache.layers[i])
      new_layers.append(layer_cache)
    x = self.final_norm(x)
    out = table.T if cfg.tie_embeddings else self.lm_head[...]
    logits = jnp.einsum("bld,dv->blv", x, out.astype(dt), preferred_element_type=jnp.float32)
    if cfg.final_logit_softcap is not None:
      logits = jnp.tanh(logits / cfg.final_logit_softcap) * cfg.final_logit_softcap
    logits = constrain(logits, ("batch", "length", "act_vocab"))
    return logits, None if cache is None else KVCache(tuple(new_layers))


def init_model(cfg: ModelConfig, seed: int = 0) -> Transformer:
  """A Transformer on the default device, initialised by one jitted computation: the values
  of eager `Transformer(cfg, rngs=nnx.Rngs(seed))` (up to float rounding), much faster.
  For a mesh, use pinchjax.parallel.sharded_init."""
  return nnx.jit(lambda: Transformer(cfg, rngs=nnx.Rngs(seed)))()
