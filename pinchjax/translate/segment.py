"""Splits markdown-ish text into what a translator should see and what it must not touch.

`split(text)` returns pieces: plain strings, kept byte for byte (fenced and indented code
blocks, blank lines, line breaks, list/heading/quote markers, table pipes, surrounding
whitespace), and `Segment`s, the prose to translate: a paragraph of plain lines, or the text
of one list item, heading, quote line or table cell. Inside a segment, inline code, URLs,
HTML tags and link targets are replaced by numbered placeholders ⟦0⟧, ⟦1⟧, ... that the
translator is told to keep; `Segment.restore` puts the originals back. So
`join(split(t), identity) == t` for every text, and a translation changes only the prose.
"""
from __future__ import annotations

import dataclasses
import re
from typing import Callable, Sequence

# A placeholder, and also any literal ⟦...⟧ in the source, which is protected like code so
# that the only ⟦n⟧ a translator sees are ours.
_PLACEHOLDER = re.compile(r"⟦(\d+)⟧")
_INLINE = re.compile(
    r"(`+)[^\n]*?\1"  # inline code, any number of backticks
    r"|\]\([^()\s]*(?:\([^()\s]*\)[^()\s]*)*\)"  # a markdown link's target: ](url)
    r"|https?://[^\s<>()\[\]`\"']*[^\s<>()\[\]`\"'.,;:!?]"  # URL, minus trailing punctuation
    r"|</?[A-Za-z][^<>\n]*>"  # HTML tag
    r"|⟦[^⟧\n]*⟧")
_FENCE = re.compile(r"^ {0,3}(`{3,}|~{3,})")
# Block markers at the start of a line: indentation, quotes, bullets, numbers, headings,
# task boxes, in any nesting.
_PREFIX = re.compile(
    r"^(?:[ \t]*(?:>[ \t]?|[-*+][ \t]+|\d{1,9}[.)][ \t]+|#{1,6}[ \t]+|\[[ xX]\][ \t]+))*[ \t]*")
_INDENTED = re.compile(r"^(?: {4}|\t)")
_LIST_ITEM = re.compile(r"^[ \t]*(?:[-*+]|\d{1,9}[.)])[ \t]+")


@dataclasses.dataclass(frozen=True)
class Segment:
  """Prose to translate: `text` with placeholders for the protected `spans`."""
  text: str
  spans: tuple[str, ...] = ()

  def restore(self, translated: str) -> str:
    """`translated` with each ⟦i⟧ replaced by spans[i] (placeholders checked beforehand)."""
    return _PLACEHOLDER.sub(lambda m: self.spans[int(m.group(1))], translated)


Piece = str | Segment


def placeholders(text: str) -> list[int]:
  """The placeholder numbers in `text`, sorted (repeats kept)."""
  return sorted(int(n) for n in _PLACEHOLDER.findall(text))


def strip_placeholders(text: str) -> str:
  return _PLACEHOLDER.sub("", text)


def _has_letters(text: str) -> bool:
  return any(ch.isalpha() for ch in text)


def _chunk(text: str) -> list[Piece]:
  """Outer whitespace kept verbatim; the rest a Segment if any prose is left after masking."""
  core = text.strip()
  if not core:
    return [text] if text else []
  lead = text[:len(text) - len(text.lstrip())]
  tail = text[len(lead) + len(core):]
  spans: list[str] = []

  def mask(m: re.Match) -> str:
    spans.append(m.group(0))
    return f"⟦{len(spans) - 1}⟧"

  masked = _INLINE.sub(mask, core)
  middle: Piece = core
  if _has_letters(strip_placeholders(masked)):
    middle = Segment(masked, tuple(spans))
  return [p for p in (lead, middle, tail) if p]


def _table_row(line: str) -> list[Piece]:
  """Cells between unescaped pipes are translated one by one; pipes stay."""
  pieces: list[Piece] = []
  for part in re.split(r"((?<!\\)\|)", line):
    pieces.extend([part] if part == "|" else _chunk(part))
  return pieces


def _line(line: str) -> list[Piece]:
  body = line.rstrip("\r\n")
  end = line[len(body):]
  if body.lstrip().startswith("|"):
    return _table_row(body) + ([end] if end else [])
  prefix = _PREFIX.match(body).group(0)
  return ([prefix] if prefix else []) + _chunk(body[len(prefix):]) + ([end] if end else [])


def _fence_end(lines: Sequence[str], start: int) -> int:
  """Index after the fenced block opened at lines[start] (the end of text if unclosed)."""
  marker = _FENCE.match(lines[start]).group(1)
  close = re.compile(rf"^ {{0,3}}{marker[0]}{{{len(marker)},}}[ \t]*$")
  for i in range(start + 1, len(lines)):
    if close.match(lines[i].rstrip("\r\n")):
      return i + 1
  return len(lines)


def _plain(line: str) -> bool:
  """Whether `line` continues a paragraph: prose with no block marker."""
  return (_has_letters(line) and not _FENCE.match(line) and not line.startswith("|")
          and not _PREFIX.match(line).group(0))


def split(text: str) -> list[Piece]:
  """Pieces whose concatenation (segments as their source) is exactly `text`."""
  lines = text.splitlines(keepends=True)
  pieces: list[Piece] = []
  i, after_blank, in_list = 0, True, False
  while i < len(lines):
    line = lines[i]
    bare = line.rstrip("\r\n")
    if _FENCE.match(line):
      end = _fence_end(lines, i)
      pieces.append("".join(lines[i:end]))
      i, after_blank = end, False
    elif not bare.strip():
      pieces.append(line)
      i, after_blank = i + 1, True
    elif not _has_letters(bare):  # rules, setext underlines, numbers: nothing to translate
      pieces.append(line)
      i, after_blank = i + 1, False
    elif _INDENTED.match(line) and after_blank and not in_list:
      end = i  # an indented code block: indented or blank lines
      while end < len(lines) and (_INDENTED.match(lines[end]) or not lines[end].strip()):
        end += 1
      pieces.append("".join(lines[i:end]))
      i, after_blank = end, False
    elif _PREFIX.match(bare).group(0) or bare.lstrip().startswith("|"):
      in_list = bool(_LIST_ITEM.match(bare)) or (in_list and line[0] in " \t")
      pieces.extend(_line(line))
      i, after_blank = i + 1, False
    else:
      end = i + 1  # a paragraph: plain lines up to a blank, marked or fenced line
      while end < len(lines) and _plain(lines[end]):
        end += 1
      paragraph = "".join(lines[i:end])
      body = paragraph.rstrip("\r\n")
      pieces.extend(_chunk(body) + ([paragraph[len(body):]] if paragraph != body else []))
      i, after_blank, in_list = end, False, False
  return pieces


def segments(pieces: Sequence[Piece]) -> list[Segment]:
  return [p for p in pieces if isinstance(p, Segment)]


def join(pieces: Sequence[Piece], translate: Callable[[Segment], str]) -> str:
  """Reassembles text, with each segment replaced by `translate(segment)` (restored)."""
  return "".join(p if isinstance(p, str) else translate(p) for p in pieces)
