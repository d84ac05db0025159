"""LoRA adapters: zero-initialised B leaves the base model's outputs, merging equals the
unmerged adapters, adapters shard like their weights, and peft interop (a pinchjax adapter
loaded by peft onto transformers gives pinchjax's logits; read back exactly)."""
import json
import os

import jax
import jax.numpy as jnp
import numpy as np
import peft
import pytest
import torch
import transformers
from flax import nnx
from jax.sharding import PartitionSpec as P

from pinchjax import parallel
from pinchjax.checkpoints import hf
from pinchjax.model import lora
from pinchjax.model.config import ModelConfig
from pinchjax.model.transformer import Transformer, init_model
from test_model_hf import save_random_model

CFG = ModelConfig(vocab_size=64, d_model=32, num_layers=2, num_heads=4, num_kv_heads=2,
                  head_dim=8, mlp_dim=64, qkv_bias=True, tie_embeddings=False)
LORA = dict(lora_rank=4, lora_alpha=8.0)


def _inputs(vocab=64, length=10):
  tokens = np.asarray(jax.random.randint(jax.random.key(0), (2, length), 0, vocab), np.int32)
  return tokens, np.broadcast_to(np.arange(length, dtype=np.int32), (2, length))


def _on_base(cfg: ModelConfig, base_params: nnx.State, seed: int = 1) -> Transformer:
  """The LoRA model `cfg` with `base_params` as its base and freshly initialised adapters."""
  graphdef, adapters, _ = nnx.split(init_model(cfg, seed), nnx.LoRAParam, ...)
  return nnx.merge(graphdef, adapters, base_params)


def _randomise_b(model: Transformer, seed: int = 2) -> None:
  """Non-zero B everywhere (trained adapters), in place."""
  keys = iter(jax.random.split(jax.random.key(seed), 100))
  for path, var in nnx.to_flat_state(nnx.state(model, nnx.LoRAParam)):
    if path[-1] == "b":
      var.set_value(0.3 * jax.random.normal(next(keys), var.shape, var.dtype))


@pytest.mark.parametrize("scan", [False, True])
def test_untrained_adapters_leave_the_base_unchanged_and_merge_is_exact(scan):
  cfg = CFG.replace(scan_layers=scan)
  base = init_model(cfg)
  tokens, positions = _inputs()
  want = np.asarray(base(tokens, positions)[0])
  model = _on_base(cfg.replace(**LORA, lora_dropout=0.2), nnx.state(base))
  n = sum(x.size for x in jax.tree.leaves(nnx.state(model, nnx.LoRAParam)))
  # rank 4 on q, k, v, o, gate, up, down of both layers
  assert n == 2 * 4 * ((32 + 32) + 2 * (32 + 16) + (32 + 32) + 2 * (32 + 64) + (64 + 32))
  np.testing.assert_array_equal(np.asarray(model(tokens, positions)[0]), want)
  with lora.dropout_key(jax.random.key(0)):  # B = 0: dropout on A's input changes nothing
    np.testing.assert_array_equal(np.asarray(model(tokens, positions)[0]), want)
  _randomise_b(model)
  tuned = np.asarray(model(tokens, positions)[0])
  assert np.abs(tuned - want).max() > 1e-2
  with lora.dropout_key(jax.random.key(0)):
    assert np.abs(np.asarray(model(tokens, positions)[0]) - tuned).max() > 1e-3
  merged = lora.merge_into_base(nnx.to_pure_dict(nnx.state(model)), model.cfg)
  plain = nnx.merge(nnx.split(base)[0], nnx.State(merged))
  np.testing.assert_allclose(np.asarray(plain(tokens, positions)[0]), tuned, atol=1e-5)


def test_adapters_shard_like_the_weights_they_adapt():
  mesh = parallel.make_mesh({"data": 2, "fsdp": 2, "tensor": 2})
  cfg = CFG.replace(**LORA, scan_layers=True)
  model, _ = parallel.sharded_init(cfg, parallel.Partitioner.create(mesh))
  attn, mlp = model.layers.attn, model.layers.mlp
  specs = {name: var.get_value().sharding.spec for name, var in (
      ("q.a", attn.q_lora.a), ("q.b", attn.q_lora.b), ("o.a", attn.o_lora.a),
      ("o.b", attn.o_lora.b), ("up.a", mlp.up_lora.a), ("up.b", mlp.up_lora.b),
      ("down.a", mlp.down_lora.a), ("down.b", mlp.down_lora.b))}
  # [layers, in..., rank] and [layers, rank, out...]: the weight's in and out axes.
  assert specs == {"q.a": P(None, "fsdp", None), "q.b": P(None, None, "tensor", None),
                   "o.a": P(None, "tensor", None, None), "o.b": P(None, None, "fsdp"),
                   "up.a": P(None, "fsdp", None), "up.b": P(None, None, "tensor"),
                   "down.a": P(None, "tensor", None), "down.b": P(None, None, "fsdp")}
  assert attn.q.get_value().sharding.spec == P(None, "fsdp", "tensor", None)
  tokens, positions = _inputs()
  with parallel.use_mesh(mesh, parallel.logical_axis_rules()):
    sharded = np.asarray(jax.jit(lambda m: m(tokens, positions)[0])(model))
  single = nnx.merge(*nnx.split(jax.device_get(model)))
  np.testing.assert_allclose(sharded, np.asarray(single(tokens, positions)[0]), atol=1e-5)


FAMILIES = {
    "llama": lambda: transformers.LlamaConfig(
        vocab_size=96, hidden_size=32, intermediate_size=64, num_hidden_layers=2,
        num_attention_heads=4, num_key_value_heads=2, head_dim=8, tie_word_embeddings=False),
    "qwen2": lambda: transformers.Qwen2Config(
        vocab_size=96, hidden_size=32, intermediate_size=64, num_hidden_layers=2,
        num_attention_heads=4, num_key_value_heads=2, head_dim=8, tie_word_embeddings=True),
}


def _torch_logits(model, tokens):
  with torch.no_grad():
    return model(input_ids=torch.tensor(tokens, dtype=torch.long)).logits.numpy()


@pytest.mark.parametrize("family,scan,targets", [
    ("llama", False, lora.TARGETS), ("qwen2", True, ("q_proj", "v_proj", "down_proj"))])
def test_peft_loads_the_exported_adapter_and_it_reads_back_exactly(family, scan, targets,
                                                                   tmp_path):
  base_dir, adapter_dir = str(tmp_path / "base"), str(tmp_path / "adapter")
  save_random_model(FAMILIES[family](), base_dir)
  base_cfg, base_params = hf.load_hf(base_dir, scan_layers=scan)
  cfg = base_cfg.replace(**LORA, lora_targets=targets)
  model = _on_base(cfg, base_params)
  _randomise_b(model)
  tokens, positions = _inputs(96)
  ours = np.asarray(model(tokens, positions)[0])

  written = hf.export_adapter(cfg, model, adapter_dir, base_model_name_or_path=base_dir)
  assert sorted(map(os.path.basename, written)) == ["adapter_config.json",
                                                    "adapter_model.safetensors"]
  config = json.load(open(os.path.join(adapter_dir, "adapter_config.json")))
  assert (config["r"], config["lora_alpha"], config["base_model_name_or_path"]) == (
      4, 8.0, base_dir)
  assert sorted(config["target_modules"]) == sorted(targets)
  hf_base = transformers.AutoModelForCausalLM.from_pretrained(base_dir).eval()
  with_adapter = peft.PeftModel.from_pretrained(hf_base, adapter_dir).eval()
  # peft found and set every exported tensor (its own key names)
  names = {n for n, _ in with_adapter.named_parameters() if "lora_" in n}
  assert len(names) == 2 * len(targets) * 2
  np.testing.assert_allclose(_torch_logits(with_adapter, tokens), ours, atol=1e-4)

  back_cfg = hf.read_adapter_config(adapter_dir, base_cfg)
  assert back_cfg == cfg
  back = hf.load_adapter(adapter_dir, back_cfg)
  for (path, a), (_, b) in zip(nnx.to_flat_state(back),
                               nnx.to_flat_state(nnx.state(model, nnx.LoRAParam)), strict=True):
    np.testing.assert_array_equal(np.asarray(a.get_value()), np.asarray(b.get_value()),
                                  err_msg=str(path))

  merged_dir = str(tmp_path / "merged")
  merged = lora.merge_into_base(nnx.to_pure_dict(nnx.state(model)), cfg)
  hf.export_hf(base_cfg, nnx.merge(parallel.abstract_model(base_cfg)[0], nnx.State(merged)),
               merged_dir)
  merged_model = transformers.AutoModelForCausalLM.from_pretrained(merged_dir).eval()
  np.testing.assert_allclose(_torch_logits(merged_model, tokens), ours, atol=1e-4)


def test_bad_adapters_are_refused(tmp_path):
  base_cfg = CFG
  cfg = base_cfg.replace(**LORA)
  model = init_model(cfg)
  hf.export_adapter(cfg, model, str(tmp_path), base_model_name_or_path="x")
  path = tmp_path / "adapter_config.json"
  config = json.load(open(path))
  json.dump({**config, "use_dora": True}, open(path, "w"))
  with pytest.raises(ValueError, match="use_dora=True; pinchjax reads plain LoRA"):
    hf.read_adapter_config(str(tmp_path), base_cfg)
  json.dump({**config, "target_modules": ["q_proj", "lm_head"]}, open(path, "w"))
  with pytest.raises(ValueError, match="target_modules"):
    hf.read_adapter_config(str(tmp_path), base_cfg)
  with pytest.raises(ValueError, match="unknown tensor .*layers.0.mlp.down_proj.lora_A"):
    hf.load_adapter(str(tmp_path), cfg.replace(lora_targets=("q_proj", "k_proj")))
  only_q = cfg.replace(lora_targets=("q_proj",))
  hf.export_adapter(only_q, init_model(only_q), str(tmp_path / "q"), "x")
  with pytest.raises(ValueError,
                     match=r"missing tensor .*layers.0.mlp.down_proj.lora_A.weight \(24 missing"):
    hf.load_adapter(str(tmp_path / "q"), cfg)
  llama = ModelConfig(**LORA)  # a full export of adapters unmerged is refused
  with pytest.raises(ValueError, match="k_lora.a has no Hugging Face name .*--merge"):
    hf.export_hf(llama, init_model(llama), str(tmp_path / "full"))
