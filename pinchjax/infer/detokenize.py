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


class Pieces:
  """The text each token adds after a context and the tokens before it, as tokens arrive. A
  token that ends inside a character adds "" and the one completing it the whole character
  (or `flush`, at the end), so the pieces join to `Continuation(...).text(tokens)`."""

  def __init__(self, decode: Decode, context: Sequence[int]):
    self.decode, self.seq, self.done = decode, list(context), len(context)

  def add(self, token: int) -> str:
    self.seq.append(token)
    text = self._rest()
    if text.endswith(_INCOMPLETE):
      return ""  # wait for the rest of the character
    self.done = len(self.seq)
    return text

  def flush(self) -> str:
    """The text of tokens still waiting for a character's end."""
    text, self.done = self._rest(), len(self.seq)
    return text

  def _rest(self) -> str:
    """What the tokens after `done` add to a window of those before."""
    start = max(0, self.done - WINDOW)
    before, after = self.decode(self.seq[start:self.done]), self.decode(self.seq[start:])
    return after[_common(before, after):]


def pieces(decode: Decode, context: Sequence[int], ids: Sequence[int]) -> list[str]:
  """`Pieces` of all of `ids` (the last one flushes)."""
  stream = Pieces(decode, context)
  out = [stream.add(t) for t in ids]
  if out:
    out[-1] += stream.flush()
  return out


def alternative(decode: Decode, context: Sequence[int], token: int) -> str:
  """The text `token` would add after `context` (for top-k alternatives; the caller may pass
  only the last WINDOW tokens)."""
  window = list(context[max(0, len(context) - WINDOW):])
  before, after = decode(window), decode(window + [token])
  return after[_common(before, after):]


def _common(a: str, b: str) -> int:
  n = 0
  while n < min(len(a), len(b)) and a[n] == b[n]:
    n += 1
  return n
