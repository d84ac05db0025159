"""A tiny Llama written by transformers, with a byte-level BPE tokenizer trained offline and
saved by transformers (so lm-eval's AutoTokenizer reads it too), served by `pinchjax serve`."""
import contextlib
import os
import re
import subprocess
import sys

import tokenizers
import torch
import transformers
from tokenizers import decoders, models, pre_tokenizers, trainers

SPECIALS = ["<pad>", "<eos>", "<bos>", "<|start_header_id|>", "<|end_header_id|>",
            "<|eot_id|>"]
CORPUS = ["the quick brown fox jumps over the lazy dog", "the cat ate brown rice",
          "hyvää huomenta", "buongiorno", "привет мир", "你好世界", "Paris is in France",
          "two plus two is four", "the sky is blue and the grass is green"]


def write_checkpoint(directory) -> transformers.PreTrainedModel:
  """Model and tokenizer files in `directory`; returns the torch model (eval mode)."""
  tok = tokenizers.Tokenizer(models.BPE())
  tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
  tok.decoder = decoders.ByteLevel()
  tok.train_from_iterator(CORPUS * 5, trainers.BpeTrainer(
      vocab_size=320, special_tokens=SPECIALS,
      initial_alphabet=pre_tokenizers.ByteLevel.alphabet()))
  transformers.PreTrainedTokenizerFast(
      tokenizer_object=tok, bos_token="<bos>", eos_token="<eos>",
      pad_token="<pad>").save_pretrained(directory)
  torch.manual_seed(0)
  config = transformers.LlamaConfig(
      vocab_size=tok.get_vocab_size(), hidden_size=32, intermediate_size=64,
      num_hidden_layers=2, num_attention_heads=4, num_key_value_heads=2,
      max_position_embeddings=256, initializer_range=0.3, tie_word_embeddings=False,
      bos_token_id=SPECIALS.index("<bos>"), eos_token_id=SPECIALS.index("<eos>"))
  model = transformers.LlamaForCausalLM(config).eval()
  model.save_pretrained(directory, safe_serialization=True)
  return model


@contextlib.contextmanager
def serve(checkpoint, log_path, *flags):
  """Runs `pinchjax serve` on a free loopback port; yields its base URL."""
  env = {k: v for k, v in os.environ.items() if k != "XLA_FLAGS"}  # one device, as a user has
  with open(log_path, "w+") as log:  # a pipe could fill and stall
    proc = subprocess.Popen(
        [sys.executable, "-m", "pinchjax.cli", "serve", "--checkpoint", str(checkpoint),
         "--port", "0", "--model-name", "tiny", *flags],
        stdout=subprocess.PIPE, stderr=log, text=True, env=env)
    try:
      line = proc.stdout.readline()  # blocks until the server is up (or has died)
      match = re.search(r"on (http://127\.0\.0\.1:\d+)", line)
      if not match:
        log.seek(0)
        raise RuntimeError(f"server did not start: {line!r}\n{log.read()[-3000:]}")
      yield match.group(1)
    finally:
      proc.terminate()
      proc.wait(timeout=30)
