"""Model gin files: real architectures match their published sizes and config.json files."""
import gin
import jax
import pytest
from flax import nnx

from pinchjax.model.config import ModelConfig
from pinchjax.model.transformer import Transformer
from pinchjax.model import hf_config

# Parameter counts published for the released checkpoints (Gemma 3 4B: its text decoder).
PUBLISHED = {
    "gemma3_1b": 999_885_952, "gemma3_4b": 3_880_263_168, "qwen2_5_1_5b": 1_543_714_304,
    "qwen2_5_7b": 7_615_616_512, "llama3_2_1b": 1_235_814_400, "llama3_1_8b": 8_030_261_248,
}
# The released config.json files (transformers 4.x layout), architecture keys only.
CONFIG_JSON = {
    "gemma3_1b": {
        "model_type": "gemma3_text", "vocab_size": 262144, "hidden_size": 1152,
        "intermediate_size": 6912, "num_hidden_layers": 26, "num_attention_heads": 4,
        "num_key_value_heads": 1, "head_dim": 256, "hidden_activation": "gelu_pytorch_tanh",
        "max_position_embeddings": 32768, "rms_norm_eps": 1e-06, "rope_theta": 1000000,
        "rope_local_base_freq": 10000, "rope_scaling": None, "sliding_window": 512,
        "sliding_window_pattern": 6, "query_pre_attn_scalar": 256,
        "attn_logit_softcapping": None, "final_logit_softcapping": None,
        "torch_dtype": "bfloat16"},
    "qwen2_5_1_5b": {
        "model_type": "qwen2", "vocab_size": 151936, "hidden_size": 1536,
        "intermediate_size": 8960, "num_hidden_layers": 28, "num_attention_heads": 12,
        "num_key_value_heads": 2, "hidden_act": "silu", "max_position_embeddings": 32768,
        "max_window_layers": 21, "rms_norm_eps": 1e-06, "rope_theta": 1000000.0,
        "sliding_window": 32768, "tie_word_embeddings": True, "use_sliding_window": False,
        "torch_dtype": "bfloat16"},
    "llama3_2_1b": {
        "model_type": "llama", "vocab_size": 128256, "hidden_size": 2048,
        "intermediate_size": 8192, "num_hidden_layers": 16, "num_attention_heads": 32,
        "num_key_value_heads": 8, "head_dim": 64, "hidden_act": "silu",
        "max_position_embeddings": 131072, "rms_norm_eps": 1e-05, "rope_theta": 500000.0,
        "rope_scaling": {"factor": 32.0, "high_freq_factor": 4.0, "low_freq_factor": 1.0,
                         "original_max_position_embeddings": 8192, "rope_type": "llama3"},
        "attention_bias": False, "mlp_bias": False, "tie_word_embeddings": True,
        "torch_dtype": "bfloat16"},
}


def _parse(name, **macros):
  gin.clear_config()
  try:  # parsing may fail half way (a REQUIRED macro): leave no bindings for later tests
    gin.parse_config_files_and_bindings(
        [f"gin/models/{name}.gin"], [f"{k} = {v!r}" for k, v in macros.items()])
    return ModelConfig()
  finally:
    gin.clear_config()


@pytest.mark.parametrize("name", sorted(PUBLISHED))
def test_real_model_files(name):
  cfg = _parse(name, MODEL_DIR_HF="/models/x")
  assert cfg.num_params() == PUBLISHED[name]
  assert (cfg.dtype, cfg.param_dtype) == ("bfloat16", "float32")
  # Export writes a config.json that reads back as the same architecture.
  assert hf_config.from_hf(hf_config.hf_from_fields(cfg)) == cfg.replace(param_dtype="float32",
                                                                       dtype="float32")
  if name in CONFIG_JSON:
    assert hf_config.from_hf(CONFIG_JSON[name], param_dtype="float32") == cfg


def test_toy_files_and_required_macro():
  tiny = _parse("toy_tiny")
  assert (tiny.layer_pattern, tiny.family) == (("local", "global"), "toy")
  # The count equals the parameters the model built from the file has (shapes only).
  model = nnx.eval_shape(lambda: Transformer(tiny, rngs=nnx.Rngs(0)))
  assert tiny.num_params() == sum(p.size for p in jax.tree.leaves(nnx.state(model, nnx.Param)))
  assert 1_000_000 <= _parse("toy_small").num_params() <= 3_000_000
  assert _parse("toy_small", VOCAB_SIZE=1000).vocab_size == 1000
  with pytest.raises(ValueError, match="MODEL_DIR_HF.* `%gin.REQUIRED` but not subsequently"):
    _parse("llama3_2_1b")  # a real model needs its weights directory
