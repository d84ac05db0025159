"""Completions keep their leading space and characters split over tokens: text decoded in
context, for a sentencepiece model and a Hugging Face Metaspace (sentencepiece-style)
tokenizer, whose decoders drop the first word's space; and the generator's completions, token
texts and stream pieces all follow that definition."""
import json

import pytest
import tokenizers
from flax import nnx
from tokenizers import decoders, models, pre_tokenizers, trainers

from pinchjax.data import vocab as vocab_lib
from pinchjax.infer import decode, detokenize
from pinchjax.infer.generator import Request
from pinchjax.infer.jax_generator import JaxGenerator
from pinchjax.model.config import ModelConfig
from pinchjax.model.transformer import Transformer

CORPUS = ["the cat ate brown rice", "the quick brown fox", "hyvää huomenta",
          "привет мир", "你好世界 and brown rice", "the cat sat on the mat"] * 20


@pytest.fixture(scope="module", params=["sentencepiece", "metaspace"])
def vocab(request, tmp_path_factory):
  directory = tmp_path_factory.mktemp(request.param)
  if request.param == "sentencepiece":
    return vocab_lib.get_vocabulary(vocab_lib.train_sentencepiece(
        CORPUS, str(directory / "sp"), 400, byte_fallback=True))
  tok = tokenizers.Tokenizer(models.BPE(byte_fallback=True, unk_token="<unk>"))
  tok.pre_tokenizer = pre_tokenizers.Metaspace()
  tok.decoder = decoders.Sequence([decoders.Replace("▁", " "), decoders.ByteFallback(),
                                   decoders.Fuse(), decoders.Strip(" ", 1, 0)])
  tok.train_from_iterator(CORPUS, trainers.BpeTrainer(
      vocab_size=200, special_tokens=["<pad>", "<eos>", "<bos>", "<unk>"],
      initial_alphabet=[f"<0x{b:02X}>" for b in range(256)]))
  tok.save(str(directory / "tokenizer.json"))
  (directory / "tokenizer_config.json").write_text(json.dumps(
      {"eos_token": "<eos>", "bos_token": "<bos>"}))
  return vocab_lib.get_vocabulary(str(directory))


def test_a_continuation_keeps_its_leading_space(vocab):
  prompt, whole = "the cat", "the cat ate brown rice 你好"
  ids = list(vocab.encode(whole))
  cut = len(vocab.encode(prompt))
  assert ids[:cut] == list(vocab.encode(prompt))
  assert not vocab.decode(ids[cut:]).startswith(" ")  # the bug: decoding alone drops it
  text = detokenize.Continuation(vocab.decode, ids[:cut]).text(ids[cut:])
  assert text == " ate brown rice 你好"
  pieces = detokenize.pieces(vocab.decode, ids[:cut], ids[cut:])
  assert "".join(pieces) == text and len(pieces) == len(ids) - cut
  assert pieces[0].startswith(" ")


def test_generator_completions_are_decoded_in_context(vocab):
  cfg = ModelConfig(family="toy", vocab_size=vocab.vocab_size, d_model=32, num_layers=2,
                    num_heads=4, num_kv_heads=2, head_dim=8, mlp_dim=64, max_len=128)
  model = Transformer(cfg, rngs=nnx.Rngs(5))
  gen = JaxGenerator(model, vocab, "toy")
  streamed, tokens = [], []
  on_text = lambda piece, logprobs: streamed.append(piece) or tokens.extend(logprobs)
  prompts = ["the cat", "привет", tuple(vocab.encode("the quick brown"))]
  done = gen.generate([Request(p, 8, logprobs=1, on_text=on_text if i == 0 else None)
                       for i, p in enumerate(prompts)])
  for prompt, completion in zip(prompts, done):
    ids = gen.encode(prompt)
    new = decode.generate(model, [ids], 8, stop_token_ids=gen.stop_token_ids)[0].tokens
    base = gen.decode(ids)
    assert completion.text == gen.decode(ids + new)[len(base):]
    assert "".join(t.text for t in completion.logprobs[:len(new)]) == completion.text
  assert "".join(streamed) == done[0].text
  assert tokens == done[0].logprobs  # streamed logprobs: the same tokens, texts and numbers
  assert done[2].prompt_text == "the quick brown"


def test_a_stop_string_ends_the_logprobs_at_the_token_completing_it(vocab):
  cfg = ModelConfig(family="toy", vocab_size=vocab.vocab_size, d_model=32, num_layers=2,
                    num_heads=4, num_kv_heads=2, head_dim=8, mlp_dim=64, max_len=128)
  gen = JaxGenerator(Transformer(cfg, rngs=nnx.Rngs(5)), vocab, "toy")
  free = gen.generate([Request("the cat", 12, logprobs=0)])[0]
  # Two whole characters after the start (U+FFFD may be an unfinished one while streaming).
  stop = next(free.text[i:i + 2] for i in range(1, len(free.text) - 1)
              if "\ufffd" not in free.text[i:i + 2] and free.text[i:i + 2].strip())
  text = free.text[:free.text.index(stop)]
  streamed = []
  cut = gen.generate([Request("the cat", 12, stop=(stop,), logprobs=0,
                              on_text=lambda piece, lps: streamed.extend(lps))])[0]
  assert cut.text == text and cut.finish_reason == "stop"
  joined = "".join(t.text for t in cut.logprobs)
  assert joined.startswith(text + stop)  # the tokens through the stop string ...
  assert len("".join(t.text for t in cut.logprobs[:-1])) < len(text + stop)  # ... no further
  # The same tokens as without the stop (the last one's text now ends the answer).
  assert ([t.logprob for t in cut.logprobs] ==
          [t.logprob for t in free.logprobs[:len(cut.logprobs)]])
  assert [t.text for t in streamed] == [t.text for t in cut.logprobs]
