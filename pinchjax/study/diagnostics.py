"""Diagnostics of a base model on the toy world: what it knows before any tuning.

Why transfer does or does not happen depends on the base, so a study measures three things
per language (`toyworld`), written to diagnostics.json and shown beside the transfer matrix:

- cloze: share of held-out fact statements (the eval items' facts, never tuned on) whose
  answer the base predicts greedily, token by token, after the words before it ("after
  monday comes" -> "tuesday"): does it know the facts in that language?
- dictionary: forced choice on dictionary lines "w_en = ?" and "w_L = ?" between English
  and the language: is the right word's log-probability the highest among the word and
  `distractors` other concepts' words of the target language (chance 1/(distractors+1))?
  Does it link the languages?
- similarity, per layer (0: embeddings): mean cosine of the mean-pooled hidden states of
  parallel statements in English and the language, each language's mean removed, against
  the same with the pairs shuffled (about 0), and retrieval@1 (is the English sentence's
  nearest neighbour among the language's sentences its translation; chance 1/n). Do the
  languages share a representation?
"""
from __future__ import annotations

import math
import os
import random
from typing import Any, Sequence

import jax
import jax.numpy as jnp
import numpy as np
import seqio
from flax import nnx

from pinchjax.data.toyworld import concepts, lexicon, sentences, tasks

BATCH = 64
FILE = "diagnostics.json"
PIVOT = "en"


def _encode(vocab: seqio.Vocabulary, prefix: str, target: str) -> tuple[list[int], list[int]]:
  """(prefix ids, target ids) such that their concatenation encodes `prefix target`."""
  head = list(vocab.encode(prefix))
  full = list(vocab.encode(f"{prefix} {target}"))
  if full[:len(head)] == head and len(full) > len(head):
    return head, full[len(head):]
  return head, list(vocab.encode(target))


def _batches(seqs: Sequence[Sequence[int]]):
  """Right-padded [B, L] tokens and segment ids (0: padding), padded to a power of two so
  few shapes compile."""
  for i in range(0, len(seqs), BATCH):
    chunk = seqs[i:i + BATCH]
    length = 1 << max(3, math.ceil(math.log2(max(map(len, chunk)))))
    tokens = np.zeros((BATCH, length), np.int32)
    segments = np.zeros((BATCH, length), np.int32)
    for row, s in enumerate(chunk):
      tokens[row, :len(s)] = s
      segments[row, :len(s)] = 1
    yield len(chunk), tokens, segments


def _positions(tokens: np.ndarray) -> jax.Array:
  return jnp.broadcast_to(jnp.arange(tokens.shape[1], dtype=jnp.int32), tokens.shape)


@nnx.jit
def _log_probs_jit(model, tokens: jax.Array, segments: jax.Array) -> jax.Array:
  logits, _ = model(tokens, _positions(tokens), segments)
  return jax.nn.log_softmax(logits, axis=-1)


def _log_probs(model, tokens: np.ndarray, segments: np.ndarray) -> np.ndarray:
  return np.asarray(_log_probs_jit(model, jnp.asarray(tokens), jnp.asarray(segments)))


def continuation_scores(model, pairs: Sequence[tuple[list[int], list[int]]]
                        ) -> tuple[np.ndarray, np.ndarray]:
  """For each (prefix, target): whether greedy decoding after the prefix yields the target
  (every target token the argmax), and the target's total log-probability."""
  greedy, total = [], []
  seqs = [p + t for p, t in pairs]
  for start, (n, tokens, segments) in zip(range(0, len(seqs), BATCH), _batches(seqs)):
    lp = _log_probs(model, tokens, segments)
    for row in range(n):
      prefix, target = pairs[start + row]
      at = np.arange(len(prefix) - 1, len(prefix) + len(target) - 1)
      greedy.append(bool(np.all(lp[row, at].argmax(-1) == target)))
      total.append(float(lp[row, at, target].sum()))
  return np.asarray(greedy), np.asarray(total)


def layer_states(model, tokens: np.ndarray, segments: np.ndarray) -> list[np.ndarray]:
  """The residual stream after the embedding and after each block, [B, L, D] each.

  Transformer.__call__ returns only logits; this runs its blocks one by one (the toy models
  are small, unscanned float32 decoders without a cache)."""
  if model.cfg.scan_layers or model.cfg.embed_scale:
    raise ValueError("layer_states handles unscanned models without embedding scaling")
  return [np.asarray(s) for s in _layer_states_jit(model, jnp.asarray(tokens),
                                                   jnp.asarray(segments))]


@nnx.jit
def _layer_states_jit(model, tokens: jax.Array, segments: jax.Array) -> list[jax.Array]:
  cfg = model.cfg
  x = jnp.take(model.embed[...], tokens, axis=0).astype(cfg.jnp_dtype)
  positions = _positions(tokens)
  states = [x]
  for i, block in enumerate(model.layers):
    x, _ = block(x, positions, segments, None, cfg.layer_kind(i) == "local")
    states.append(x)
  return states


def pooled_states(model, seqs: Sequence[Sequence[int]]) -> np.ndarray:
  """[layers + 1, n, D]: each sequence's hidden states averaged over its tokens."""
  out = []
  for n, tokens, segments in _batches(seqs):
    mask = segments[:n, :, None].astype(np.float32)
    out.append(np.stack([(s[:n] * mask).sum(1) / mask.sum(1)
                         for s in layer_states(model, tokens, segments)]))
  return np.concatenate(out, axis=1)


def similarity(a: np.ndarray, b: np.ndarray, seed: int = 0) -> dict[str, float]:
  """Parallel rows a[i] ~ b[i] ([n, D] each): mean cosine of the pairs and of shuffled pairs
  (each side centred on its own mean), and retrieval@1 of b[i] for a[i] by cosine."""
  def unit(x: np.ndarray) -> np.ndarray:
    x = x - x.mean(0)
    return x / np.maximum(np.linalg.norm(x, axis=1, keepdims=True), 1e-9)
  a, b = unit(a), unit(b)
  cos = a @ b.T
  n = len(a)
  perm = np.random.default_rng(seed).permutation(n)
  perm = np.where(perm == np.arange(n), (perm + 1) % n, perm)  # no pair kept by chance
  return {"parallel": float(np.diag(cos).mean()), "shuffled": float(cos[np.arange(n), perm].mean()),
          "retrieval": float(np.mean(cos.argmax(1) == np.arange(n)))}


def _dictionary_items(lang: str, distractors: int, rng: random.Random
                      ) -> list[tuple[str, str, list[str]]]:
  """(source word, right target word, distractor target words) both ways between the pivot
  and `lang`, one item per concept and direction."""
  items = []
  for src, dst in ((PIVOT, lang), (lang, PIVOT)):
    s, d = lexicon.get(src), lexicon.get(dst)
    for c in concepts.CONCEPTS:
      others = rng.sample([o for o in concepts.CONCEPTS if o != c], distractors)
      items.append((s.word(c), d.word(c), [d.word(o) for o in others]))
  return items


def dictionary_accuracy(model, vocab: seqio.Vocabulary, lang: str, distractors: int = 8,
                        seed: int = 0) -> float:
  items = _dictionary_items(lang, distractors, random.Random(f"diagnostics-{seed}-{lang}"))
  pairs = [_encode(vocab, f"{src} =", w) for src, right, wrong in items
           for w in [right, *wrong]]
  _, lp = continuation_scores(model, pairs)
  lp = lp.reshape(len(items), distractors + 1)
  return float(np.mean(lp.argmax(1) == 0))


def toyworld(model, vocab: seqio.Vocabulary, languages: Sequence[str], seed: int = 0,
             eval_fraction: float = 0.3, list_items: int = 400, max_items: int = 300,
             distractors: int = 8) -> dict[str, Any]:
  """The three diagnostics (module docstring) per language, on the held-out facts of the
  world built with `seed`, `eval_fraction` and `list_items` (at most `max_items`)."""
  held_out = tasks.split_items(seed, eval_fraction, list_items)["eval"][:max_items]
  pivot_states = pooled_states(model, [vocab.encode(sentences.statement(f, PIVOT))
                                       for f in held_out])
  out: dict[str, Any] = {"items": len(held_out), "dictionary_chance": 1 / (distractors + 1),
                         "pivot": PIVOT, "languages": {}}
  for lang in languages:
    cloze, _ = continuation_scores(
        model, [_encode(vocab, *sentences.cloze(f, lang)) for f in held_out])
    row: dict[str, Any] = {"cloze": float(cloze.mean()), "cloze_by_family": {
        family: float(np.mean([ok for f, ok in zip(held_out, cloze) if f.relation == family]))
        for family in dict.fromkeys(f.relation for f in held_out)}}
    if lang != PIVOT:
      row["dictionary"] = dictionary_accuracy(model, vocab, lang, distractors, seed)
      states = pooled_states(model, [vocab.encode(sentences.statement(f, lang))
                                     for f in held_out])
      layers = [similarity(p, s, seed) for p, s in zip(pivot_states, states)]
      row["similarity"] = layers
      best = max(range(len(layers)), key=lambda i: layers[i]["parallel"] - layers[i]["shuffled"])
      row["best_layer"] = best
    out["languages"][lang] = row
  return out


def execute(step, inputs: dict[str, dict[str, str]], out_dir: str) -> dict[str, str]:
  """The study's `diagnose` step (grid.DIAGNOSE): loads the base (the pretrain step's, else
  the named checkpoint and `vocabulary`), runs `fn(model, vocab, languages, **kwargs)` and
  writes FILE."""
  # pylint: disable=import-outside-toplevel
  from pinchjax.data import vocab as vocab_lib
  from pinchjax.checkpoints import load
  from pinchjax.study import dotted, grid, runner, step_gin
  p = step.params
  step_gin.configure(step, inputs)
  base = inputs.get(grid.PRETRAIN)  # a pretrained base's own files, else the named ones
  if base is None and "vocabulary" not in p:
    raise ValueError("Study.diagnose needs 'vocabulary' (the base's tokenizer file) when the "
                     "study does not pretrain its base")
  model, _ = load.load_model(base["checkpoint"] if base else runner.find_file(p["checkpoint"]))
  vocab = vocab_lib.get_vocabulary(base["vocabulary"] if base
                                   else runner.find_file(p["vocabulary"]))
  result = dotted.resolve(p["fn"])(model, vocab, p["languages"], **p.get("kwargs", {}))
  runner.write_json(os.path.join(out_dir, FILE), result)
  return {"diagnostics": FILE}
