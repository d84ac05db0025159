"""Hugging Face checkpoints (config.json + safetensors) <-> pinchjax parameters.

`load_hf` streams a checkpoint tensor by tensor straight into (optionally sharded) device
arrays: each tensor is memory-mapped, converted to pinchjax's layout and placed with
`jax.make_array_from_callback`, so the host holds one converted parameter at a time (with
scan_layers, one parameter's stack over the layers), never the model.
`export_hf` writes the reverse, one tensor at a time. Both are strict: a missing, unknown or
wrongly shaped tensor is an error that names it.

Layout: HF linear weights are [out, in]; pinchjax kernels are [in..., out...] with heads
split out (q: [embed, heads, head_dim], o: [heads, head_dim, embed]). RoPE uses the same
half-split convention as HF, so no permutation is needed.

LoRA adapters travel as peft writes them (`export_adapter`, `load_adapter`): adapter_config.json
and adapter_model.safetensors with `base_model.model.<module>.lora_A.weight` [rank, in] and
`lora_B.weight` [out, rank]; pinchjax's A [in..., rank] and B [rank, out...] map to them like
the weight they adapt.
"""
from __future__ import annotations

import dataclasses
import glob
import json
import logging
import math
import os
import shutil
import time
from typing import Any, Callable, Iterable, Iterator

import jax
import ml_dtypes
import numpy as np
from flax import nnx
from jax.sharding import SingleDeviceSharding

from pinchjax.checkpoints.safetensors_io import SafetensorsFile, write_file
from pinchjax.model import hf_config, lora
from pinchjax.model.config import ModelConfig
from pinchjax.model.sharding import Partitioner
from pinchjax.model.transformer import Transformer
from pinchjax.parallel import partition

log = logging.getLogger(__name__)

INDEX_FILE = "model.safetensors.index.json"
ADAPTER_CONFIG = "adapter_config.json"
ADAPTER_WEIGHTS = "adapter_model.safetensors"
PEFT_PREFIX = "base_model.model."
# Multimodal Gemma 3 checkpoints: the text decoder under another prefix, the vision parts
# skipped (and counted).
_TEXT_PREFIXES = (("language_model.model.", "model."), ("model.language_model.", "model."),
                  ("language_model.lm_head.", "lm_head."))
_SKIPPED_PREFIXES = ("vision_tower.", "multi_modal_projector.", "model.vision_tower.",
                     "model.multi_modal_projector.")
TOKENIZER_FILES = ("tokenizer.json", "tokenizer_config.json", "tokenizer.model",
                   "special_tokens_map.json", "generation_config.json", "chat_template.jinja")


@dataclasses.dataclass(frozen=True)
class TensorMap:
  """One HF tensor and the pinchjax parameter it is.

  in_dims: for linear weights, how many leading pinchjax dimensions are the HF input
  (the HF weight is the transpose); 0 for tensors that are only reshaped.
  """
  hf_name: str
  path: tuple[str | int, ...]
  hf_shape: tuple[int, ...]
  in_dims: int = 0

  def to_pinchjax(self, w: np.ndarray, shape: tuple[int, ...]) -> np.ndarray:
    return (w.T if self.in_dims else w).reshape(shape)

  def to_hf(self, x: np.ndarray) -> np.ndarray:
    if self.in_dims:
      return x.reshape(math.prod(x.shape[:self.in_dims]), -1).T
    return x.reshape(self.hf_shape)


def tensor_maps(cfg: ModelConfig) -> list[TensorMap]:
  """Every tensor of cfg's HF checkpoint, in a stable order."""
  d, h, kv, hd, f, v = (cfg.d_model, cfg.num_heads, cfg.num_kv_heads, cfg.head_dim,
                        cfg.mlp_dim, cfg.vocab_size)
  out = [TensorMap("model.embed_tokens.weight", ("embed",), (v, d))]
  for i in range(cfg.num_layers):
    hf, us = f"model.layers.{i}.", ("layers", i)
    attn, a = hf + "self_attn.", us + ("attn",)
    out += [
        TensorMap(hf + "input_layernorm.weight", us + ("attn_norm", "scale"), (d,)),
        TensorMap(attn + "q_proj.weight", a + ("q",), (h * hd, d), 1),
        TensorMap(attn + "k_proj.weight", a + ("k",), (kv * hd, d), 1),
        TensorMap(attn + "v_proj.weight", a + ("v",), (kv * hd, d), 1),
        TensorMap(attn + "o_proj.weight", a + ("o",), (d, h * hd), 2),
    ]
    if cfg.qkv_bias:
      out += [TensorMap(attn + "q_proj.bias", a + ("q_bias",), (h * hd,)),
              TensorMap(attn + "k_proj.bias", a + ("k_bias",), (kv * hd,)),
              TensorMap(attn + "v_proj.bias", a + ("v_bias",), (kv * hd,))]
    if cfg.out_bias:
      out.append(TensorMap(attn + "o_proj.bias", a + ("o_bias",), (d,)))
    if cfg.qk_norm:
      out += [TensorMap(attn + "q_norm.weight", a + ("q_norm", "scale"), (hd,)),
              TensorMap(attn + "k_norm.weight", a + ("k_norm", "scale"), (hd,))]
    if cfg.sandwich_norm:  # Gemma: post-attention norm, then a pre- and post-MLP norm
      out += [
          TensorMap(hf + "post_attention_layernorm.weight", us + ("post_attn_norm", "scale"),
                    (d,)),
          TensorMap(hf + "pre_feedforward_layernorm.weight", us + ("mlp_norm", "scale"), (d,)),
          TensorMap(hf + "post_feedforward_layernorm.weight", us + ("post_mlp_norm", "scale"),
                    (d,))]
    else:  # Llama / Qwen call the pre-MLP norm "post_attention_layernorm"
      out.append(TensorMap(hf + "post_attention_layernorm.weight", us + ("mlp_norm", "scale"),
                           (d,)))
    out += [TensorMap(hf + "mlp.gate_proj.weight", us + ("mlp", "gate"), (f, d), 1),
            TensorMap(hf + "mlp.up_proj.weight", us + ("mlp", "up"), (f, d), 1),
            TensorMap(hf + "mlp.down_proj.weight", us + ("mlp", "down"), (d, f), 1)]
  out.append(TensorMap("model.norm.weight", ("final_norm", "scale"), (d,)))
  if not cfg.tie_embeddings:
    out.append(TensorMap("lm_head.weight", ("lm_head",), (v, d), 1))
  return out


def adapter_maps(cfg: ModelConfig) -> list[TensorMap]:
  """Every tensor of cfg's LoRA adapters as peft names them, in a stable order."""
  out = []
  for m in tensor_maps(cfg):
    module, _, kind = m.hf_name.rpartition(".")
    if kind != "weight" or module.rpartition(".")[2] not in cfg.lora_targets:
      continue
    (out_features, in_features), r = m.hf_shape, cfg.lora_rank
    prefix, lora = PEFT_PREFIX + module, m.path[:-1] + (f"{m.path[-1]}_lora",)
    out += [TensorMap(prefix + ".lora_A.weight", lora + ("a",), (r, in_features), m.in_dims),
            TensorMap(prefix + ".lora_B.weight", lora + ("b",), (out_features, r), 1)]
  return out


def _text_name(name: str) -> str | None:
  """The decoder name of a checkpoint tensor; None for parts pinchjax does not use."""
  if name.startswith(_SKIPPED_PREFIXES):
    return None
  for prefix, replacement in _TEXT_PREFIXES:
    if name.startswith(prefix):
      return replacement + name[len(prefix):]
  return name


def _checkpoint_files(checkpoint_dir: str) -> dict[str, SafetensorsFile]:
  """Checkpoint tensor name -> the file that holds it (single file or index + shards)."""
  index = os.path.join(checkpoint_dir, INDEX_FILE)
  if os.path.exists(index):
    with open(index) as f:
      weight_map = json.load(f).get("weight_map")
    if not isinstance(weight_map, dict):
      raise ValueError(f"{index}: no 'weight_map' object")
    paths = sorted(set(weight_map.values()))
  else:
    paths = sorted(os.path.basename(p)
                   for p in glob.glob(os.path.join(checkpoint_dir, "*.safetensors")))
  if not paths:
    raise FileNotFoundError(f"{checkpoint_dir}: no *.safetensors files (pinchjax never reads "
                            "pickled .bin checkpoints)")
  files: dict[str, SafetensorsFile] = {}
  for path in paths:
    st = SafetensorsFile(os.path.join(checkpoint_dir, path))
    for name in st.names():
      if name in files:
        raise ValueError(f"{checkpoint_dir}: tensor {name} is in both {files[name].path} and "
                         f"{st.path}")
      files[name] = st
  return files


def load_hf(checkpoint_dir: str | os.PathLike, partitioner: Partitioner | None = None,
            dtype: str | None = None,
            **overrides: Any) -> tuple[ModelConfig, nnx.State]:
  """Loads a Hugging Face checkpoint into pinchjax parameters.

  Args:
    checkpoint_dir: directory with config.json and model.safetensors, or an index
      (model.safetensors.index.json) and its shards.
    partitioner: place parameters sharded by it (default: on the first device).
    dtype: parameter dtype to load into (default: the checkpoint's); the activation dtype
      stays the checkpoint's (e.g. float32 master weights, bfloat16 compute).
    **overrides: further ModelConfig fields, e.g. scan_layers=True (stacked layout) or
      remat_policy="dots"; the architecture itself comes from config.json.
  Returns:
    (cfg, params): params is an nnx.State with the structure of `nnx.state(Transformer(cfg))`;
    `nnx.merge(partition.abstract_model(cfg)[0], params)` is the model (see load_hf_model).
  Raises:
    ValueError naming the tensor when one is missing, unknown or wrongly shaped.
  """
  checkpoint_dir = os.fspath(checkpoint_dir)
  cfg = hf_config.from_hf(checkpoint_dir, **overrides,
                                   **({"param_dtype": dtype} if dtype else {}))
  files = _checkpoint_files(checkpoint_dir)
  maps = {m.hf_name: m for m in tensor_maps(cfg)}
  groups = _group_by_parameter(cfg, maps.values())
  names, skipped = {}, []
  for name in files:
    text = _text_name(name)
    if text is None or (text == "lm_head.weight" and cfg.tie_embeddings):
      skipped.append(name)  # vision tower, or a redundant copy of the tied embedding
    elif text not in maps:
      raise ValueError(f"{checkpoint_dir}: unknown tensor {name} for a {cfg.family} model")
    else:
      names[text] = name
  missing = [n for n in maps if n not in names]
  if missing:
    raise ValueError(f"{checkpoint_dir}: missing tensor {missing[0]} "
                     f"({len(missing)} missing in all)")
  if skipped:
    log.info("%s: skipped %d tensors not used by the decoder, e.g. %s", checkpoint_dir,
             len(skipped), skipped[0])

  param_dtype = np.dtype(cfg.jnp_param_dtype)

  def read(m: TensorMap, shape: tuple[int, ...]) -> np.ndarray:
    st, name = files[names[m.hf_name]], names[m.hf_name]
    if st.shape(name) != m.hf_shape:
      raise ValueError(f"{st.path}: tensor {name} has shape {st.shape(name)}, expected "
                       f"{m.hf_shape} for {cfg.family} config")
    return m.to_pinchjax(st.get(name), shape).astype(param_dtype)

  total_bytes = cfg.num_params() * param_dtype.itemsize
  progress = {"bytes": 0, "logged": 0.0, "start": time.perf_counter()}

  def loaded(array: np.ndarray) -> None:
    progress["bytes"] += array.nbytes
    if progress["bytes"] >= (progress["logged"] + 0.1) * total_bytes:  # every 10%
      progress["logged"] = progress["bytes"] / total_bytes
      log.info("%s: loaded %.0f%% of %.2f GB in %.0f s", checkpoint_dir,
               100 * progress["logged"], total_bytes / 1e9,
               time.perf_counter() - progress["start"])

  _, abstract = partition.abstract_model(cfg)
  return cfg, _fill(abstract, groups, read, partitioner, loaded)


def _fill(abstract: nnx.State,
          groups: dict[tuple[str | int, ...], list[TensorMap]],
          read: Callable[[TensorMap, tuple[int, ...]], np.ndarray],
          partitioner: Partitioner | None,
          loaded: Callable[[np.ndarray], None] = lambda _: None) -> nnx.State:
  """`abstract` with each Variable holding its tensors (`read`, stacked over the layers for
  scan_layers), placed by `partitioner` (default: on the first device)."""
  if partitioner is not None:
    shardings = dict(nnx.to_flat_state(partitioner.shardings(abstract)))

  def load(path: tuple[Any, ...], var: nnx.Variable) -> nnx.Variable:
    sources = groups[_plain(path)]
    sharding = (shardings[_plain(path)].get_value() if partitioner is not None
                else SingleDeviceSharding(jax.devices()[0]))
    if len(sources) == 1 and sources[0].path == _plain(path):
      array = read(sources[0], var.shape)
    else:  # stacked layers (scan_layers): one parameter's layers at a time
      array = np.stack([read(m, var.shape[1:]) for m in sources])
    loaded(array)
    return var.replace(jax.make_array_from_callback(var.shape, sharding,
                                                    lambda index: array[index]))

  return jax.tree.map_with_path(load, abstract, is_leaf=lambda x: isinstance(x, nnx.Variable))


def load_hf_model(checkpoint_dir: str | os.PathLike, partitioner: Partitioner | None = None,
                  dtype: str | None = None, **overrides: Any) -> Transformer:
  """`load_hf`, merged into a Transformer."""
  cfg, params = load_hf(checkpoint_dir, partitioner, dtype, **overrides)
  return nnx.merge(partition.abstract_model(cfg)[0], params)


def export_hf(cfg: ModelConfig, params: nnx.State | Transformer, out_dir: str | os.PathLike,
              tokenizer_dir: str | os.PathLike | None = None,
              max_shard_bytes: int = 5 * 2**30) -> list[str]:
  """Writes config.json and safetensors weights that transformers' from_pretrained loads.

  Each tensor is gathered to this host in turn, so parameters must be fully addressable
  (a single process; on a multi-host run, restore onto one host's devices first).

  Args:
    cfg: the architecture (toy models are written as Llama).
    params: the parameters (nnx.State of a Transformer, sharded or not), or the model.
    out_dir: created if needed.
    tokenizer_dir: if given, its tokenizer files (TOKENIZER_FILES) are copied along.
    max_shard_bytes: above this, weights are split into shards with an index file.
  Returns:
    the files written.
  """
  out_dir = os.fspath(out_dir)
  os.makedirs(out_dir, exist_ok=True)
  config = hf_config.hf_from_fields(cfg)
  flat = _flat_params(params)
  maps = tensor_maps(cfg)
  unknown = sorted(".".join(map(str, p)) for p in set(flat) - set(_group_by_parameter(cfg, maps)))
  if unknown:
    hint = (" (a LoRA adapter: export it with --adapter, or --merge it into the weights)"
            if "_lora." in unknown[0] else "")
    raise ValueError(f"parameter {unknown[0]} has no Hugging Face name{hint}")
  dtype = _hf_dtype(cfg)
  fetch = _fetcher(cfg, flat, dtype)

  shards = list(_split(maps, dtype.itemsize, max_shard_bytes))
  written = []
  weight_map = {}
  for i, shard in enumerate(shards):
    name = ("model.safetensors" if len(shards) == 1
            else f"model-{i + 1:05d}-of-{len(shards):05d}.safetensors")
    write_file(os.path.join(out_dir, name),
               [(m.hf_name, m.hf_shape, dtype, fetch(m)) for m in shard])
    weight_map.update({m.hf_name: name for m in shard})
    written.append(name)
  if len(shards) > 1:
    total = sum(math.prod(m.hf_shape) for m in maps) * dtype.itemsize
    with open(os.path.join(out_dir, INDEX_FILE), "w") as f:
      json.dump({"metadata": {"total_size": total}, "weight_map": weight_map}, f, indent=2)
    written.append(INDEX_FILE)
  with open(os.path.join(out_dir, "config.json"), "w") as f:
    json.dump(config, f, indent=2)
  written.append("config.json")
  if tokenizer_dir is not None:
    for name in TOKENIZER_FILES:
      src = os.path.join(os.fspath(tokenizer_dir), name)
      if os.path.exists(src):
        shutil.copy(src, os.path.join(out_dir, name))
        written.append(name)
  return [os.path.join(out_dir, n) for n in written]


def _flat_params(params: nnx.State | Transformer) -> dict[tuple[str | int, ...], Any]:
  if isinstance(params, Transformer):
    params = nnx.state(params, nnx.Param)
  return {_plain(path): var for path, var in nnx.to_flat_state(params)}


def _hf_dtype(cfg: ModelConfig) -> np.dtype:
  return np.dtype(ml_dtypes.bfloat16) if cfg.param_dtype == "bfloat16" else \
      np.dtype(cfg.param_dtype)


def _fetcher(cfg: ModelConfig, flat: dict[tuple[str | int, ...], Any], dtype: np.dtype
             ) -> Callable[[TensorMap], Callable[[], np.ndarray]]:
  """TensorMap -> a thunk gathering its tensor to this host in HF layout."""
  def fetch(m: TensorMap):
    path, layer = _parameter_of(cfg, m.path)
    if path not in flat:
      raise ValueError(f"parameter {'.'.join(map(str, path))} is missing")
    array = flat[path].get_value()
    return lambda: m.to_hf(np.asarray(jax.device_get(
        array if layer is None else array[layer]))).astype(dtype)
  return fetch


def export_adapter(cfg: ModelConfig, params: nnx.State | Transformer,
                   out_dir: str | os.PathLike, base_model_name_or_path: str) -> list[str]:
  """Writes cfg's LoRA adapters as a peft adapter directory (adapter_config.json,
  adapter_model.safetensors) that `peft.PeftModel.from_pretrained` puts on the base."""
  if not cfg.lora_rank:
    raise ValueError("the model has no LoRA adapters (lora_rank is 0)")
  out_dir = os.fspath(out_dir)
  os.makedirs(out_dir, exist_ok=True)
  dtype, maps = _hf_dtype(cfg), adapter_maps(cfg)
  fetch = _fetcher(cfg, _flat_params(params), dtype)
  write_file(os.path.join(out_dir, ADAPTER_WEIGHTS),
             [(m.hf_name, m.hf_shape, dtype, fetch(m)) for m in maps])
  config = {"peft_type": "LORA", "task_type": "CAUSAL_LM", "r": cfg.lora_rank,
            "lora_alpha": cfg.lora_alpha, "lora_dropout": cfg.lora_dropout,
            "target_modules": sorted(cfg.lora_targets), "bias": "none",
            "fan_in_fan_out": False, "use_rslora": False, "use_dora": False,
            "inference_mode": True, "base_model_name_or_path": base_model_name_or_path}
  with open(os.path.join(out_dir, ADAPTER_CONFIG), "w") as f:
    json.dump(config, f, indent=2)
  return [os.path.join(out_dir, n) for n in (ADAPTER_WEIGHTS, ADAPTER_CONFIG)]


def read_adapter_config(adapter_dir: str | os.PathLike, base: ModelConfig) -> ModelConfig:
  """`base` with the LoRA settings of a peft adapter directory (only plain LoRA is read)."""
  path = os.path.join(os.fspath(adapter_dir), ADAPTER_CONFIG)
  if not os.path.isfile(path):
    raise FileNotFoundError(f"{path} is missing: not a peft adapter directory")
  with open(path) as f:
    config = json.load(f)
  for field, plain in (("peft_type", "LORA"), ("use_rslora", False), ("use_dora", False),
                       ("fan_in_fan_out", False), ("bias", "none")):
    if config.get(field, plain) != plain:
      raise ValueError(f"{path}: {field}={config[field]!r}; pinchjax reads plain LoRA "
                       f"({field}={plain!r})")
  for field in ("layers_to_transform", "rank_pattern", "alpha_pattern", "modules_to_save"):
    if config.get(field):
      raise ValueError(f"{path}: {field} is set; pinchjax adapts every layer alike")
  targets = config.get("target_modules")
  targets = list(lora.TARGETS) if targets == "all-linear" else targets
  if not isinstance(targets, list) or not targets or any(t not in lora.TARGETS for t in targets):
    raise ValueError(f"{path}: target_modules={config.get('target_modules')!r}; expected "
                     f"names among {lora.TARGETS}")
  return base.replace(lora_rank=int(config["r"]), lora_alpha=float(config["lora_alpha"]),
                      lora_dropout=float(config.get("lora_dropout", 0.0)),
                      lora_targets=tuple(t for t in lora.TARGETS if t in targets))


def load_adapter(adapter_dir: str | os.PathLike, cfg: ModelConfig,
                 partitioner: Partitioner | None = None) -> nnx.State:
  """The adapters (an nnx.State of the LoRA model `cfg`'s nnx.LoRAParams) of a peft adapter
  directory; cfg from `read_adapter_config`. Strict like `load_hf`."""
  path = os.path.join(os.fspath(adapter_dir), ADAPTER_WEIGHTS)
  if not os.path.isfile(path):
    raise FileNotFoundError(f"{path} is missing (pinchjax reads safetensors adapters)")
  st, maps = SafetensorsFile(path), {m.hf_name: m for m in adapter_maps(cfg)}
  unknown = sorted(set(st.names()) - set(maps))
  missing = sorted(set(maps) - set(st.names()))
  if unknown or missing:
    raise ValueError(f"{path}: " + (f"unknown tensor {unknown[0]}" if unknown else
                                    f"missing tensor {missing[0]} ({len(missing)} missing)"))
  param_dtype = np.dtype(cfg.jnp_param_dtype)

  def read(m: TensorMap, shape: tuple[int, ...]) -> np.ndarray:
    if st.shape(m.hf_name) != m.hf_shape:
      raise ValueError(f"{path}: tensor {m.hf_name} has shape {st.shape(m.hf_name)}, "
                       f"expected {m.hf_shape}")
    return m.to_pinchjax(st.get(m.hf_name), shape).astype(param_dtype)

  _, abstract, _ = nnx.split(nnx.eval_shape(lambda: Transformer(cfg, rngs=nnx.Rngs(0))),
                             nnx.LoRAParam, ...)
  return _fill(abstract, _group_by_parameter(cfg, maps.values()), read, partitioner)


def _parameter_of(cfg: ModelConfig, path: tuple[str | int, ...]
                  ) -> tuple[tuple[str | int, ...], int | None]:
  """(parameter path, layer index into its stacked axis or None) of a per-layer path."""
  if cfg.scan_layers and path[0] == "layers":
    return ("layers",) + path[2:], path[1]
  return path, None


def _group_by_parameter(cfg: ModelConfig, maps: Iterable[TensorMap]
                        ) -> dict[tuple[str | int, ...], list[TensorMap]]:
  """Parameter path -> its HF tensors (one, or one per layer, in order, for scan_layers)."""
  groups: dict[tuple[str | int, ...], list[TensorMap]] = {}
  for m in maps:
    groups.setdefault(_parameter_of(cfg, m.path)[0], []).append(m)
  return groups


def _plain(path: tuple[Any, ...]) -> tuple[str | int, ...]:
  return tuple(getattr(k, "key", k) for k in path)


def _split(maps: list[TensorMap], itemsize: int, max_bytes: int) -> Iterator[list[TensorMap]]:
  shard, size = [], 0
  for m in maps:
    nbytes = math.prod(m.hf_shape) * itemsize
    if shard and size + nbytes > max_bytes:
      yield shard
      shard, size = [], 0
    shard.append(m)
    size += nbytes
  if shard:
    yield shard
