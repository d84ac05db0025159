"""Batched generation with a KV cache: one prefill over the prompts, then one `lax.while_loop`.

Prompts of different lengths share a batch right-padded: row b's prompt sits at positions
0..len_b-1 (padding has segment id 0); the prefill stores positions 0..len_b-2 in the cache,
and every step of the loop, from the first, feeds each row one token at its own position.
The model never stores padding in the cache and masks keys by their positions, so a row's
tokens depend only on its prompt, its sampling settings and its seed, never on its batch or
its padding.

Shapes are bucketed (batch, prompt length and step count rounded up to powers of two, the
step count to the caller's `step_buckets` when given; stop sequences padded to one layout) and
greedy-or-sampled and new tokens' logprobs are runtime conditions, so a stream of batches
reuses a handful of compiled programs (pinchjax.infer.warmup compiles them all up front).

Sharding: given a `Partitioner` (mesh + logical axis rules), rows are split by the `batch` rule
and the cache by its own `cache_*` axes (pinchjax.model.kv_cache), and the model's activation
constraints apply; the batch is rounded up to a multiple of the devices rows are split over.
"""
from __future__ import annotations

import contextlib
import dataclasses
import functools
import itertools
import threading
from typing import Callable, Sequence

import jax
import jax.numpy as jnp
import numpy as np
from flax import nnx
from jax.experimental import io_callback

from pinchjax.infer import logprobs as logprobs_lib
from pinchjax.infer.logprobs import Scored
from pinchjax.infer.sampling import (SamplingParams, greedy_tokens, row_keys, sample_tokens,
                                    stack_params)
from pinchjax.model import kv_cache
from pinchjax.model import sharding as rules_lib

MIN_BUCKET = 8
# The stop-sequence layout every batch shares: a server's request stops (at most 4, plus the
# template's end-of-turn marker) of at most STOP_TOKENS tokens each fit in it.
STOP_SEQUENCES = 8
STOP_TOKENS = 16
# Where decoding runs: a mesh and the rules mapping logical axes onto it (None: one device).
Sharding = rules_lib.Partitioner | None
# (step, tokens [rows], active [rows], scores): the tokens of one step; active rows were still
# going; with logprobs asked for, scores = (logprob [rows], top logprobs [rows, k], their ids
# [rows, k]) of the step's tokens, else None.
StepCallback = Callable[[int, np.ndarray, np.ndarray, tuple | None], None]
# Streams being decoded, by id: the compiled loop calls back with an id, not a function, so
# streaming never recompiles.
_STREAMS: dict[int, StepCallback] = {}
_STREAM_IDS = itertools.count(1)
_STREAMS_LOCK = threading.Lock()


@dataclasses.dataclass(frozen=True)
class Generated:
  tokens: list[int]  # new tokens, without the stop token or stop sequence
  finish_reason: str  # "stop" (a stop token or sequence) or "length" (max_new_tokens reached)
  ended_by: tuple[int, ...] = ()  # the stop token or stop sequence that ended the row
  # Per token of `tokens + ended_by` / of the prompt, when asked for (see `generate`).
  logprobs: list[Scored] | None = None
  prompt_logprobs: list[Scored] | None = None


def bucket(n: int, minimum: int = MIN_BUCKET) -> int:
  """The power of two >= n (at least `minimum`)."""
  return max(minimum, 1 << max(n - 1, 0).bit_length())


def generate(model: nnx.Module, prompts: Sequence[Sequence[int]],
             max_new_tokens: int | Sequence[int],
             sampling: SamplingParams | Sequence[SamplingParams] = SamplingParams(),
             stop_token_ids: Sequence[int] = (), pad_batch: bool = True,
             on_step: StepCallback | None = None, sharding: Sharding = None,
             stop_sequences: Sequence[Sequence[Sequence[int]]] | None = None,
             logprobs: int | None | Sequence[int | None] = None,
             prompt_logprobs: int | None | Sequence[int | None] = None,
             step_buckets: Sequence[int] = ()) -> list[Generated]:
  """Generates for each prompt (token ids, start token included) until a stop token, one of
  its stop sequences or its max_new_tokens.

  Args:
    model: a pinchjax Transformer.
    prompts: token ids per row; each non-empty.
    max_new_tokens: one limit for all rows or one per row.
    sampling: one setting for all rows or one per row (each with its own seed).
    stop_token_ids: ids that end a row (EOS, end-of-turn); not part of the output.
    pad_batch: round the batch up to a power of two to reuse compiled programs.
    on_step: called from inside the decode loop with each step's tokens (for streaming).
    sharding: the partitioner (mesh and rules) to decode on; the model's parameters should
      live on that mesh.
    stop_sequences: per row, token sequences that end it when its newest tokens spell one;
      the sequence is not part of the output.
    logprobs: one k for all rows or one per row: each new token's logprob (of the raw
      distribution) and its k most likely alternatives; None: none.
    prompt_logprobs: the same for each prompt token (the first has none), from the prefill.
      A row with max_new_tokens 0 only scores its prompt.
    step_buckets: the loop's static length is the smallest of these that holds the largest
      max_new_tokens (rows still stop at their own limits), so that a server compiles only
      these; none holding it (or none given): that limit's power of two.
  """
  batch = len(prompts)
  if not batch:
    return []
  limits = _per_row(max_new_tokens, batch, "max_new_tokens")
  settings = _per_row(sampling, batch, "sampling")
  if any(len(p) == 0 for p in prompts):
    raise ValueError("every prompt needs at least one token (the start token)")
  if min(limits) < 0:
    raise ValueError(f"max_new_tokens must be >= 0, got {min(limits)}")
  new_k = _per_row_k(logprobs, batch, "logprobs")
  prompt_k = _per_row_k(prompt_logprobs, batch, "prompt_logprobs")
  vocab = model.cfg.vocab_size
  rows = _rows(bucket(batch, 1) if pad_batch else batch, sharding)
  steps = bucket(max(limits), 1)
  steps = min((s for s in step_buckets if s >= steps), default=steps)
  tokens, lengths = _pad(prompts, rows)
  row_limits = np.zeros(rows, np.int32)
  row_limits[:batch] = limits
  params = stack_params(list(settings) + [SamplingParams()] * (rows - batch))
  stops = np.asarray(sorted(set(stop_token_ids)) or [-1], np.int32)
  row_sequences = ([()] * batch if stop_sequences is None else
                   _per_row(stop_sequences, batch, "stop_sequences"))
  sequences = _stop_sequence_array(row_sequences, rows)
  scored_rows = np.zeros(rows, bool)
  scored_rows[:batch] = [k is not None for k in new_k]
  graphdef, state = nnx.split(model)
  stream_id = 0
  if on_step is not None:
    with _STREAMS_LOCK:
      stream_id = next(_STREAM_IDS)
      _STREAMS[stream_id] = lambda step, tok, act, scores: on_step(
          step, tok[:batch], act[:batch],
          tuple(a[:batch] for a in scores) if scored_rows.any() else None)
  try:
    with _mesh_context(sharding):
      res = _generate_jit(
          graphdef, state, *_place(sharding, tokens, lengths, row_limits, params, sequences,
                                   scored_rows),
          stops, np.int32(stream_id), steps=steps, stream=on_step is not None,
          sharding=sharding, new_k=logprobs_lib.top_width(vocab),
          prompt_k=None if all(k is None for k in prompt_k) else logprobs_lib.top_width(vocab))
    if not scored_rows.any():  # computed only where a row asks (see `_decode_rows`)
      res = {k: v for k, v in res.items() if k not in ("lp", "top_lp", "top_id")}
    res = jax.tree.map(np.asarray, res)
  finally:
    with _STREAMS_LOCK:
      _STREAMS.pop(stream_id, None)
  results = []
  stop_set = set(stop_token_ids)
  for i in range(batch):
    row = res["out"][i, :res["counts"][i]].tolist()
    ends = [len(q) for q in row_sequences[i] if q and row[-len(q):] == list(q)]
    cut = 1 if row and row[-1] in stop_set else max(ends, default=0)
    scored = prompt_scored = None
    if new_k[i] is not None:
      scored = logprobs_lib.scored_row(row, *(res[n][i] for n in ("lp", "top_lp", "top_id")),
                                       new_k[i])
    if prompt_k[i] is not None:
      prompt_scored = logprobs_lib.scored_row(
          prompts[i], np.roll(res["prompt_lp"][i], 1),
          *(np.roll(res[n][i], 1, axis=0) for n in ("prompt_top_lp", "prompt_top_id")),
          prompt_k[i], first=1)
    results.append(Generated(row[:len(row) - cut], "stop" if cut else "length",
                             tuple(row[len(row) - cut:]), scored, prompt_scored))
  return results


def _per_row_k(value, batch: int, name: str) -> list[int | None]:
  ks = [value] * batch if value is None or isinstance(value, int) else list(value)
  if len(ks) != batch:
    raise ValueError(f"{name} has {len(ks)} entries for {batch} prompts")
  if any(k is not None and not 0 <= k <= logprobs_lib.MAX_TOP for k in ks):
    raise ValueError(f"{name} must be None or in [0, {logprobs_lib.MAX_TOP}], got {ks}")
  return ks


def _stop_sequence_array(row_sequences: Sequence[Sequence[Sequence[int]]], rows: int
                         ) -> np.ndarray:
  """[rows, N, S] int32: each row's stop sequences right-aligned, -1 before them. N and S are
  at least STOP_SEQUENCES and STOP_TOKENS (bucketed beyond), so that every batch whose
  sequences fit, none included, shares one layout and one compiled program."""
  n = max(len([q for q in seqs if q]) for seqs in row_sequences)
  width = max([len(q) for seqs in row_sequences for q in seqs] + [1])
  out = np.full((rows, max(bucket(n, 1), STOP_SEQUENCES), max(bucket(width, 1), STOP_TOKENS)),
                -1, np.int32)
  for i, seqs in enumerate(row_sequences):
    for j, q in enumerate(q for q in seqs if q):
      out[i, j, out.shape[2] - len(q):] = q
  return out


def _per_row(value, batch: int, name: str) -> list:
  if isinstance(value, (int, SamplingParams)):
    return [value] * batch
  value = list(value)
  if len(value) != batch:
    raise ValueError(f"{name} has {len(value)} entries for {batch} prompts")
  return value


def _rows(rows: int, sharding: Sharding) -> int:
  """`rows` rounded up to a multiple of the devices the `batch` rule splits rows over."""
  if sharding is None:
    return rows
  mesh, rules = sharding.mesh, sharding.rules
  split = int(np.prod([mesh.shape[a] for a in rules_lib.mesh_axes_of(("batch",), rules)[0]]))
  return -(-rows // split) * split


def _pad(prompts: Sequence[Sequence[int]], rows: int) -> tuple[np.ndarray, np.ndarray]:
  """Right-padded tokens [rows, bucketed length] and lengths [rows] (extra rows: 1 token)."""
  tokens = np.zeros((rows, bucket(max(len(p) for p in prompts))), np.int32)
  lengths = np.ones(rows, np.int32)
  for i, p in enumerate(prompts):
    tokens[i, :len(p)] = p
    lengths[i] = len(p)
  return tokens, lengths


def _mesh_context(sharding: Sharding):
  return contextlib.nullcontext() if sharding is None else sharding.activate()


def _place(sharding: Sharding, *arrays):
  """Device placement of per-row inputs, rows split by the `batch` rule (unchanged without a
  mesh)."""
  if sharding is None:
    return arrays

  def put(x):
    return sharding.place(x, ("batch",) + (None,) * (x.ndim - 1))
  return jax.tree.map(put, arrays)


def _emit(stream_id, step, tokens, active, *scores) -> None:
  _STREAMS[int(stream_id)](int(step), np.asarray(tokens), np.asarray(active),
                           tuple(np.asarray(a) for a in scores))


@functools.partial(jax.jit, static_argnames=("graphdef", "steps", "stream", "sharding",
                                             "new_k", "prompt_k"))
def _generate_jit(graphdef, state, tokens, lengths, limits, params, sequences, scored_rows,
                  stops, stream_id, *, steps: int, stream: bool, sharding: Sharding,
                  new_k: int, prompt_k: int | None):
  decode_rows = functools.partial(_decode_rows, graphdef, steps=steps, stream=stream,
                                  new_k=new_k, prompt_k=prompt_k)
  split = _row_parallel_axes(sharding)
  # Streaming reports all rows' tokens of a step in one callback, so it keeps one loop.
  if split is None or stream:
    return decode_rows(state, tokens, lengths, limits, params, sequences, scored_rows, stops,
                       stream_id, sharding=sharding)
  # Rows split over devices, weights replicated: each device decodes its own rows in a
  # loop of its own, stopping when they are done, with no per-step cross-device traffic.
  rows = jax.sharding.PartitionSpec(split)
  local = jax.shard_map(
      lambda *a: decode_rows(*a, sharding=None), mesh=sharding.mesh,
      in_specs=(jax.sharding.PartitionSpec(), rows, rows, rows, rows, rows, rows,
                jax.sharding.PartitionSpec(), jax.sharding.PartitionSpec()),
      out_specs=rows, check_vma=False)
  with rules_lib.without_constraints():
    return local(state, tokens, lengths, limits, params, sequences, scored_rows, stops,
                 stream_id)


def _row_parallel_axes(sharding: Sharding) -> tuple[str, ...] | None:
  """The mesh axes rows are split over, when nothing else is split (weights whole on every
  device, e.g. a `data`-only mesh); None otherwise (e.g. FSDP or tensor parallelism)."""
  if sharding is None:
    return None
  mesh, rules = sharding.mesh, sharding.rules
  split = rules_lib.mesh_axes_of(("batch",), rules)[0]
  others = {a for name, axes in rules if name not in ("batch", "cache_batch") for a in axes}
  if any(mesh.shape[a] > 1 for a in others):
    return None
  return split


def _decode_rows(graphdef, state, tokens, lengths, limits, params, sequences, scored_rows,
                 stops, stream_id, *, steps: int, stream: bool, sharding: Sharding,
                 new_k: int, prompt_k: int | None) -> dict[str, jax.Array]:
  """The tokens and counts of each row, the new tokens' logprobs (zeros unless a row of
  `scored_rows` asks) and the prompt's when asked for (`prompt_k`), as a dict of arrays.

  Whether all rows are greedy and whether any asks for logprobs are runtime conditions, not
  static ones, so that one program serves both sides: the side not taken costs nothing."""
  model = nnx.merge(graphdef, state)
  rows, prompt_len = tokens.shape
  cache = kv_cache.init_cache(model.cfg, rows, prompt_len + steps, model.cfg.jnp_dtype)
  if sharding is not None:
    cache = jax.lax.with_sharding_constraint(cache, cache.shardings(sharding))
  # Prefill all but each prompt's last token; the loop's first step feeds that token. Unless
  # prompt logprobs are asked for, only the cache of the prefill is used, so its logits (a
  # [rows, length, vocab] product) are never computed.
  positions = jnp.broadcast_to(jnp.arange(prompt_len, dtype=jnp.int32), tokens.shape)
  prefill_logits, cache = model(tokens, positions, segment_ids=(
      positions < lengths[:, None] - 1).astype(jnp.int32), cache=cache)
  res = {}
  if prompt_k is not None:  # position p's logits score prompt token p + 1
    following = jnp.concatenate([tokens[:, 1:], jnp.zeros_like(tokens[:, :1])], axis=1)
    res["prompt_lp"], res["prompt_top_lp"], res["prompt_top_id"] = (
        logprobs_lib.token_logprobs(prefill_logits, following, prompt_k))

  greedy_only = jnp.all(params["temperature"] == 0)
  scoring = jnp.any(scored_rows)

  def pick(logits, step):
    return jax.lax.cond(greedy_only, greedy_tokens, lambda x: sample_tokens(
        x, row_keys(params["seed"], step), params["temperature"], params["top_k"],
        params["top_p"]), logits)

  def score(logits, chosen):
    unscored = lambda x, t: (jnp.zeros(t.shape, jnp.float32),
                             jnp.zeros(t.shape + (new_k,), jnp.float32),
                             jnp.zeros(t.shape + (new_k,), jnp.int32))
    return jax.lax.cond(scoring, functools.partial(logprobs_lib.token_logprobs, k=new_k),
                        unscored, logits, chosen)

  def cond(carry):
    step, _, _, _, done, _, _, _, _ = carry
    return (step < steps) & ~jnp.all(done)

  def body(carry):
    step, cache, token, pos, done, out, counts, recent, scores = carry
    logits, cache = model(token[:, None], pos[:, None], segment_ids=jnp.ones_like(token)[:, None],
                          cache=cache)
    nxt = pick(logits[:, 0], step)
    new = score(logits[:, 0], nxt)
    if stream:
      io_callback(_emit, None, stream_id, step, nxt, ~done, *new, ordered=True)
    scores = {name: scores[name].at[:, step].set(value)
              for name, value in zip(("lp", "top_lp", "top_id"), new)}
    out = out.at[:, step].set(jnp.where(done, 0, nxt))
    counts = counts + (~done).astype(jnp.int32)
    # The newest generated tokens against each stop sequence (-1 entries match anything).
    recent = jnp.concatenate([recent[:, 1:], nxt[:, None]], axis=1)
    spelled = jnp.all((sequences == -1) | (sequences == recent[:, None, :]), axis=-1)
    spelled &= jnp.any(sequences != -1, axis=-1)
    done = done | jnp.isin(nxt, stops) | jnp.any(spelled, axis=-1) | (step + 1 >= limits)
    return step + 1, cache, nxt, pos + 1, done, out, counts, recent, scores

  last = jnp.take_along_axis(tokens, (lengths - 1)[:, None], axis=1)[:, 0]
  scores = {
      "lp": jnp.zeros((rows, steps), jnp.float32),
      "top_lp": jnp.zeros((rows, steps, new_k), jnp.float32),
      "top_id": jnp.zeros((rows, steps, new_k), jnp.int32)}
  # `recent` starts with -2, which no token and no stop sequence entry equals. A row with a
  # limit of 0 (scoring its prompt only) starts done.
  carry = (jnp.int32(0), cache, last, lengths - 1, limits < 1,
           jnp.zeros((rows, steps), jnp.int32), jnp.zeros(rows, jnp.int32),
           jnp.full((rows, sequences.shape[2]), -2, jnp.int32), scores)
  _, _, _, _, _, out, counts, _, scores = jax.lax.while_loop(cond, body, carry)
  return {"out": out, "counts": counts, **scores, **res}


def score_next_token_logprobs(model: nnx.Module, prompts: Sequence[Sequence[int]],
                              candidate_token_ids: Sequence[int],
                              sharding: Sharding = None) -> np.ndarray:
  """log p(candidate | prompt) for each prompt and candidate token: [len(prompts), C].

  One batched forward pass without a cache (the local judge reads verdict-token
  probabilities this way); each row's score depends only on its own prompt.
  """
  batch = len(prompts)
  if not batch:
    return np.zeros((0, len(candidate_token_ids)), np.float32)
  tokens, lengths = _pad(prompts, _rows(batch, sharding))
  graphdef, state = nnx.split(model)
  with _mesh_context(sharding):
    out = _score_jit(graphdef, state, *_place(sharding, tokens, lengths),
                     np.asarray(candidate_token_ids, np.int32), sharding=sharding)
  return np.asarray(out)[:batch]


@functools.partial(jax.jit, static_argnames=("graphdef", "sharding"))
def _score_jit(graphdef, state, tokens, lengths, candidates, *, sharding: Sharding):
  del sharding  # a static argument so that each mesh gets its own trace
  model = nnx.merge(graphdef, state)
  positions = jnp.broadcast_to(jnp.arange(tokens.shape[1], dtype=jnp.int32), tokens.shape)
  segments = (positions < lengths[:, None]).astype(jnp.int32)
  logits, _ = model(tokens, positions, segment_ids=segments)
  last = jnp.take_along_axis(logits, (lengths - 1)[:, None, None], axis=1)[:, 0]
  logprobs = jax.nn.log_softmax(last.astype(jnp.float32), axis=-1)
  return logprobs[:, candidates]
