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

from pinchjax.model import lora
from pinchjax.model.attention import Attention
from pinchjax.model.config import ModelConfig
from pinchjax.model.kv_cache import KVCache, LayerCache
from pinchjax.model.layers import MLP, RMSNorm, param
from pinchjax.model.sharding import constrain

_REMAT_POLICIES = {
    "full": jax.checkpoint_policies.nothing_saveable,
    "dots": jax.checkpoint_policies.dots_with_no_batch_dims_saveable,
}


class Block(nnx.Module):
  """Pre-norm decoder block; Gemma's sandwich variant also norms each branch's output."""

  def __init__(self, cfg: ModelConfig, *, rngs: nnx.Rngs):
    self.sandwich = cfg.sandwich_norm
    self.attn_norm = RMSNorm(cfg.d_model, "embed", cfg, rngs=rngs)
    self.attn = Attention(cfg, rngs=rngs)
    self.mlp_norm = RMSNorm(cfg.d_model, "embed", cfg, rngs=rngs)
    self.mlp = MLP(cfg, rngs=rngs)
    if self.sandwich:
      self.post_attn_norm = RMSNorm(cfg.d_model, "embed", cfg, rngs=rngs)
      self.post_mlp_norm = RMSNorm(cfg.d_model, "embed", cfg, rngs=rngs)

  def __call__(self, x: jax.Array, positions: jax.Array, segment_ids: jax.Array | None,
               cache: LayerCache | None, local: bool | jax.Array
               ) -> tuple[jax.Array, LayerCache | None]:
    h, cache = self.attn(self.attn_norm(x), positions, segment_ids, cache, local)
    if self.sandwich:
      h = self.post_attn_norm(h)
    x = constrain(x + h, ("batch", "length", "act_embed"))
    h = self.mlp(self.mlp_norm(x))
    if self.sandwich:
      h = self.post_mlp_norm(h)
    return constrain(x + h, ("batch", "length", "act_embed")), cache


# Stacked layers get a leading "layers" axis in their logical axes.
_LAYERS_METADATA = {nnx.PARTITION_NAME: "layers", "logical_axes": "layers"}


def _stacked_blocks(cfg: ModelConfig, rngs: nnx.Rngs) -> Block:
  """One Block whose parameters have a leading [num_layers] axis (for scan_layers)."""
  @nnx.split_rngs(splits=cfg.num_layers)
  @nnx.vmap(in_axes=0, out_axes=0, transform_metadata=_LAYERS_METADATA)
  def make(rngs: nnx.Rngs) -> Block:
    return Block(cfg, rngs=rngs)
  return make(rngs)


class Transformer(nnx.Module):
  """Decoder-only transformer. Parameters carry logical axes as `logical_axes` metadata:
  embed [vocab, embed]; per layer q [embed, heads, head_dim], k/v [embed, kv_heads,
  head_dim], o [heads, head_dim, embed], gate/up [embed, mlp], down [mlp, embed], norms
  [embed] or [head_dim]; lm_head [embed, vocab] when embeddings are not tied.

  `layers` is a list of Blocks, or with cfg.scan_layers one Block whose parameters are
  stacked on a leading `layers` axis: the forward pass is then a `scan` (one layer compiled
  instead of num_layers), and cached decoding indexes the stack layer by layer.
  """

  def __init__(self, cfg: ModelConfig, *, rngs: nnx.Rngs):
    self.cfg = cfg
    pd = cfg.jnp_param_dtype
    self.embed = param(rngs, jax.nn.initializers.normal(1.0 / math.sqrt(cfg.d_model)),
                       (cfg.vocab_size, cfg.d_model), ("vocab", "embed"), pd)
    if cfg.scan_layers:
      self.layers = _stacked_blocks(cfg, rngs)
    else:
      self.layers = nnx.List([Block(cfg, rngs=rngs) for _ in range(cfg.num_layers)])
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
    if cfg.scan_layers and cache is None:
      x = self._scan_layers(x, positions, segment_ids)
    else:
      x, cache = self._unrolled_layers(x, positions, segment_ids, cache)
    x = self.final_norm(x)
    out = table.T if cfg.tie_embeddings else self.lm_head[...]
    logits = jnp.einsum("bld,dv->blv", x, out.astype(dt), preferred_element_type=jnp.float32)
    if cfg.final_logit_softcap is not None:
      logits = jnp.tanh(logits / cfg.final_logit_softcap) * cfg.final_logit_softcap
    return constrain(logits, ("batch", "length", "act_vocab")), cache

  def _remat(self, fn):
    if self.cfg.remat_policy == "none":
      return fn
    return nnx.remat(fn, policy=_REMAT_POLICIES[self.cfg.remat_policy])

  def _scan_layers(self, x: jax.Array, positions: jax.Array,
                   segment_ids: jax.Array | None) -> jax.Array:
    local = jnp.asarray([self.cfg.layer_kind(i) == "local" for i in range(self.cfg.num_layers)])

    def body(block: Block, x: jax.Array, local: jax.Array, index: jax.Array) -> jax.Array:
      with lora.layer_key(index):
        return block(x, positions, segment_ids, None, local)[0]

    scan = nnx.scan(self._remat(body), in_axes=(0, nnx.Carry, 0, 0), out_axes=nnx.Carry,
                    transform_metadata=_LAYERS_METADATA)
    return scan(self.layers, x, local, jnp.arange(self.cfg.num_layers))

  def _unrolled_layers(self, x: jax.Array, positions: jax.Array,
                       segment_ids: jax.Array | None, cache: KVCache | None
                       ) -> tuple[jax.Array, KVCache | None]:
    if self.cfg.scan_layers:
      graphdef, stacked = nnx.split(self.layers)
      blocks = [nnx.merge(graphdef, jax.tree.map(lambda a, i=i: a[i], stacked))
                for i in range(self.cfg.num_layers)]
    else:
      blocks = list(self.layers)
    new_layers = []
    for i, block in enumerate(blocks):
      local = self.cfg.layer_kind(i) == "local"
      run = self._remat(lambda blk, x, c, local=local: blk(x, positions, segment_ids, c, local))
      with lora.layer_key(i):
        x, layer_cache = run(block, x, None if cache is None else cache.layers[i])
      new_layers.append(layer_cache)
    return x, None if cache is None else KVCache(tuple(new_layers))


def init_model(cfg: ModelConfig, seed: int = 0) -> Transformer:
  """A Transformer on the default device, initialised by one jitted computation: the values
  of eager `Transformer(cfg, rngs=nnx.Rngs(seed))` (up to float rounding), much faster.
  For a mesh, use pinchjax.parallel.sharded_init."""
  return nnx.jit(lambda: Transformer(cfg, rngs=nnx.Rngs(seed)))()
