"""Cached batched decoding against step-by-step argmax over full forward passes, per family;
batch and padding independence; stop tokens and limits; prompt scoring."""
import functools

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from flax import nnx

from compiled_programs import cross_device_ops
from pinchjax import parallel
from pinchjax.infer import decode
from pinchjax.infer.sampling import SamplingParams
from pinchjax.model.config import ModelConfig
from pinchjax.model.transformer import Transformer

WINDOW = 4
FAMILIES = {
    "llama": dict(family="llama", tie_embeddings=False),
    "qwen2": dict(family="qwen2", qkv_bias=True),
    "gemma3": dict(family="gemma3", activation="gelu_tanh", norm_plus_one=True,
                   sandwich_norm=True, qk_norm=True, embed_scale=True,
                   layer_pattern=("local", "global"), sliding_window=WINDOW,
                   local_rope_theta=100.0, query_scale=12.0, final_logit_softcap=30.0),
}
FAMILIES["gemma3_scan"] = dict(FAMILIES["gemma3"], scan_layers=True)  # stacked layers
# Ragged prompts, the longest well past Gemma's window.
PROMPTS = [[5, 9, 2], list(range(3, 16)), [7, 7, 1, 30, 22, 4], [11]]


def tiny_config(family: str, vocab_size: int = 97) -> ModelConfig:
  return ModelConfig(vocab_size=vocab_size, d_model=32, num_layers=2, num_heads=4,
                     num_kv_heads=2, head_dim=8, mlp_dim=64, **FAMILIES[family])


@functools.lru_cache(maxsize=None)
def tiny_model(family: str) -> Transformer:
  return Transformer(tiny_config(family), rngs=nnx.Rngs(int.from_bytes(family.encode()) % 997))


def reference_greedy(model, prompt, steps):
  """Argmax continuation by full forward passes without a cache (one fixed padded shape)."""
  length = len(prompt) + steps
  graphdef, state = nnx.split(model)
  forward = jax.jit(lambda st, t, p, s: nnx.merge(graphdef, st)(t, p, s)[0])
  seq = list(prompt)
  for _ in range(steps):
    tokens = np.zeros((1, length), np.int32)
    tokens[0, :len(seq)] = seq
    seg = (np.arange(length) < len(seq)).astype(np.int32)[None]
    logits = forward(state, tokens, np.arange(length, dtype=np.int32)[None], seg)
    seq.append(int(jnp.argmax(logits[0, len(seq) - 1])))
  return seq[len(prompt):]


@pytest.mark.parametrize("family", sorted(FAMILIES))
def test_cached_greedy_equals_full_forward_argmax(family):
  model = tiny_model(family)
  steps = 9
  out = decode.generate(model, PROMPTS, steps)
  for prompt, got in zip(PROMPTS, out):
    assert got.finish_reason == "length"
    assert got.tokens == reference_greedy(model, prompt, steps), (family, prompt)


def test_batch_and_padding_independence():
  model = tiny_model("gemma3")
  # Greedy and sampled rows share the batch; each sampled row has its own seed.
  settings = [SamplingParams(), SamplingParams(temperature=0.9, top_p=0.9, seed=1),
              SamplingParams(temperature=1.5, top_k=5, seed=2), SamplingParams()]
  together = decode.generate(model, PROMPTS, 7, settings)
  # Alone: batch size 1, another padded prompt length (8, not 16), another step bucket.
  for i, steps in ((0, 5), (2, 7)):
    alone = decode.generate(model, [PROMPTS[i]], steps, [settings[i]], pad_batch=False)[0]
    assert alone.tokens == together[i].tokens[:steps]
  # Reordered, next to another row, in a batch padded to 8 rows.
  shuffled = decode.generate(model, PROMPTS[::-1] + [[3, 3, 3]], 7,
                             settings[::-1] + [SamplingParams(temperature=1.0)])
  assert [s.tokens for s in shuffled[:4][::-1]] == [t.tokens for t in together]


def test_sampling_uses_each_rows_seed():
  model = tiny_model("llama")
  prompt = PROMPTS[2]
  hot = [SamplingParams(temperature=2.0, seed=s) for s in range(6)]
  outs = [o.tokens for o in decode.generate(model, [prompt] * 6, 8, hot)]
  assert len({tuple(o) for o in outs}) > 1
  again = decode.generate(model, [prompt] * 6, 8, hot)
  assert [o.tokens for o in again] == outs


def test_stop_tokens_and_per_row_limits():
  model = tiny_model("qwen2")
  free = decode.generate(model, PROMPTS, 8)
  # A token row 1 produces after its start and row 2 does not produce first.
  stop = next(t for t in free[1].tokens[1:] if t not in free[2].tokens[:2] + free[1].tokens[:1])
  first = free[1].tokens.index(stop)
  out = decode.generate(model, PROMPTS, [8, 8, 2, 8], stop_token_ids=[stop])
  assert out[1].tokens == free[1].tokens[:first]
  assert out[1].finish_reason == "stop"
  assert out[2].tokens == free[2].tokens[:2] and out[2].finish_reason == "length"
  for i in (0, 3):  # rows that never produce `stop` are untouched
    if stop not in free[i].tokens:
      assert out[i].tokens == free[i].tokens


def test_score_next_token_logprobs():
  model = tiny_model("gemma3")
  candidates = [4, 17, 60]
  scores = decode.score_next_token_logprobs(model, PROMPTS, candidates)
  assert scores.shape == (len(PROMPTS), 3)
  forward = jax.jit(lambda t: model(t, jnp.arange(t.shape[1])[None])[0])
  for i in (0, 1):  # the shortest and the longest prompt, each run alone without padding
    logits = forward(jnp.asarray([PROMPTS[i]]))
    want = jax.nn.log_softmax(logits[0, -1])[np.asarray(candidates)]
    np.testing.assert_allclose(scores[i], want, atol=1e-5)


@pytest.mark.parametrize("shape", [{"data": 2, "fsdp": 2, "tensor": 2}, {"data": 8}])
def test_sharded_decoding_equals_single_device(shape, monkeypatch):
  """A mesh that splits weights decodes in one partitioned loop; a mesh that only splits rows
  runs one loop per device, with no cross-device traffic at all."""
  model = tiny_model("gemma3")
  mesh = parallel.make_mesh(shape)
  partitioner = parallel.Partitioner.create(mesh)
  graphdef, state = nnx.split(model)
  placed = nnx.merge(graphdef, jax.device_put(state, partitioner.shardings(state)))
  assert len(nnx.state(placed)["embed"][...].sharding.device_set) == 8
  # 8 rows, one per device on the row-split mesh; rows stop at different steps.
  prompts = PROMPTS * 2
  settings = [SamplingParams(), SamplingParams(temperature=1.0, seed=4)] * 4
  limits = [6, 2, 5, 6, 1, 6, 3, 6]
  want = decode.generate(model, prompts, limits, settings)
  # Keep the arguments of the sharded call to read its compiled program afterwards.
  calls, jitted = [], decode._generate_jit
  monkeypatch.setattr(decode, "_generate_jit",
                      lambda *a, **k: calls.append((a, k)) or jitted(*a, **k))
  got = decode.generate(placed, prompts, limits, settings, sharding=partitioner)
  assert [g.tokens for g in got] == [w.tokens for w in want]
  assert [len(g.tokens) for g in got] == limits
  (args, kwargs), = calls
  with partitioner.activate():
    collectives = cross_device_ops(jitted.lower(*args, **kwargs).compile().as_text())
  assert bool(collectives) == ("tensor" in shape), collectives  # tensor: split weights
  np.testing.assert_allclose(
      decode.score_next_token_logprobs(placed, PROMPTS[:3], [1, 2], sharding=partitioner),
      decode.score_next_token_logprobs(model, PROMPTS[:3], [1, 2]), atol=1e-5)


def test_stop_sequences_end_their_row_only():
  model = tiny_model("llama")
  free = decode.generate(model, PROMPTS, 9)
  seq = free[1].tokens[2:4]
  cut = next(i for i in range(len(free[1].tokens)) if free[1].tokens[i:i + 2] == seq)
  first = [free[3].tokens[0]]
  out = decode.generate(model, PROMPTS, 9, stop_sequences=[[], [[99, 98], seq], [], [first]])
  assert out[1].tokens == free[1].tokens[:cut] and out[1].finish_reason == "stop"
  assert out[3].tokens == [] and out[3].finish_reason == "stop"
  for i in (0, 2):
    assert out[i] == free[i]


def test_logprobs_of_new_and_prompt_tokens_equal_full_forward():
  """Rows asking for different top-k, one only scoring its prompt (max_new_tokens 0), share a
  batch; each row's logprobs are log_softmax of a full forward pass over its own tokens."""
  model = tiny_model("llama")
  out = decode.generate(model, PROMPTS, [3, 0, 2, 4], logprobs=[2, None, 0, 1],
                        prompt_logprobs=[1, 3, None, 2])
  assert out[1].tokens == [] and out[1].logprobs is None and out[2].prompt_logprobs is None
  forward = jax.jit(lambda t: model(t, jnp.arange(t.shape[1])[None])[0])
  for row, k, pk in ((0, 2, 1), (1, None, 3), (3, 1, 2)):
    seq = PROMPTS[row] + out[row].tokens
    want = np.asarray(jax.nn.log_softmax(forward(jnp.asarray([seq]))[0], -1))
    scored = out[row].prompt_logprobs + (out[row].logprobs or [])
    assert [s.token for s in scored] == seq
    assert scored[0].logprob is None
    for p, s in enumerate(scored[1:], 1):
      assert s.logprob == pytest.approx(want[p - 1, seq[p]], abs=1e-5)
      width = pk if p < len(PROMPTS[row]) else k
      assert [t for t, _ in s.top] == np.argsort(-want[p - 1])[:width].tolist()


def _cut_at_first_stop(tokens, sequences):
  """What stop sequences leave of an unstopped row: its tokens before the first one spelled."""
  for end in range(1, len(tokens) + 1):
    for q in sequences:
      if q and tokens[:end][-len(q):] == list(q):
        return tokens[:end - len(q)], "stop"
  return tokens, "length"


def test_padded_stop_sequences_cut_where_they_end_in_the_program_of_no_stops():
  """Stops of 1..STOP_TOKENS tokens, none, or never spelled: every batch's sequences share the
  no-stops layout (no new compile) and cut each row at its first stop, as before padding."""
  model = tiny_model("llama")
  free = decode.generate(model, PROMPTS, 20)
  compiled = decode._generate_jit._cache_size()
  long_seq = free[0].tokens[3:3 + decode.STOP_TOKENS]
  assert len(long_seq) == decode.STOP_TOKENS
  stops = [[long_seq, [96] * decode.STOP_TOKENS], [[99, 98], free[1].tokens[5:7]],
           [free[2].tokens[:1], [1], [2], [3], [4]], []]
  out = decode.generate(model, PROMPTS, 20, stop_sequences=stops)
  assert decode._generate_jit._cache_size() == compiled
  for row, (got, want) in enumerate(zip(out, free)):
    assert (got.tokens, got.finish_reason) == _cut_at_first_stop(want.tokens, stops[row])
  assert [o.finish_reason for o in out] == ["stop"] * 3 + ["length"]
  assert len(out[0].tokens) <= 3 and len(out[1].tokens) <= 5 and out[2].tokens == []
  # A sequence longer than the layout still stops its row, in a wider program.
  longer = free[0].tokens[2:3 + decode.STOP_TOKENS]
  out = decode.generate(model, PROMPTS[:1], 20, stop_sequences=[[longer]])
  assert out[0].tokens == free[0].tokens[:2] and out[0].finish_reason == "stop"


def test_step_buckets_and_logprob_widths_change_no_result_and_share_programs():
  """A loop rounded up to a step bucket ends each row at its own limit; logprobs of any k
  (and prompt logprobs) come from one top-k width."""
  model = tiny_model("llama")
  limits = [3, 0, 2, 5]
  want = decode.generate(model, PROMPTS, limits, logprobs=[2, None, 0, 1],
                         prompt_logprobs=[1, 3, None, 2])
  compiled = decode._generate_jit._cache_size()
  got = decode.generate(model, PROMPTS, limits, logprobs=[2, None, 0, 1],
                        prompt_logprobs=[1, 3, None, 2], step_buckets=(1, 64))
  assert decode._generate_jit._cache_size() == compiled + 1  # the 64-step loop
  assert [len(o.tokens) for o in got] == [3, 0, 2, 5]
  for g, w in zip(got, want):  # a longer cache sums attention in another order: ~1e-7 apart
    assert (g.tokens, g.finish_reason) == (w.tokens, w.finish_reason)
    for ours, theirs in ((g.logprobs, w.logprobs), (g.prompt_logprobs, w.prompt_logprobs)):
      assert [(s.token, len(s.top)) for s in ours or []] == [
          (s.token, len(s.top)) for s in theirs or []]
      assert [s.logprob for s in ours or []] == pytest.approx(
          [s.logprob for s in theirs or []], abs=1e-5)
  wide = decode.generate(model, PROMPTS, limits, logprobs=[20, None, 7, 0],
                         prompt_logprobs=[5, 20, None, 0])
  assert decode._generate_jit._cache_size() == compiled + 1  # k = 0..MAX_TOP: one program
  assert [len(s.top) for s in wide[0].logprobs] == [20] * 3
  assert [len(s.top) for s in wide[0].prompt_logprobs[1:]] == [5] * 2
  assert [len(s.top) for s in wide[1].prompt_logprobs[1:]] == [20] * 12
  assert [s.token for s in wide[0].logprobs] == [s.token for s in want[0].logprobs]
  # Sampled rows, or no row asking for new tokens' logprobs: the same program again.
  sampled = decode.generate(model, PROMPTS, limits, SamplingParams(temperature=1.0, seed=5),
                            prompt_logprobs=[None, 0, None, None])
  assert decode._generate_jit._cache_size() == compiled + 1
  assert sampled[0].logprobs is None and len(sampled[1].prompt_logprobs) == 13
  assert [len(o.tokens) for o in sampled] == limits
