"""Segmentation: byte-exact reassembly, protected code/URLs/markup, placeholders."""
import re

import pytest

from pinchjax.translate import segment as sg

DOC = """# Getting started

Install it with `pip install foo` and read https://example.com/docs.
This line continues the paragraph.

- First item with **bold**
  continuation of the item

    indented paragraph of the item
1. Numbered <b>item</b>
> - quoted list item here

```python
def f(x):
  # Translate nothing in here, not even this comment.
  return x
```

| Name | Value |
|------|-------|
| apple | red fruit |

    an indented code block
    more code

Setext Title
======
~~~~
tilde fence with ``` inside
~~~~
Literal ⟦3⟧ marker text, [a link](https://x.org/a_(b)) and www text.\r
Last line without newline"""

FENCED = re.compile(r"^(```|~~~~)[^\n]*\n.*?^\1[ \t]*$", re.M | re.S)


def _upper(s: sg.Segment) -> str:
  return s.restore(sg._PLACEHOLDER.sub(lambda m: m.group(0), s.text.upper()))


@pytest.mark.parametrize("text", [
    DOC, "", "\n", "plain", "  padded  \n\n", "```\nunclosed fence\nstill code",
    "a\r\nb\r\n\r\nc", "| only | table |", "`code only`", "https://only.url/x",
    "⟦0⟧ fake placeholder", "1. 2. 3.", "---\n***\n", "\ttab start\n"])
def test_identity_translation_is_byte_exact(text):
  assert sg.join(sg.split(text), lambda s: s.restore(s.text)) == text


def test_pieces_and_placeholders():
  pieces = sg.split(DOC)
  segs = sg.segments(pieces)
  texts = [s.text for s in segs]
  assert texts[:3] == ["Getting started",
                       "Install it with ⟦0⟧ and read ⟦1⟧.\nThis line continues the paragraph.",
                       "First item with **bold**"]
  assert segs[1].spans == ("`pip install foo`", "https://example.com/docs")
  assert "Numbered ⟦0⟧item⟦1⟧" in texts and "quoted list item here" in texts
  assert ["Name", "Value", "apple", "red fruit"] == [t for t in texts if t in (
      "Name", "Value", "apple", "red fruit")]
  assert "indented paragraph of the item" in texts  # a list's indented text is prose
  assert "Setext Title" in texts
  literal = [s for s in segs if s.text.startswith("Literal")][0]
  # A literal marker is protected too; a link's target with its parentheses is one span.
  assert literal.spans == ("⟦3⟧", "](https://x.org/a_(b))")
  assert literal.text.endswith("www text.\r\nLast line without newline")  # one paragraph
  assert len(segs) == 13
  # Nothing of the code blocks reaches a translator.
  sent = "\n".join(texts)
  for fragment in ("def f", "comment", "an indented code block", "tilde fence", "pip install"):
    assert fragment not in sent


def test_translation_changes_only_prose():
  out = sg.join(sg.split(DOC), _upper)
  assert FENCED.findall(out) == FENCED.findall(DOC) and len(FENCED.findall(DOC)) == 2
  assert FENCED.search(DOC).group(0) in out and "~~~~\ntilde fence with ``` inside\n~~~~" in out
  assert "    an indented code block\n    more code\n" in out
  assert "INSTALL IT WITH `pip install foo` AND READ https://example.com/docs." in out
  assert "| NAME | VALUE |\n|------|-------|\n| APPLE | RED FRUIT |" in out
  assert "1. NUMBERED <b>ITEM</b>" in out and "> - QUOTED LIST ITEM HERE" in out
  assert "\n======\n" in out and out.endswith("LAST LINE WITHOUT NEWLINE")
  assert "LITERAL ⟦3⟧ MARKER" in out and "\r\n" in out
  assert len(out) == len(DOC)


def test_no_letters_no_segment():
  assert sg.segments(sg.split("`x = 1` https://a.b/c\n\n1. 2.\n| 3 | 4 |")) == []


def test_placeholders_listing():
  assert sg.placeholders("⟦1⟧ a ⟦0⟧ b ⟦1⟧") == [0, 1, 1]
  assert sg.strip_placeholders("a ⟦12⟧b") == "a b"
