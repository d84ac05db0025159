"""`pinchjax convert`: HF -> pinchjax checkpoint -> HF keeps every parameter bit for bit, and
the tokenizer (with its chat template) travels along."""
import jax
import numpy as np
import torch
import transformers
from flax import nnx

from pinchjax import cli
from pinchjax.checkpoints import hf
from pinchjax.checkpoints import load, metadata
from chat_template_fixtures import FAMILIES, write_tokenizer


def test_convert_both_ways(tmp_path, capsys):
  config = transformers.LlamaConfig(vocab_size=64, hidden_size=16, intermediate_size=32,
                                    num_hidden_layers=1, num_attention_heads=2,
                                    num_key_value_heads=1, head_dim=8)
  torch.manual_seed(0)
  transformers.AutoModelForCausalLM.from_config(config).save_pretrained(tmp_path / "hf")
  write_tokenizer(tmp_path / "hf", "llama3.2", jinja_file=True)

  assert cli.main(["convert", "hf-to-pinchjax", str(tmp_path / "hf"), str(tmp_path / "pj")]) == 0
  assert '"family": "llama"' in capsys.readouterr().out
  cfg, params = hf.load_hf(tmp_path / "hf")
  model, cfg2 = load.load_model(str(tmp_path / "pj"))
  assert cfg2 == cfg
  for a, b in zip(jax.tree.leaves(nnx.state(model)), jax.tree.leaves(params)):
    np.testing.assert_array_equal(a, b)

  vocab, template = metadata.load_tokenization(str(tmp_path / "pj"))
  assert template == "tokenizer" and vocab.eos_token == "<|eot_id|>"
  assert (tmp_path / "pj" / "tokenizer" / "chat_template.jinja").read_text() == \
      FAMILIES["llama3.2"][0]

  assert cli.main(["convert", "pinchjax-to-hf", str(tmp_path / "pj"), str(tmp_path / "out"),
                   "--tokenizer_dir", str(tmp_path / "hf")]) == 0
  assert (tmp_path / "out" / "tokenizer.json").read_text() == \
      (tmp_path / "hf" / "tokenizer.json").read_text()
  # Without --tokenizer_dir the run's own tokenizer goes along, chat template included.
  assert cli.main(["convert", "pinchjax-to-hf", str(tmp_path / "pj"), str(tmp_path / "own")]) == 0
  assert (tmp_path / "own" / "chat_template.jinja").read_text() == FAMILIES["llama3.2"][0]
  cfg3, params3 = hf.load_hf(tmp_path / "out")
  assert cfg3 == cfg
  for a, b in zip(jax.tree.leaves(params3), jax.tree.leaves(params)):
    np.testing.assert_array_equal(a, b)

  # The stacked layout of scan_layers runs: one [layers, ...] array per parameter.
  assert cli.main(["convert", "hf-to-pinchjax", str(tmp_path / "hf"), str(tmp_path / "scan"),
                   "--scan_layers"]) == 0
  scanned, cfg4 = load.load_model(str(tmp_path / "scan"))
  assert cfg4 == cfg.replace(scan_layers=True)
  np.testing.assert_array_equal(scanned.layers.attn.q[...][0], model.layers[0].attn.q[...])
