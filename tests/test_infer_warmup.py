"""Warm-up decodes every shape `decode.generate` can be called with by the server."""
import itertools

import pytest

from pinchjax.infer import warmup
from pinchjax.infer.decode import MIN_BUCKET, bucket


def _reachable(max_context, max_batch, max_tokens):
  """(rows, prompt, steps) buckets of every batch the server can form, by brute force: any
  prompt of 1..max_context tokens with any limit in 0..room (0 only scores the prompt), a
  batch's prompt bucket from its longest prompt, its loop from its largest limit (that of
  its shortest prompt at most), rounded up to the step buckets."""
  ladder = warmup.step_buckets(max_context, max_tokens)
  keys = set()
  for n in range(1, max_batch + 1):
    for longest in range(1, max_context + 1):
      for shortest in range(1 if n > 1 else longest, longest + 1):
        for limit in range(max_context - shortest + 1):
          steps = min(s for s in ladder if s >= bucket(limit, 1))
          keys.add((bucket(n, 1), bucket(longest, MIN_BUCKET), steps))
  return keys


@pytest.mark.parametrize("max_context,max_tokens,ladder", [
    (16, [4], (4, 16)), (40, [4, 16], (4, 16, 64)), (96, [256], (128,)), (64, [1, 7], (1, 8, 64)),
    (33, [100], (32,))])
def test_step_buckets_are_the_given_ones_and_the_largest_reachable(max_context, max_tokens,
                                                                   ladder):
  assert warmup.step_buckets(max_context, max_tokens) == ladder


@pytest.mark.parametrize("max_context,max_batch,max_tokens", [
    (16, 1, [4]), (40, 3, [4, 16]), (96, 8, [256]), (100, 5, [1, 7, 64]), (33, 2, [8])])
def test_shapes_are_exactly_the_reachable_ones(max_context, max_batch, max_tokens):
  shapes = warmup.shapes(max_context, max_batch, max_tokens)
  got = [(bucket(s.rows, 1), bucket(s.prompt[1], MIN_BUCKET), s.steps) for s in shapes]
  assert len(got) == len(set(got))
  assert set(got) == _reachable(max_context, max_batch, max_tokens)
  for s in shapes:  # the prompt range lies in one bucket and in the context
    assert bucket(s.prompt[0], MIN_BUCKET) == bucket(s.prompt[1], MIN_BUCKET)
    assert 1 <= s.prompt[0] <= s.prompt[1] <= max_context and s.rows <= max_batch


class Recorder:
  """Counts a word as a token (plus a start token), records what it is asked to decode."""
  max_context = 40

  def __init__(self):
    self.calls = []

  def count_tokens(self, text):
    return 1 + len(text.split())

  def generate(self, requests):
    self.calls.append(requests)
    return []


def test_warm_up_decodes_each_shape_in_every_static_variant_and_sets_the_step_buckets():
  gen = Recorder()
  assert warmup.warm_up(gen, 3, [4, 16]) == len(gen.calls)
  assert gen.step_buckets == (4, 16, 64)
  shapes = warmup.shapes(40, 3, [4, 16])
  assert len(gen.calls) == 4 * len(shapes)
  seen = set()
  for requests in gen.calls:
    r = requests[0]
    assert all(q == r for q in requests)
    length = gen.count_tokens(r.prompt)
    steps = min(s for s in gen.step_buckets if s >= bucket(r.max_new_tokens, 1))
    key = (len(requests), bucket(length, MIN_BUCKET), steps)
    seen.add(key + (r.on_text is not None, r.prompt_logprobs))
    assert any(key == (s.rows, bucket(s.prompt[1], MIN_BUCKET), s.steps) and
               s.prompt[0] <= length <= s.prompt[1] for s in shapes)
  assert len(seen) == len(gen.calls)
  assert {k[-2:] for k in seen} == {(False, None), (False, 0), (True, None), (True, 0)}
