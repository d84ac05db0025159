"""`ModelConfig`: one dataclass for the decoders pinchjax runs (Llama 3, Qwen 2.5, Gemma 3, toy).

Every architectural switch the three families differ in is a field here, so the transformer
has no family-specific branches; `family` only tells chat templates and the Hugging Face
converter which dialect to speak. Gin binds the fields (`ModelConfig.d_model = 64`); real
models come from `pinchjax.model.hf_config.from_hf(checkpoint_dir)`.
"""
from __future__ import annotations

import dataclasses
from typing import Any

import gin
import jax.numpy as jnp

FAMILIES = ("llama", "qwen2", "gemma3", "toy")
ACTIVATIONS = ("silu", "gelu_tanh")  # SwiGLU / GeGLU gates
ROPE_SCALINGS = ("none", "linear", "llama3")
LAYER_KINDS = ("global", "local")
REMAT_POLICIES = ("none", "full", "dots")
# peft's `target_modules` names of the projections (pinchjax.model.lora adapts them).
LORA_TARGETS = ("q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj")


@gin.configurable
@dataclasses.dataclass(frozen=True)
class ModelConfig:
  """Architecture of a decoder-only transformer.

  Attributes:
    family: "llama", "qwen2", "gemma3" or "toy"; picks the chat template and HF dialect.
    vocab_size: rows of the embedding table.
    d_model: residual stream width.
    num_layers: decoder blocks.
    num_heads: query heads.
    num_kv_heads: key/value heads (GQA when < num_heads, MQA when 1).
    head_dim: width of one head (not necessarily d_model // num_heads, e.g. Gemma 3).
    mlp_dim: hidden width of the gated MLP.
    activation: gate activation, "silu" (SwiGLU) or "gelu_tanh" (GeGLU).
    norm_eps: RMSNorm epsilon.
    norm_plus_one: Gemma's RMSNorm scales by (1 + w), so w is stored zero-centred.
    sandwich_norm: Gemma's extra norms after attention and after the MLP.
    qk_norm: RMSNorm over head_dim on queries and keys (Gemma 3).
    qkv_bias: biases on the q/k/v projections (Qwen 2.5).
    out_bias: bias on the attention output projection.
    rope_theta: RoPE base of global layers.
    rope_scaling: "none", "linear" (positions / factor) or "llama3" (frequency bands).
    rope_factor: scaling factor for "linear" and "llama3".
    rope_low_freq_factor, rope_high_freq_factor, rope_original_max_len: Llama 3 bands.
    local_rope_theta: RoPE base of sliding-window layers, which are then never scaled (Gemma
      3); None: they use the global layers' RoPE, scaling included (Qwen 2).
    sliding_window: window of "local" layers: a query at p sees keys in (p - window, p].
    layer_pattern: kinds of the layers, "global" or "local", repeated cyclically over the
      layers (Gemma 3: five "local" then one "global").
    query_scale: attention scores are scaled by query_scale ** -0.5 (default head_dim;
      Gemma's query_pre_attn_scalar).
    attn_logit_softcap: tanh soft-cap on attention scores (None: off).
    final_logit_softcap: tanh soft-cap on output logits (None: off).
    embed_scale: multiply embeddings by sqrt(d_model) (Gemma).
    tie_embeddings: the output projection is the transposed embedding table.
    max_len: longest position the model was trained for (informational, from HF).
    dtype: activation dtype name ("float32", "bfloat16").
    param_dtype: parameter dtype name.
    remat_policy: "none", "full" (recompute each block) or "dots" (save matmul outputs).
    scan_layers: stack the layers' parameters on a leading `layers` axis and run them with
      `scan` (compile time independent of depth); the parameter layout differs, so a
      checkpoint is tied to this choice (HF import/export handles both).
    lora_rank: rank of LoRA adapters on the `lora_targets` projections (0: none); see
      pinchjax.model.lora. The base weights are the model's ordinary parameters.
    lora_alpha: the adapters' update is scaled by lora_alpha / lora_rank (peft's convention).
    lora_dropout: dropout on the adapters' input while training.
    lora_targets: adapted projections by peft's `target_modules` names (lora.TARGETS).
  """
  family: str = "toy"
  vocab_size: int = 256
  d_model: int = 64
  num_layers: int = 2
  num_heads: int = 4
  num_kv_heads: int = 2
  head_dim: int = 16
  mlp_dim: int = 128
  activation: str = "silu"
  norm_eps: float = 1e-6
  norm_plus_one: bool = False
  sandwich_norm: bool = False
  qk_norm: bool = False
  qkv_bias: bool = False
  out_bias: bool = False
  rope_theta: float = 10_000.0
  rope_scaling: str = "none"
  rope_factor: float = 1.0
  rope_low_freq_factor: float = 1.0
  rope_high_freq_factor: float = 4.0
  rope_original_max_len: int = 8192
  local_rope_theta: float | None = None
  sliding_window: int | None = None
  layer_pattern: tuple[str, ...] = ("global",)
  query_scale: float | None = None
  attn_logit_softcap: float | None = None
  final_logit_softcap: float | None = None
  embed_scale: bool = False
  tie_embeddings: bool = True
  max_len: int = 2048
  dtype: str = "float32"
  param_dtype: str = "float32"
  remat_policy: str = "none"
  scan_layers: bool = False
  lora_rank: int = 0
  lora_alpha: float = 16.0
  lora_dropout: float = 0.0
  lora_targets: tuple[str, ...] = LORA_TARGETS

  def __post_init__(self):
    object.__setattr__(self, "layer_pattern", tuple(self.layer_pattern))
    _check_choice("family", self.family, FAMILIES)
    _check_choice("activation", self.activation, ACTIVATIONS)
    _check_choice("rope_scaling", self.rope_scaling, ROPE_SCALINGS)
    _check_choice("remat_policy", self.remat_policy, REMAT_POLICIES)
    for kind in self.layer_pattern:
      _check_choice("layer_pattern entry", kind, LAYER_KINDS)
    if self.num_heads % self.num_kv_heads:
      raise ValueError(f"num_heads={self.num_heads} is not a multiple of "
                       f"num_kv_heads={self.num_kv_heads}")
    if self.head_dim % 2:
      raise ValueError(f"head_dim={self.head_dim} must be even for RoPE")
    if "local" in self.layer_pattern and not self.sliding_window:
      raise ValueError("layer_pattern has 'local' layers but sliding_window is not set")
    jnp.dtype(self.dtype), jnp.dtype(self.param_dtype)  # fail early on a bad name
    object.__setattr__(self, "lora_targets", tuple(self.lora_targets))
    for target in self.lora_targets:
      _check_choice("lora_targets entry", target, LORA_TARGETS)
    if self.lora_rank < 0 or not 0.0 <= self.lora_dropout < 1.0:
      raise ValueError(f"lora_rank={self.lora_rank} must be >= 0 and lora_dropout="
                       f"{self.lora_dropout} in [0, 1)")
    if self.lora_rank and not self.lora_targets:
      raise ValueError(f"lora_rank={self.lora_rank} but lora_targets is empty")

  def layer_kind(self, i: int) -> str:
    """"global" or "local" for layer i."""
    return self.layer_pattern[i % len(self.layer_pattern)]

  @property
  def jnp_dtype(self) -> jnp.dtype:
    return jnp.dtype(self.dtype)

  @property
  def jnp_param_dtype(self) -> jnp.dtype:
    return jnp.dtype(self.param_dtype)

  def replace(self, **changes: Any) -> "ModelConfig":
    return dataclasses.replace(self, **changes)

  def num_params(self) -> int:
    """Parameter count (embedding included once when tied)."""
    attn = self.d_model * self.head_dim * (2 * self.num_heads + 2 * self.num_kv_heads)
    if self.qkv_bias:
      attn += self.head_dim * (self.num_heads + 2 * self.num_kv_heads)
    if self.out_bias:
      attn += self.d_model
    if self.qk_norm:
      attn += 2 * self.head_dim
    norms = self.d_model * (4 if self.sandwich_norm else 2)
    block = attn + 3 * self.d_model * self.mlp_dim + norms
    embed = self.vocab_size * self.d_model * (1 if self.tie_embeddings else 2)
    return self.num_layers * block + embed + self.d_model


def _check_choice(name: str, value: str, choices: tuple[str, ...]) -> None:
  if value not in choices:
    raise ValueError(f"{name}={value!r}; expected one of {choices}")
