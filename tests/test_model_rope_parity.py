"""RoPE of every layer kind against transformers (PyTorch, float32), at large positions.

Tiny random checkpoints with the published RoPE settings and head sizes of each family are
written by transformers' save_pretrained and read by both sides; short sequences whose
position ids start at 0, 9,000, 32,000 and max_position_embeddings - LENGTH give logits
within 1e-4. The transformers 4.x config.json layouts must read as the 5.x ones do.
"""
import json

import numpy as np
import pytest
import torch
import transformers
from transformers.modeling_rope_utils import ROPE_INIT_FUNCTIONS
from transformers.models.llama.modeling_llama import LlamaRotaryEmbedding

from pinchjax.checkpoints import hf
from pinchjax.model import hf_config
from pinchjax.model.config import ModelConfig
from pinchjax.model.layers import rope_inv_freq
from test_model_hf import _pinchjax_logits, save_random_model

LENGTH, WINDOW, VOCAB = 16, 4, 96
OFFSETS = (0, 9_000, 32_000)  # first positions of the rows; Llama 3 rescales past 8,192
QK_GAIN = 4.0  # sharper attention, so that one ulp of a RoPE angle shows in the logits
TOLERANCE = 1e-4
LLAMA3_1 = {"rope_type": "llama3", "factor": 8.0, "low_freq_factor": 1.0,
            "high_freq_factor": 4.0, "original_max_position_embeddings": 8192}
LLAMA3_2 = dict(LLAMA3_1, factor=32.0)
GEMMA3_4B = {"rope_type": "linear", "factor": 8.0}


def _common(head_dim, max_len):
  return dict(vocab_size=VOCAB, hidden_size=64, intermediate_size=128, num_hidden_layers=2,
              num_attention_heads=2, num_key_value_heads=1, head_dim=head_dim,
              max_position_embeddings=max_len)


def _qwen2(sliding):
  # Qwen 2.5 1.5B/7B: head_dim 128, rope_theta 1e6; layers from max_window_layers on slide.
  return transformers.Qwen2Config(
      **_common(128, 32_768), rope_theta=1e6, tie_word_embeddings=True,
      use_sliding_window=sliding, sliding_window=WINDOW, max_window_layers=1)


def _gemma3(scaling):
  # Gemma 3: head_dim 256; global layers rope_theta 1e6 (4B and up: linear, factor 8),
  # sliding-window layers 1e4, never scaled.
  return transformers.Gemma3TextConfig(
      **_common(256, 131_072), sliding_window=WINDOW, query_pre_attn_scalar=256,
      layer_types=["sliding_attention", "full_attention"], rope_theta=1e6,
      rope_local_base_freq=1e4, rope_scaling=scaling)


CONFIGS = {
    "qwen2.5": lambda: _qwen2(False),
    "qwen2.5-sliding": lambda: _qwen2(True),
    "llama3.1": lambda: transformers.LlamaConfig(
        **_common(128, 131_072), rope_theta=5e5, rope_scaling=LLAMA3_1),
    "llama3.2": lambda: transformers.LlamaConfig(
        **_common(64, 131_072), rope_theta=5e5, rope_scaling=LLAMA3_2),
    "gemma3-1b": lambda: _gemma3(None),
    "gemma3-4b": lambda: _gemma3(GEMMA3_4B),
}
LAYER_PATTERNS = {"qwen2.5-sliding": ("global", "local"), "gemma3-1b": ("local", "global"),
                  "gemma3-4b": ("local", "global")}  # the others: ("global",)


def _inputs(max_len):
  offsets = (*OFFSETS, max_len - LENGTH)
  tokens = np.random.default_rng(0).integers(0, VOCAB, (len(offsets), LENGTH), np.int32)
  positions = (np.asarray(offsets)[:, None] + np.arange(LENGTH)).astype(np.int32)
  return offsets, tokens, positions


def logit_differences(name, directory):
  """(pinchjax config, {first position of a row: max |logit difference| in that row})."""
  model = save_random_model(CONFIGS[name](), directory)
  with torch.no_grad():
    for param_name, param in model.named_parameters():
      if param_name.endswith(("q_proj.weight", "k_proj.weight")):
        param.mul_(QK_GAIN)
  model.save_pretrained(directory)
  cfg, params = hf.load_hf(directory)
  offsets, tokens, positions = _inputs(cfg.max_len)
  with torch.no_grad():
    expected = model(input_ids=torch.tensor(tokens, dtype=torch.long),
                     position_ids=torch.tensor(positions, dtype=torch.long)).logits.numpy()
  diff = np.abs(_pinchjax_logits(cfg, params, tokens, positions) - expected)
  return cfg, dict(zip(offsets, diff.max(axis=(1, 2)).tolist()))


@pytest.mark.parametrize("name", sorted(CONFIGS))
def test_logits_match_transformers_at_large_positions(name, tmp_path):
  cfg, diffs = logit_differences(name, str(tmp_path))
  pattern = LAYER_PATTERNS.get(name, ("global",))
  assert (cfg.layer_pattern, cfg.sliding_window) == (
      pattern, WINDOW if "local" in pattern else None)
  assert max(diffs.values()) <= TOLERANCE, diffs


def _to_4x_layout(config):
  """A 5.x config.json as transformers 4.x wrote it: rope_theta and rope_scaling (Gemma 3:
  also rope_local_base_freq), no layer_types (Qwen 2: max_window_layers says which layers
  slide; Gemma 3: sliding_window_pattern)."""
  config = dict(config)
  rope = dict(config.pop("rope_parameters"))
  types = config.pop("layer_types", None)
  if config["model_type"] == "gemma3_text":
    config["rope_local_base_freq"] = rope["sliding_attention"]["rope_theta"]
    rope = dict(rope["full_attention"])
    config["sliding_window_pattern"] = types.index("full_attention") + 1
  config["rope_theta"] = rope.pop("rope_theta")
  if rope["rope_type"] != "default":
    config["rope_scaling"] = rope
  return config


@pytest.mark.parametrize("name", ["qwen2.5-sliding", "llama3.2", "gemma3-4b"])
def test_transformers_4_layout_reads_as_5(name, tmp_path):
  """Both sides read the 4.x layout as the 5.x one, so the logits above hold for it too."""
  config = CONFIGS[name]()
  config.save_pretrained(tmp_path / "5")
  with open(tmp_path / "5" / "config.json") as f:
    old = _to_4x_layout(json.load(f))
  assert "rope_parameters" not in old and "layer_types" not in old
  (tmp_path / "4").mkdir()
  with open(tmp_path / "4" / "config.json", "w") as f:
    json.dump(old, f)
  new_hf, old_hf = (transformers.AutoConfig.from_pretrained(tmp_path / v) for v in "54")
  for key in ("layer_types", "rope_parameters", "sliding_window"):
    assert getattr(old_hf, key, None) == getattr(new_hf, key, None), key
  assert hf_config.from_hf(tmp_path / "4") == hf_config.from_hf(tmp_path / "5")


# The RoPE settings the supported checkpoints publish: (rope_theta, head_dim, rope dict).
PUBLISHED = [
    (5e5, 128, LLAMA3_1), (5e5, 64, LLAMA3_2), (5e5, 128, LLAMA3_2),  # Llama 3.1 / 3.2
    (1e6, 128, None), (1e6, 64, None),  # Qwen 2.5 (0.5B: head_dim 64)
    (1e6, 256, None), (1e6, 256, GEMMA3_4B), (1e4, 256, None),  # Gemma 3 global, local
]


@pytest.mark.parametrize("theta,head_dim,scaling", PUBLISHED)
def test_inverse_frequencies_are_transformers_float32_ones(theta, head_dim, scaling):
  """Bit for bit but for torch's powf, 1 ulp off the correctly rounded power on rare entries
  (e.g. 1e6 ** (74 / 128)); computing in float64 instead differs on 3 to 42 entries."""
  config = transformers.LlamaConfig(
      hidden_size=64, num_attention_heads=2, head_dim=head_dim, max_position_embeddings=131_072,
      rope_parameters={"rope_type": "default", "rope_theta": theta, **(scaling or {})})
  init = ROPE_INIT_FUNCTIONS.get((scaling or {}).get("rope_type"),
                                 LlamaRotaryEmbedding.compute_default_rope_parameters)
  expected = init(config)[0].numpy()
  ours = rope_inv_freq(hf_config.from_hf(config.to_dict()), "global")
  assert ours.dtype == np.float32
  ulps = ours.view(np.int32).astype(np.int64) - expected.view(np.int32)
  assert np.abs(ulps).max() <= 1 and np.count_nonzero(ulps) <= 1, ulps


def test_rope_settings_without_a_transformers_equivalent_are_errors():
  qwen = ModelConfig(family="qwen2", qkv_bias=True, rope_theta=1e6, sliding_window=WINDOW,
                     layer_pattern=("global", "local"))
  assert hf_config.hf_from_fields(qwen)["rope_parameters"] == {"rope_type": "default",
                                                               "rope_theta": 1e6}
  with pytest.raises(ValueError, match="local_rope_theta must be None"):
    hf_config.hf_from_fields(qwen.replace(local_rope_theta=1e4))
  gemma = ModelConfig(family="gemma3", activation="gelu_tanh", rope_theta=1e6,
                      rope_scaling="linear", rope_factor=8.0, sliding_window=WINDOW,
                      layer_pattern=("local", "global"))
  with pytest.raises(ValueError, match="unscaled RoPE: set local_rope_theta"):
    hf_config.hf_from_fields(gemma)
  assert hf_config.hf_from_fields(gemma.replace(local_rope_theta=1e4))["rope_parameters"] == {
      "full_attention": {"rope_type": "linear", "rope_theta": 1e6, "factor": 8.0},
      "sliding_attention": {"rope_type": "default", "rope_theta": 1e4}}
  with pytest.raises(ValueError, match="one entry per layer type"):
    hf_config.from_hf({**_gemma3(None).to_dict(),
                                "rope_parameters": {"rope_type": "default", "rope_theta": 1e6}})
