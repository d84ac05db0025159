"""Vocabularies as seqio.Vocabulary: sentencepiece models and Hugging Face tokenizer.json files.

`get_vocabulary(path)` picks the kind from the path: a `.model` file is a sentencepiece model
(seqio.SentencePieceVocabulary); a `tokenizer.json` file (or a directory holding one) is a
Hugging Face tokenizer (`HfTokenizerVocabulary`). `train_sentencepiece` trains a model with
seqio's id conventions (pad 0, EOS 1, UNK 2, no BOS) and the chat markers as single tokens.

seqio pads with id 0. For Hugging Face tokenizers id 0 may be a real token (Llama 3's "!"),
so padding is told apart from text by `decoder_segment_ids == 0` / loss weights, never by id.
"""
from __future__ import annotations

import hashlib
import json
import os
from typing import Iterable, Sequence

import gin
import numpy as np
import seqio
import sentencepiece as spm
import tensorflow as tf
import tokenizers

from pinchjax.data import hf_chat_template


def _config_token(config: dict, key: str) -> str | None:
  value = config.get(key)
  if isinstance(value, dict):  # older files: {"content": "</s>", ...}
    value = value.get("content")
  return value or None


class HfTokenizerVocabulary(seqio.Vocabulary):
  """A Hugging Face `tokenizer.json` as a seqio Vocabulary.

  Text is encoded without the tokenizer's automatic special tokens (BOS is the decoder's start
  token, see pinchjax.data.chat), while special strings written in the text, such as
  `<|im_start|>`, still become their single ids. EOS and BOS come from the arguments or else
  from the `tokenizer_config.json` next to the file; a missing EOS is an error.
  """

  def __init__(self, path: str, eos_token: str | None = None, bos_token: str | None = None,
               extra_ids: int = 0):
    if os.path.isdir(path):
      path = os.path.join(path, "tokenizer.json")
    if not os.path.isfile(path):
      raise FileNotFoundError(f"no Hugging Face tokenizer file at {path}")
    self.path = path
    self._tokenizer = tokenizers.Tokenizer.from_file(path)
    config_path = os.path.join(os.path.dirname(path), "tokenizer_config.json")
    config = {}
    if os.path.isfile(config_path):
      with open(config_path, encoding="utf-8") as f:
        config = json.load(f)
    self._eos_token = eos_token or _config_token(config, "eos_token")
    self._bos_token = bos_token or _config_token(config, "bos_token")
    if self._eos_token is None:
      raise ValueError(f"{path}: no EOS token; pass eos_token= or put a tokenizer_config.json "
                       "with 'eos_token' next to it")
    self._eos_id = self._token_id(self._eos_token, "eos_token")
    self._bos_id = (self._token_id(self._bos_token, "bos_token")
                    if self._bos_token is not None else None)
    self._unk_id = self._find_unk()
    super().__init__(extra_ids=extra_ids)

  def _token_id(self, token: str, what: str) -> int:
    token_id = self._tokenizer.token_to_id(token)
    if token_id is None:
      raise ValueError(f"{self.path}: {what} {token!r} is not a token of this tokenizer")
    return token_id

  def _find_unk(self) -> int | None:
    unk = getattr(self._tokenizer.model, "unk_token", None)
    return self._tokenizer.token_to_id(unk) if unk else None

  @property
  def eos_token(self) -> str:
    return self._eos_token

  @property
  def bos_token(self) -> str | None:
    return self._bos_token

  @property
  def bos_id(self) -> int | None:
    return self._bos_id

  @property
  def eos_id(self) -> int:
    return self._eos_id

  @property
  def unk_id(self) -> int | None:
    return self._unk_id

  @property
  def _base_vocab_size(self) -> int:
    return self._tokenizer.get_vocab_size(with_added_tokens=True)

  def _encode(self, s: str) -> list[int]:
    return self._tokenizer.encode(s, add_special_tokens=False).ids

  def _decode(self, ids: Sequence[int]) -> str:
    # seqio keeps the EOS it cut at; drop it so decoded text is only text.
    ids = [int(i) for i in ids if int(i) != self._eos_id]
    return self._tokenizer.decode(ids, skip_special_tokens=False)

  def _encode_tf(self, s: tf.Tensor) -> tf.Tensor:
    def encode(b: np.ndarray | bytes) -> np.ndarray:
      b = b.item() if isinstance(b, np.ndarray) else b  # a 0-d array of bytes
      return np.asarray(self._encode(b.decode("utf-8")), np.int32)
    ids = tf.numpy_function(encode, [s], tf.int32, stateful=False)
    ids.set_shape([None])
    return ids

  def _decode_tf(self, ids: tf.Tensor) -> tf.Tensor:
    def decode(batch: np.ndarray) -> np.ndarray:
      flat = batch.reshape(-1, batch.shape[-1])
      texts = [self.decode(row.tolist()).encode("utf-8") for row in flat]
      return np.asarray(texts, dtype=object).reshape(batch.shape[:-1])
    out = tf.numpy_function(decode, [ids], tf.string, stateful=False)
    out.set_shape(ids.shape[:-1])
    return out

  def __eq__(self, other) -> bool:
    return (isinstance(other, HfTokenizerVocabulary) and fingerprint(self) == fingerprint(other))

  def __hash__(self) -> int:
    return hash(fingerprint(self))

  def __str__(self) -> str:
    return f"HfTokenizerVocabulary({self.path}, eos={self._eos_token!r}, bos={self._bos_token!r})"


@gin.configurable
def get_vocabulary(path: str = gin.REQUIRED, extra_ids: int = 0,
                   eos_token: str | None = None, bos_token: str | None = None
                   ) -> seqio.Vocabulary:
  """A sentencepiece `.model` file or a Hugging Face `tokenizer.json` (or its directory)."""
  if path.endswith(".model"):
    if not os.path.isfile(path):
      raise FileNotFoundError(f"no sentencepiece model at {path}")
    return seqio.SentencePieceVocabulary(path, extra_ids=extra_ids)
  if path.endswith(".json") or os.path.isdir(path):
    return HfTokenizerVocabulary(path, eos_token=eos_token, bos_token=bos_token,
                                 extra_ids=extra_ids)
  raise ValueError(f"{path}: expected a sentencepiece .model file or a Hugging Face "
                   "tokenizer.json (or a directory holding one)")


def fingerprint(vocab: seqio.Vocabulary) -> str:
  """A short content hash, to tell whether two registrations used the same vocabulary."""
  h = hashlib.sha256(type(vocab).__name__.encode())
  if isinstance(vocab, seqio.SentencePieceVocabulary):
    h.update(vocab.sp_model)
  elif isinstance(vocab, HfTokenizerVocabulary):
    with open(vocab.path, "rb") as f:
      h.update(f.read())
    h.update(f"{vocab.eos_id}/{vocab.bos_id}".encode())
    # The tokenizer's chat template frames examples rendered with it ("tokenizer" template).
    h.update((hf_chat_template.read_template(os.path.dirname(vocab.path)) or "").encode())
  else:
    h.update(str(vocab).encode())
  h.update(str(vocab.extra_ids).encode())
  return h.hexdigest()[:16]


def train_sentencepiece(texts: Iterable[str], model_prefix: str, vocab_size: int, *,
                        model_type: str = "unigram", user_defined_symbols: Sequence[str] = (),
                        character_coverage: float = 1.0, byte_fallback: bool = False,
                        hard_vocab_limit: bool = False, num_threads: int = 1) -> str:
  """Trains a sentencepiece model on `texts` (split into lines); returns the .model path.

  Ids follow seqio: pad 0, EOS 1 (`</s>`), UNK 2, no BOS. `user_defined_symbols` (e.g.
  `chat.markers(["toy"])`) are kept as single tokens. With `hard_vocab_limit=False` a small
  corpus yields a smaller vocabulary instead of failing. One thread keeps training
  deterministic.
  """
  lines = (line for text in texts for line in text.splitlines() if line.strip())
  os.makedirs(os.path.dirname(os.path.abspath(model_prefix)), exist_ok=True)
  spm.SentencePieceTrainer.train(
      sentence_iterator=lines, model_prefix=model_prefix, vocab_size=vocab_size,
      model_type=model_type, character_coverage=character_coverage,
      user_defined_symbols=list(user_defined_symbols), byte_fallback=byte_fallback,
      hard_vocab_limit=hard_vocab_limit, num_threads=num_threads,
      pad_id=0, eos_id=1, unk_id=2, bos_id=-1, max_sentence_length=1 << 16,
      shuffle_input_sentence=False, minloglevel=2)
  return f"{model_prefix}.model"
