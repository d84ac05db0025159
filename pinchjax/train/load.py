"""Loading what a training run wrote: its model config and a model from its checkpoints.

    model, cfg = load_model("runs/p10/checkpoints")        # latest step, default mesh
    logits, _ = model(tokens, positions, segment_ids)

The run's `checkpoints/` directory holds `model_config.json` (the ModelConfig fields) next to
the step directories, so a checkpoint is self-describing for inference and further tuning.
A LoRA run's checkpoints hold the adapters; `load_model` adds the base its `lora_base.json`
names.
"""
from __future__ import annotations

import dataclasses
import json
import os
from typing import Any

import jax
from flax import nnx
from jax.sharding import Mesh

from pinchjax.model.config import ModelConfig
from pinchjax.model.transformer import Transformer
from pinchjax.parallel import mesh as mesh_lib
from pinchjax.parallel import partition
from pinchjax.parallel import rules as rules_lib
from pinchjax.train import adapters, checkpoint

MODEL_CONFIG = "model_config.json"


def save_model_config(checkpoint_dir: str, cfg: ModelConfig) -> None:
  """Writes `model_config.json` (call on the primary process only)."""
  os.makedirs(checkpoint_dir, exist_ok=True)
  with open(os.path.join(checkpoint_dir, MODEL_CONFIG), "w", encoding="utf-8") as f:
    json.dump(dataclasses.asdict(cfg), f, indent=1)


def load_model_config(checkpoint_dir: str) -> ModelConfig:
  path = os.path.join(checkpoint_dir, MODEL_CONFIG)
  if not os.path.isfile(path):
    raise FileNotFoundError(f"{path} is missing: {checkpoint_dir} is not a pinchjax run's "
                            "checkpoints directory")
  with open(path, encoding="utf-8") as f:
    return ModelConfig(**json.load(f))


def abstract_params(cfg: ModelConfig, mesh: Mesh, rules: rules_lib.Rules) -> Any:
  """The parameters as a plain dict of ShapeDtypeStructs with their shardings on `mesh`."""
  _, abstract = partition.abstract_model(cfg)
  shardings = nnx.to_pure_dict(partition.state_shardings(abstract, mesh, rules))
  return jax.tree.map(lambda a, s: jax.ShapeDtypeStruct(a.shape, a.dtype, sharding=s),
                      nnx.to_pure_dict(abstract), shardings)


def load_base(ref: dict[str, Any], cfg: ModelConfig, target: Any, mesh: Mesh,
              rules: rules_lib.Rules) -> Any:
  """The frozen base parameters of a LoRA model `cfg` (a plain dict shaped like `target`,
  the abstract non-adapter parameters) from the base reference `ref` (adapters.py)."""
  if ref["kind"] == "hf":
    from pinchjax.model import hf  # pylint: disable=import-outside-toplevel
    _, params = hf.load_hf(ref["path"], mesh, rules, dtype=cfg.param_dtype,
                           scan_layers=cfg.scan_layers)
    return nnx.to_pure_dict(params)
  return checkpoint.load_params(ref["path"], target, ref["step"])


def load_model(checkpoint_dir: str, mesh: Mesh | None = None,
               rules: rules_lib.Rules | None = None, step: int | None = None,
               lora_base: str | None = None) -> tuple[Transformer, ModelConfig]:
  """The Transformer of a run's checkpoint (latest step by default), sharded on `mesh`
  (default: the gin-configured `make_mesh()`), whatever mesh it was trained on. A LoRA
  run's adapters come on the base its `lora_base.json` names, or on `lora_base` (the same
  base moved elsewhere; its fingerprint is checked)."""
  cfg = load_model_config(checkpoint_dir)
  mesh = mesh if mesh is not None else mesh_lib.make_mesh()
  rules = rules if rules is not None else rules_lib.logical_axis_rules()
  target = abstract_params(cfg, mesh, rules)
  if cfg.lora_rank:
    _, abstract = partition.abstract_model(cfg)
    target, frozen_target = adapters.split(target, adapters.trainable_mask(abstract))
    ref = adapters.read_reference(checkpoint_dir, lora_base)
    frozen = load_base(ref, cfg, frozen_target, mesh, rules)
  params = checkpoint.load_params(checkpoint_dir, target, step)
  if cfg.lora_rank:
    params = adapters.merge(frozen, params)
  graphdef, _ = partition.abstract_model(cfg)
  return nnx.merge(graphdef, nnx.State(params)), cfg
