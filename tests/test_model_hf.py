"""Hugging Face interchange: logits parity with transformers (PyTorch, CPU), export round trip,
strict errors, sharded loading."""
import copy
import json
import os

import jax
import jax.numpy as jnp
import numpy as np
import pytest
import torch
import transformers
from flax import nnx
from jax.sharding import PartitionSpec as P

from pinchjax import parallel
from pinchjax.checkpoints import hf
from pinchjax.model import hf_config
from pinchjax.model import init_cache
from pinchjax.checkpoints.safetensors_io import SafetensorsFile, write_file

LENGTH = 12  # longer than the sliding windows below
COMMON = dict(vocab_size=96, hidden_size=32, intermediate_size=64, num_hidden_layers=3,
              num_attention_heads=4, num_key_value_heads=2, head_dim=8)
FAMILIES = {
    "llama": lambda: transformers.LlamaConfig(
        **COMMON, rope_theta=500000.0, tie_word_embeddings=False,
        rope_scaling={"rope_type": "llama3", "factor": 8.0, "low_freq_factor": 1.0,
                      "high_freq_factor": 4.0, "original_max_position_embeddings": 64}),
    "qwen2": lambda: transformers.Qwen2Config(
        **COMMON, tie_word_embeddings=True, use_sliding_window=True, sliding_window=4,
        max_window_layers=1),
    "gemma3": lambda: transformers.Gemma3TextConfig(
        **COMMON, sliding_window=4, query_pre_attn_scalar=16, final_logit_softcapping=30.0,
        layer_types=["sliding_attention", "sliding_attention", "full_attention"],
        rope_scaling={"rope_type": "linear", "factor": 8.0}, rope_theta=100000.0,
        rope_local_base_freq=1000.0),
}


def _hf_model(family, out_dir):
  return save_random_model(FAMILIES[family](), out_dir)


def save_random_model(config, out_dir):
  """A transformers model of `config` with random weights, saved to out_dir."""
  config._attn_implementation = "eager"
  torch.manual_seed(0)
  model = transformers.AutoModelForCausalLM.from_config(config).eval()
  with torch.no_grad():
    for p in model.parameters():  # random everything, norms included, at a useful scale
      p.copy_(torch.randn_like(p) * 0.3)
  model.save_pretrained(out_dir)
  return model


def _inputs():
  tokens = np.asarray(jax.random.randint(jax.random.key(0), (2, LENGTH), 0, 96), np.int32)
  return tokens, np.broadcast_to(np.arange(LENGTH, dtype=np.int32), (2, LENGTH))


def _torch_logits(model, tokens):
  with torch.no_grad():
    return model(input_ids=torch.tensor(tokens, dtype=torch.long)).logits.numpy()


def _pinchjax_logits(cfg, params, tokens, positions):
  graphdef, _ = parallel.abstract_model(cfg)
  fwd = jax.jit(lambda p, t, q: nnx.merge(graphdef, p)(t, q)[0])
  return np.asarray(fwd(params, tokens, positions))


@pytest.fixture(scope="module")
def checkpoints(tmp_path_factory):
  """family -> (checkpoint dir written by transformers, torch model, its logits)."""
  out = {}
  for family in FAMILIES:
    path = str(tmp_path_factory.mktemp(family))
    model = _hf_model(family, path)
    out[family] = path, model, _torch_logits(model, _inputs()[0])
  return out


@pytest.mark.parametrize("family", sorted(FAMILIES))
def test_logits_match_transformers(checkpoints, family):
  path, _, expected = checkpoints[family]
  cfg, params = hf.load_hf(path)
  assert cfg.family == family
  if family != "llama":
    assert "local" in cfg.layer_pattern and cfg.sliding_window == 4 < LENGTH
  logits = _pinchjax_logits(cfg, params, *_inputs())
  assert np.max(np.abs(logits - expected)) <= 1e-4


@pytest.mark.parametrize("family", sorted(FAMILIES))
def test_export_round_trip_loads_in_transformers(checkpoints, family, tmp_path):
  path, _, expected = checkpoints[family]
  cfg, params = hf.load_hf(path)
  # Small shards exercise the index file on both sides.
  written = hf.export_hf(cfg, params, tmp_path, max_shard_bytes=20_000)
  assert os.path.basename(written[-1]) == "config.json" and hf.INDEX_FILE in map(
      os.path.basename, written)
  reloaded = transformers.AutoModelForCausalLM.from_pretrained(
      tmp_path, attn_implementation="eager").eval()
  tokens, _ = _inputs()
  assert np.max(np.abs(_torch_logits(reloaded, tokens) - expected)) <= 1e-4
  cfg2, params2 = hf.load_hf(tmp_path)
  assert cfg2 == cfg
  for a, b in zip(jax.tree.leaves(params2), jax.tree.leaves(params)):
    np.testing.assert_array_equal(a, b)


def test_sharded_scanned_load_and_export(checkpoints, tmp_path):
  """Gemma 3 into stacked (scan_layers) parameters on a (2, 2, 2) mesh: same logits with and
  without a KV cache, and exporting the stacked layout gives back the checkpoint."""
  path, _, expected = checkpoints["gemma3"]
  mesh = parallel.make_mesh({"data": 2, "fsdp": 2, "tensor": 2})
  partitioner = parallel.Partitioner.create(mesh)
  cfg, params = hf.load_hf(path, partitioner, scan_layers=True)
  specs = {tuple(p): v.get_value().sharding.spec for p, v in nnx.to_flat_state(params)}
  assert specs[("layers", "attn", "q")] == P(None, "fsdp", "tensor", None)
  assert specs[("embed",)] == P("tensor", "fsdp")
  tokens, positions = _inputs()
  graphdef, _ = parallel.abstract_model(cfg)
  with partitioner.activate():
    logits = _pinchjax_logits(cfg, params, tokens, positions)
    cached, _ = jax.jit(lambda p, c: nnx.merge(graphdef, p)(tokens, positions, None, c))(
        params, init_cache(cfg, 2, 16, partitioner=partitioner))
  assert np.max(np.abs(logits - expected)) <= 1e-4
  assert np.max(np.abs(np.asarray(cached) - expected)) <= 1e-4

  hf.export_hf(cfg, params, tmp_path)
  for a, b in zip(jax.tree.leaves(hf.load_hf(tmp_path)[1]), jax.tree.leaves(hf.load_hf(path)[1])):
    np.testing.assert_array_equal(a, b)


def _rewrite(src_dir, dst_dir, edit):
  """Copies a checkpoint, passing its tensors through edit(dict) first."""
  os.makedirs(dst_dir, exist_ok=True)
  with open(os.path.join(src_dir, "config.json")) as f:
    config = json.load(f)
  with open(os.path.join(dst_dir, "config.json"), "w") as f:
    json.dump(config, f)
  st = SafetensorsFile(os.path.join(src_dir, "model.safetensors"))
  tensors = edit({n: np.array(st.get(n)) for n in st.names()})
  write_file(os.path.join(dst_dir, "model.safetensors"),
             [(n, a.shape, a.dtype, lambda a=a: a) for n, a in tensors.items()])
  return dst_dir


def test_strict_errors_name_the_tensor(checkpoints, tmp_path):
  path = checkpoints["llama"][0]
  name = "model.layers.1.self_attn.k_proj.weight"

  def drop(t):
    del t[name]
    return t
  with pytest.raises(ValueError, match=f"missing tensor {name}"):
    hf.load_hf(_rewrite(path, tmp_path / "missing", drop))
  with pytest.raises(ValueError, match="unknown tensor model.layers.1.extra.weight"):
    hf.load_hf(_rewrite(path, tmp_path / "unknown",
                        lambda t: {**t, "model.layers.1.extra.weight": np.zeros(3, np.float32)}))
  with pytest.raises(ValueError, match=rf"tensor {name} has shape \(8, 32\), expected \(16, 32\)"):
    hf.load_hf(_rewrite(path, tmp_path / "shape", lambda t: {**t, name: t[name][:8]}))
  with pytest.raises(FileNotFoundError, match="no \\*.safetensors"):
    os.makedirs(tmp_path / "empty")
    with open(tmp_path / "empty" / "config.json", "w") as f:
      f.write(open(os.path.join(path, "config.json")).read())
    hf.load_hf(tmp_path / "empty")


def test_bfloat16_checkpoints_load_and_export(checkpoints, tmp_path):
  model = copy.deepcopy(checkpoints["qwen2"][1]).to(torch.bfloat16)
  model.save_pretrained(tmp_path / "bf16")
  cfg, params = hf.load_hf(tmp_path / "bf16")
  assert cfg.param_dtype == "bfloat16"
  embed = nnx.to_flat_state(params)[0][1].get_value()
  assert embed.dtype == jnp.bfloat16
  np.testing.assert_array_equal(
      np.asarray(embed, np.float32),
      model.model.embed_tokens.weight.detach().float().numpy())
  hf.export_hf(cfg, params, tmp_path / "out")
  st = SafetensorsFile(tmp_path / "out" / "model.safetensors")
  assert st.dtype("model.embed_tokens.weight") == jnp.bfloat16
  np.testing.assert_array_equal(np.asarray(st.get("model.embed_tokens.weight"), np.float32),
                                np.asarray(embed, np.float32))


def test_from_hf_config_reads_transformers_4_layouts():
  gemma = hf_config.from_hf({
      "model_type": "gemma3", "tie_word_embeddings": True,
      # As released: vocab_size, head_dim, ... are left to Gemma3TextConfig's defaults.
      "text_config": {"model_type": "gemma3_text", "hidden_size": 2560,
                      "intermediate_size": 10240, "num_hidden_layers": 34,
                      "rope_scaling": {"rope_type": "linear", "factor": 8.0},
                      "sliding_window": 1024, "torch_dtype": "bfloat16"}})
  assert gemma.layer_pattern == ("local",) * 5 + ("global",)
  assert (gemma.rope_scaling, gemma.rope_factor, gemma.local_rope_theta) == ("linear", 8.0, 1e4)
  assert gemma.tie_embeddings and gemma.param_dtype == "bfloat16" and gemma.query_scale == 256
  assert (gemma.vocab_size, gemma.head_dim, gemma.num_heads, gemma.num_kv_heads) == (
      262208, 256, 8, 4)
  assert gemma.num_params() == 3_880_263_168  # the published size of the text decoder
  llama = hf_config.from_hf({
      "model_type": "llama", "vocab_size": 128256, "hidden_size": 2048,
      "intermediate_size": 8192, "num_hidden_layers": 16, "num_attention_heads": 32,
      "num_key_value_heads": 8, "rope_theta": 500000.0, "tie_word_embeddings": True,
      "rope_scaling": {"rope_type": "llama3", "factor": 32.0, "low_freq_factor": 1.0,
                       "high_freq_factor": 4.0, "original_max_position_embeddings": 8192}})
  assert (llama.head_dim, llama.rope_scaling, llama.rope_factor) == (64, "llama3", 32.0)
  assert llama.layer_pattern == ("global",) and not llama.qkv_bias
  with pytest.raises(ValueError, match="model_type='mistral'"):
    hf_config.from_hf({"model_type": "mistral"})
  with pytest.raises(ValueError, match="rope type 'yarn'"):
    hf_config.from_hf({**FAMILIES["llama"]().to_dict(),
                                "rope_parameters": {"rope_type": "yarn", "factor": 4.0}})
