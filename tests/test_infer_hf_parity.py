"""Greedy decoding equals transformers' greedy `generate` on the same tiny random checkpoints
(written by transformers' save_pretrained, read by pinchjax's load_hf), per family."""
import pytest
import torch
import transformers

from pinchjax.infer import decode
from pinchjax.checkpoints import hf

VOCAB, STEPS, WINDOW = 97, 10, 4
COMMON = dict(vocab_size=VOCAB, hidden_size=32, intermediate_size=64, num_hidden_layers=2,
              num_attention_heads=4, num_key_value_heads=2, head_dim=8,
              max_position_embeddings=128, initializer_range=0.3)
CONFIGS = {
    "llama": lambda: transformers.LlamaConfig(**COMMON, tie_word_embeddings=False),
    "qwen2": lambda: transformers.Qwen2Config(**COMMON, tie_word_embeddings=True),
    "gemma3": lambda: transformers.Gemma3TextConfig(
        **COMMON, sliding_window=WINDOW, layer_types=["sliding_attention", "full_attention"],
        query_pre_attn_scalar=8),
}
MODELS = {"llama": transformers.LlamaForCausalLM, "qwen2": transformers.Qwen2ForCausalLM,
          "gemma3": transformers.Gemma3ForCausalLM}
# Ragged, the longest past Gemma's sliding window.
PROMPTS = [[2, 17, 5], [2, 40, 41, 42, 43, 44, 45, 46, 47, 48, 49, 50], [2, 9, 9, 60, 33]]


def hf_checkpoint(family, directory):
  torch.manual_seed(len(family))
  model = MODELS[family](CONFIGS[family]()).eval()
  # Random init leaves norms at their defaults; perturb them so every part counts.
  with torch.no_grad():
    for p in model.parameters():
      p.add_(0.1 * torch.randn_like(p))
  model.save_pretrained(directory, safe_serialization=True)
  return model


@pytest.mark.parametrize("family", sorted(CONFIGS))
def test_greedy_equals_transformers_generate(family, tmp_path):
  torch_model = hf_checkpoint(family, tmp_path)
  ours = decode.generate(hf.load_hf_model(str(tmp_path)), PROMPTS, STEPS)
  produced = set()
  for prompt, got in zip(PROMPTS, ours):
    with torch.inference_mode():
      out = torch_model.generate(torch.tensor([prompt]), max_new_tokens=STEPS,
                                 do_sample=False, eos_token_id=None, pad_token_id=0)
    want = out[0, len(prompt):].tolist()
    assert got.tokens == want, (family, prompt)
    produced |= set(want)
  assert len(produced) >= 3  # not one token repeated: the comparison has teeth
