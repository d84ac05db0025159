"""Loading a model from a run's checkpoints (latest step by default), on any mesh.

    model, cfg = load_model("runs/p10/checkpoints")        # latest step, default mesh
    logits, _ = model(tokens, positions, segment_ids)

What the directory holds besides the steps is described in pinchjax.checkpoints.metadata.
A LoRA run's steps hold the adapters only; `load_model` adds the base its `lora_base.json`
names. Hugging Face directories load with pinchjax.checkpoints.hf; `default_partitioner` picks the
mesh for either kind.
"""
from __future__ import annotations

from typing import Any, Sequence

import jax
from flax import nnx

from pinchjax import gin_config
from pinchjax.checkpoints import adapters, checkpointer, hf, metadata
from pinchjax.model.config import ModelConfig
from pinchjax.model.sharding import Partitioner
from pinchjax.model.transformer import Transformer
from pinchjax.parallel import cpu_host
from pinchjax.parallel import mesh as mesh_lib
from pinchjax.parallel import partition


def default_partitioner(checkpoint: str, devices: Sequence[jax.Device] | None = None
                        ) -> Partitioner:
  """gin's rules on gin's `make_mesh()`; on a CPU-only host whose gin config binds no
  `make_mesh.shape`, on `cpu_host.decode_mesh` of the checkpoint's model (weights split over
  the cores). `devices`: those to use (default: all of the run's)."""
  if gin_config.binds("make_mesh.shape") or jax.default_backend() != "cpu":
    return Partitioner.create(mesh_lib.make_mesh(devices=devices))
  return Partitioner.create(cpu_host.decode_mesh(metadata.model_config(checkpoint), devices))


def abstract_params(cfg: ModelConfig, partitioner: Partitioner) -> Any:
  """The parameters as a plain dict of ShapeDtypeStructs with their shardings on the mesh."""
  _, abstract = partition.abstract_model(cfg)
  shardings = nnx.to_pure_dict(partitioner.shardings(abstract))
  return jax.tree.map(lambda a, s: jax.ShapeDtypeStruct(a.shape, a.dtype, sharding=s),
                      nnx.to_pure_dict(abstract), shardings)


def load_base(ref: dict[str, Any], cfg: ModelConfig, target: Any,
              partitioner: Partitioner) -> Any:
  """The frozen base parameters of a LoRA model `cfg` (a plain dict shaped like `target`,
  the abstract non-adapter parameters) from the base reference `ref` (adapters.py)."""
  if ref["kind"] == "hf":
    _, params = hf.load_hf(ref["path"], partitioner, dtype=cfg.param_dtype,
                           scan_layers=cfg.scan_layers)
    return nnx.to_pure_dict(params)
  return checkpointer.load_params(ref["path"], target, ref["step"])


def load_model(checkpoint_dir: str, partitioner: Partitioner | None = None,
               step: int | None = None,
               lora_base: str | None = None) -> tuple[Transformer, ModelConfig]:
  """The Transformer of a run's checkpoint (latest step by default), sharded by
  `partitioner` (default: the gin-configured `make_mesh()` and rules), whatever mesh it was
  trained on. A LoRA run's adapters come on the base its `lora_base.json` names, or on
  `lora_base` (the same base moved elsewhere; its fingerprint is checked)."""
  cfg = metadata.load_model_config(checkpoint_dir)
  partitioner = partitioner or Partitioner.create(mesh_lib.make_mesh())
  target = abstract_params(cfg, partitioner)
  if cfg.lora_rank:
    _, abstract = partition.abstract_model(cfg)
    target, frozen_target = adapters.split(target, adapters.trainable_mask(abstract))
    ref = adapters.read_reference(checkpoint_dir, lora_base)
    frozen = load_base(ref, cfg, frozen_target, partitioner)
  params = checkpointer.load_params(checkpoint_dir, target, step)
  if cfg.lora_rank:
    params = adapters.merge(frozen, params)
  graphdef, _ = partition.abstract_model(cfg)
  return nnx.merge(graphdef, nnx.State(params)), cfg
