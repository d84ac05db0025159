"""Text of tokens as the tokenizer decodes them in context.

Decoding a continuation alone loses what depends on what came before it: sentencepiece and
many Hugging Face tokenizers drop the leading space of a sequence's first word ("the cat" +
"▁brown▁rice" decodes to "brown rice"), and a character split over two tokens is garbage on
its own. So the text a continuation adds is decode(context + ids) minus decode(context), and
the text of each token is what it adds to a few tokens before it (the window is enough for
a word's space or a character's bytes, and keeps the cost linear).
"""
from __future__ import annotations

from typing import Callable, Sequence

Decode = Callable[[Sequence[int]], str]
# Tokens of context each piece is decoded after (more than a character's bytes or a word).
WINDOW = 8
_INCOMPLETE = "\ufffd"  # what decoders print for the bytes of an unfinished character


class Continuation:
  """The text that ids add after a fixed context (decoded once)."""

  def __init__(self, decode: Decode, context: Sequence[int]):
    self.decode, self.context = decode, list(context)
    self.base = decode(self.context)

  def text(self, ids: Sequence[int]) -> str:
    full = self.decode(self.context + list(ids))
    return full[len(self.base):] if full.startswith(self.base) else self.decode(list(ids))


def pieces(decode: Decode, context: Sequence[int], ids: Sequence[int]) -> list[str]:
  """The text each of `ids` adds after `context` and the ids before it; a token that ends
  inside a character adds "" and the one completing it the whole character, so the pieces
  join to `Continuation(decode, context).text(ids)`."""
  seq = list(context) + list(ids)
  out: list[str] = []
  done = len(context)  # tokens whose text has been handed out
  for end in range(len(context) + 1, len(seq) + 1):
    start = max(0, done - WINDOW)
    before, after = decode(seq[start:done]), decode(seq[start:end])
    if after.endswith(_INCOMPLETE) and end < len(seq):
      out.append("")  # wait for the rest of the character
      continue
    out.append(after[len(before):] if after.startswith(before) else after[_common(before,
                                                                                  after):])
    done = end
  return out


def alternative(decode: Decode, context: Sequence[int], token: int) -> str:
  """The text `token` would add after `context` (for top-k alternatives; the caller may pass
  only the last WINDOW tokens)."""
  window = list(context[max(0, len(context) - WINDOW):])
  before, after = decode(window), decode(window + [token])
  return after[len(before):] if after.startswith(before) else after[_common(before, after):]


def _common(a: str, b: str) -> int:
  n = 0
  while n < min(len(a), len(b)) and a[n] == b[n]:
    n += 1
  return n
