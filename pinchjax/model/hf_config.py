"""Hugging Face config.json dialects <-> `ModelConfig` fields.

Reads both the transformers 4.x layout (`rope_theta`, `rope_scaling`, `rope_local_base_freq`,
`sliding_window_pattern`) and the 5.x one (`rope_parameters`, per layer type for Gemma 3;
`layer_types`), and writes the 5.x one. Anything pinchjax cannot represent is an error
naming the key, never a silently different model.
"""
from __future__ import annotations

import json
import os
from typing import Any, Mapping

from pinchjax.model.config import ModelConfig

_FAMILY_OF_MODEL_TYPE = {"llama": "llama", "qwen2": "qwen2", "gemma3_text": "gemma3",
                         "gemma3": "gemma3"}
_ACTIVATIONS = {"silu": "silu", "gelu_pytorch_tanh": "gelu_tanh", "gelu_tanh": "gelu_tanh"}
_LAYER_KINDS = {"full_attention": "global", "sliding_attention": "local"}
# transformers' Gemma3TextConfig defaults: multimodal Gemma 3 config.json files (4B and up)
# leave these out of their text_config.
_GEMMA3_TEXT_DEFAULTS = {
    "vocab_size": 262_208, "head_dim": 256, "query_pre_attn_scalar": 256,
    "rms_norm_eps": 1e-6, "sliding_window": 4096, "max_position_embeddings": 131_072,
    "hidden_activation": "gelu_pytorch_tanh", "num_attention_heads": 8,
    "num_key_value_heads": 4,
}
_ARCHITECTURES = {"llama": "LlamaForCausalLM", "qwen2": "Qwen2ForCausalLM",
                  "gemma3": "Gemma3ForCausalLM"}
_MODEL_TYPES = {"llama": "llama", "qwen2": "qwen2", "gemma3": "gemma3_text"}


def from_hf(path_or_dict: str | os.PathLike | Mapping[str, Any],
            **overrides: Any) -> ModelConfig:
  """Builds the config of a Hugging Face checkpoint.

  Args:
    path_or_dict: a checkpoint directory, a config.json path, or its parsed dict.
      Multimodal Gemma 3 configs are read through their `text_config`.
    **overrides: fields to set on top (e.g. dtype="bfloat16").
  """
  if isinstance(path_or_dict, Mapping):
    hf = dict(path_or_dict)
  else:
    path = os.fspath(path_or_dict)
    if os.path.isdir(path):
      path = os.path.join(path, "config.json")
    with open(path) as f:
      hf = json.load(f)
  return ModelConfig(**{**fields_from_hf(hf), **overrides})


def fields_from_hf(hf: Mapping[str, Any]) -> dict[str, Any]:
  """ModelConfig keyword arguments for a parsed HF config.json."""
  tie = hf.get("tie_word_embeddings")
  if "text_config" in hf:  # multimodal Gemma 3: the decoder is the text tower
    hf = {"model_type": "gemma3_text", **hf["text_config"]}
  hf = dict(hf)
  if tie is not None:
    hf.setdefault("tie_word_embeddings", tie)
  model_type = hf.get("model_type")
  if model_type not in _FAMILY_OF_MODEL_TYPE:
    raise ValueError(f"config.json model_type={model_type!r} is not supported; expected one "
                     f"of {sorted(_FAMILY_OF_MODEL_TYPE)}")
  family = _FAMILY_OF_MODEL_TYPE[model_type]
  gemma = family == "gemma3"
  if gemma:
    hf = {**_GEMMA3_TEXT_DEFAULTS, **hf}
  heads = _req(hf, "num_attention_heads")
  act_key = "hidden_activation" if gemma and "hidden_activation" in hf else "hidden_act"
  act = hf.get(act_key, "gelu_pytorch_tanh" if gemma else "silu")
  if act not in _ACTIVATIONS:
    raise ValueError(f"config.json {act_key}={act!r} is not supported; expected one of "
                     f"{sorted(_ACTIVATIONS)}")
  if hf.get("mlp_bias"):
    raise ValueError("config.json mlp_bias=true is not supported")
  if hf.get("use_bidirectional_attention"):
    raise ValueError("config.json use_bidirectional_attention=true is not supported")
  fields: dict[str, Any] = dict(
      family=family,
      vocab_size=_req(hf, "vocab_size"),
      d_model=_req(hf, "hidden_size"),
      num_layers=_req(hf, "num_hidden_layers"),
      num_heads=heads,
      num_kv_heads=hf.get("num_key_value_heads") or heads,
      head_dim=hf.get("head_dim") or _req(hf, "hidden_size") // heads,
      mlp_dim=_req(hf, "intermediate_size"),
      activation=_ACTIVATIONS[act],
      norm_eps=hf.get("rms_norm_eps", 1e-6),
      max_len=hf.get("max_position_embeddings", 2048),
      tie_embeddings=bool(hf.get("tie_word_embeddings", gemma)),
      param_dtype=_dtype(hf),
      dtype=_dtype(hf),
  )
  bias = bool(hf.get("attention_bias", False))
  fields.update(qkv_bias=bias or family == "qwen2", out_bias=bias)
  if gemma:
    fields.update(norm_plus_one=True, sandwich_norm=True, qk_norm=True, embed_scale=True,
                  query_scale=float(hf.get("query_pre_attn_scalar", 256)),
                  # transformers' Gemma 3 ignores attn_logit_softcapping, so we do too.
                  final_logit_softcap=hf.get("final_logit_softcapping"))
  fields.update(_rope_fields(hf, gemma))
  fields.update(_layer_fields(hf, family, fields["num_layers"]))
  return fields


def hf_from_fields(cfg: ModelConfig) -> dict[str, Any]:
  """A transformers 5.x config.json for cfg. Toy models are written as Llama models."""
  family = "llama" if cfg.family == "toy" else cfg.family
  gemma = family == "gemma3"
  if cfg.attn_logit_softcap is not None:
    raise ValueError("attention soft-capping has no transformers Llama/Qwen2/Gemma 3 equivalent")
  if not gemma and (cfg.norm_plus_one or cfg.sandwich_norm or cfg.qk_norm or cfg.embed_scale
                    or cfg.query_scale or cfg.final_logit_softcap):
    raise ValueError(f"a {cfg.family!r} config with Gemma features has no HF equivalent")
  if family == "qwen2" and (not cfg.qkv_bias or cfg.out_bias):
    raise ValueError("Qwen2 needs qkv_bias=True and out_bias=False")
  if family == "llama" and cfg.qkv_bias != cfg.out_bias:
    raise ValueError("Llama has one attention_bias for q/k/v/o: qkv_bias must equal out_bias")
  hf: dict[str, Any] = dict(
      architectures=[_ARCHITECTURES[family]],
      model_type=_MODEL_TYPES[family],
      vocab_size=cfg.vocab_size,
      hidden_size=cfg.d_model,
      intermediate_size=cfg.mlp_dim,
      num_hidden_layers=cfg.num_layers,
      num_attention_heads=cfg.num_heads,
      num_key_value_heads=cfg.num_kv_heads,
      head_dim=cfg.head_dim,
      rms_norm_eps=cfg.norm_eps,
      max_position_embeddings=cfg.max_len,
      tie_word_embeddings=cfg.tie_embeddings,
      dtype=cfg.param_dtype,
  )
  kinds = [cfg.layer_kind(i) for i in range(cfg.num_layers)]
  global_rope = _hf_rope(cfg)
  if gemma:
    hf.update(hidden_activation="gelu_pytorch_tanh" if cfg.activation == "gelu_tanh" else
              cfg.activation,
              attention_bias=cfg.qkv_bias,
              query_pre_attn_scalar=_int_if_whole(cfg.query_scale or cfg.head_dim),
              final_logit_softcapping=cfg.final_logit_softcap,
              rope_parameters={"full_attention": global_rope,
                               "sliding_attention": _gemma_local_rope(cfg)})
    if cfg.out_bias != cfg.qkv_bias:
      raise ValueError("Gemma 3 has one attention_bias: qkv_bias must equal out_bias")
  else:
    if cfg.activation != "silu":
      raise ValueError(f"{family} uses silu; activation={cfg.activation!r} cannot be exported")
    hf.update(hidden_act="silu", rope_parameters=global_rope)
    if family == "llama":
      hf.update(attention_bias=cfg.qkv_bias, mlp_bias=False)
    if "local" in kinds:
      if family != "qwen2":
        raise ValueError("only Gemma 3 and Qwen2 have sliding-window layers in HF")
      if cfg.local_rope_theta is not None:
        raise ValueError("Qwen2 sliding-window layers share the global RoPE: "
                         "local_rope_theta must be None")
      hf["use_sliding_window"] = True
      hf["max_window_layers"] = kinds.index("local")
  hf["layer_types"] = ["sliding_attention" if k == "local" else "full_attention" for k in kinds]
  hf["sliding_window"] = cfg.sliding_window if "local" in kinds else None
  return hf


def _gemma_local_rope(cfg: ModelConfig) -> dict[str, Any]:
  """transformers' Gemma 3 never scales the RoPE of its sliding-window layers."""
  if cfg.local_rope_theta is not None:
    return {"rope_type": "default", "rope_theta": cfg.local_rope_theta}
  if cfg.rope_scaling != "none" and "local" in cfg.layer_pattern:
    raise ValueError("Gemma 3 sliding-window layers take an unscaled RoPE: set local_rope_theta")
  return {"rope_type": "default", "rope_theta": cfg.rope_theta}


def _int_if_whole(x: float) -> float | int:
  """transformers' strict configs type some float-valued fields as int."""
  return int(x) if float(x).is_integer() else x


def _req(hf: Mapping[str, Any], key: str) -> Any:
  if key not in hf:
    raise ValueError(f"config.json has no {key!r}")
  return hf[key]


def _dtype(hf: Mapping[str, Any]) -> str:
  name = hf.get("dtype") or hf.get("torch_dtype") or "float32"
  if name not in ("float32", "bfloat16", "float16"):
    raise ValueError(f"config.json dtype={name!r} is not supported")
  return name


def _scaling_fields(params: Mapping[str, Any] | None) -> dict[str, Any]:
  """ModelConfig rope-scaling fields for one HF rope dict (old or new style)."""
  if not params:
    return {"rope_scaling": "none"}
  kind = params.get("rope_type", params.get("type", "default"))
  if kind == "default":
    return {"rope_scaling": "none"}
  if kind == "linear":
    return {"rope_scaling": "linear", "rope_factor": float(params["factor"])}
  if kind == "llama3":
    return {"rope_scaling": "llama3", "rope_factor": float(params["factor"]),
            "rope_low_freq_factor": float(params["low_freq_factor"]),
            "rope_high_freq_factor": float(params["high_freq_factor"]),
            "rope_original_max_len": int(params["original_max_position_embeddings"])}
  raise ValueError(f"config.json rope type {kind!r} is not supported; expected default, "
                   "linear or llama3")


def _rope_fields(hf: Mapping[str, Any], gemma: bool) -> dict[str, Any]:
  """RoPE fields. Only Gemma 3 gives its sliding-window layers their own (unscaled) RoPE;
  Qwen 2 runs every layer with the one rotary embedding of the config."""
  params = hf.get("rope_parameters")
  if gemma and params:  # 5.x: one dict per layer type
    if "full_attention" not in params:
      raise ValueError("config.json rope_parameters of a Gemma 3 model needs one entry per "
                       "layer type (full_attention, sliding_attention)")
    glob, local = params["full_attention"], params.get("sliding_attention") or {}
    if _scaling_fields(local)["rope_scaling"] != "none":
      raise ValueError("config.json: scaled RoPE on sliding_attention layers is not supported")
    return {"rope_theta": float(glob.get("rope_theta", 1e6)), **_scaling_fields(glob),
            "local_rope_theta": float(local.get("rope_theta", 1e4))}
  if params:  # 5.x flat dict
    return {"rope_theta": float(params.get("rope_theta", 1e4)), **_scaling_fields(params)}
  fields = {"rope_theta": float(hf.get("rope_theta", 1e6 if gemma else 1e4)),
            **_scaling_fields(hf.get("rope_scaling"))}
  if gemma:
    fields["local_rope_theta"] = float(hf.get("rope_local_base_freq", 1e4))
  return fields


def _layer_fields(hf: Mapping[str, Any], family: str, num_layers: int) -> dict[str, Any]:
  window = hf.get("sliding_window")
  if family == "qwen2" and not hf.get("use_sliding_window", False):
    window = None
  types = hf.get("layer_types")
  if types is None:
    if family == "gemma3":
      every = hf.get("sliding_window_pattern", 6)
      types = ["sliding_attention" if (i + 1) % every else "full_attention"
               for i in range(num_layers)]
    elif family == "qwen2" and window:
      first = hf.get("max_window_layers", num_layers)
      types = ["sliding_attention" if i >= first else "full_attention"
               for i in range(num_layers)]
    else:
      types = ["full_attention"] * num_layers
  unknown = sorted(set(types) - set(_LAYER_KINDS))
  if unknown:
    raise ValueError(f"config.json layer_types has unsupported entries {unknown}")
  if family == "qwen2" and not window:  # transformers ignores layer_types without a window
    types = ["full_attention"] * num_layers
  kinds = [_LAYER_KINDS[t] for t in types]
  if len(kinds) != num_layers:
    raise ValueError(f"config.json layer_types has {len(kinds)} entries for {num_layers} layers")
  if "local" in kinds and not window:
    raise ValueError("config.json has sliding_attention layers but no sliding_window")
  return {"layer_pattern": tuple(kinds[:_period(kinds)]),
          "sliding_window": window if "local" in kinds else None}


def _period(kinds: list[str]) -> int:
  """Shortest prefix whose cyclic repetition gives all layer kinds."""
  n = len(kinds)
  return next(p for p in range(1, n + 1)
              if all(kinds[i] == kinds[i % p] for i in range(n)))


def _hf_rope(cfg: ModelConfig) -> dict[str, Any]:
  rope: dict[str, Any] = {"rope_type": "default", "rope_theta": cfg.rope_theta}
  if cfg.rope_scaling == "linear":
    rope.update(rope_type="linear", factor=cfg.rope_factor)
  elif cfg.rope_scaling == "llama3":
    rope.update(rope_type="llama3", factor=cfg.rope_factor,
                low_freq_factor=cfg.rope_low_freq_factor,
                high_freq_factor=cfg.rope_high_freq_factor,
                original_max_position_embeddings=cfg.rope_original_max_len)
  return rope
