"""Warm-up decodes every shape `decode.generate` can be called with by the server."""
import itertools

import pytest

from pinchjax.infer import warmup
from pinchjax.infer.decode import MIN_BUCKET, bucket


def _reachable(max_context, max_batch, max_tokens):
  """(rows, prompt, steps) buckets of every batch the server can form, by brute force: a
  batch's prompt bucket comes from its longest prompt, its step bucket from the largest
  limit, min(max_tokens, room), i.e. from its shortest prompt."""
  keys = set()
  for n, t in itertools.product(range(1, max_batch + 1), max_tokens):
    for longest in range(1, max_context):
      for shortest in range(1 if n > 1 else longest, longest + 1):
        keys.add((bucket(n, 1), bucket(longest, MIN_BUCKET),
                  bucket(min(t, max_context - shortest), 1)))
  return keys


@pytest.mark.parametrize("max_context,max_batch,max_tokens", [
    (16, 1, [4]), (40, 3, [4, 16]), (96, 8, [256]), (100, 5, [1, 7, 64])])
def test_shapes_are_exactly_the_reachable_ones(max_context, max_batch, max_tokens):
  shapes = warmup.shapes(max_context, max_batch, max_tokens)
  got = [(bucket(s.rows, 1), bucket(s.prompt[1], MIN_BUCKET), s.steps) for s in shapes]
  assert len(got) == len(set(got))
  assert set(got) == _reachable(max_context, max_batch, max_tokens)
  for s in shapes:  # the prompt range lies in one bucket and in the context
    assert bucket(s.prompt[0], MIN_BUCKET) == bucket(s.prompt[1], MIN_BUCKET)
    assert 1 <= s.prompt[0] <= s.prompt[1] < max_context and s.rows <= max_batch


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


def test_warm_up_decodes_each_shape_greedy_sampled_streamed_and_not():
  gen = Recorder()
  assert warmup.warm_up(gen, 3, [4, 16]) == len(gen.calls)
  shapes = warmup.shapes(40, 3, [4, 16])
  assert len(gen.calls) == 4 * len(shapes)
  seen = set()
  for requests in gen.calls:
    r = requests[0]
    assert all(q == r for q in requests)
    length = gen.count_tokens(r.prompt)
    key = (len(requests), bucket(length, MIN_BUCKET), r.max_new_tokens)
    seen.add(key + (r.sampling.greedy, r.on_text is not None))
    assert any(key == (s.rows, bucket(s.prompt[1], MIN_BUCKET), s.steps) and
               s.prompt[0] <= length <= s.prompt[1] for s in shapes)
  assert len(seen) == len(gen.calls)
