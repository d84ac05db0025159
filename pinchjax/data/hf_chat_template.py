"""A Hugging Face tokenizer's own chat template (jinja), rendered as transformers renders it.

A Hugging Face model directory ships its prompt format as jinja: `chat_template.jinja` (how
transformers 5 saves it) or the `chat_template` field of `tokenizer_config.json` (a string,
or a list of named templates of which "default" is used). `HfTemplate` renders it the way
`tokenizer.apply_chat_template` does, so the token ids are the same:

  - a sandboxed, immutable jinja environment with trim_blocks and lstrip_blocks, the
    loopcontrols extension, a `{% generation %}` block that just renders its body,
    `raise_exception(msg)`, `strftime_now(fmt)` (today's date, e.g. Llama 3.2's system
    block) and a `tojson` filter that does not escape HTML;
  - the variables `messages` (message keys whose value is None left out), `tools` and
    `documents` (None), `add_generation_prompt`, and the tokenizer's named special tokens
    (`bos_token`, `eos_token`, ...: the `*_token` strings of tokenizer_config.json);
  - the text is then tokenized without the tokenizer's automatic special tokens (a template
    writes BOS itself when the model has one), special strings becoming their single ids.

The model reads exactly those ids: the first rendered token (e.g. Gemma's `<bos>`, Qwen's
`<|im_start|>`) is the decoder's first input, nothing is prepended. A tuning example is split
where rendering the user turn with `add_generation_prompt=True` ends (its ids must be a prefix
of the whole conversation's ids); the loss covers the response and the end-of-turn marker the
template writes after it, not the whitespace that follows the marker.
"""
from __future__ import annotations

import dataclasses
import datetime
import functools
import hashlib
import json
import os
from typing import Any, Sequence

import gin
import jinja2
import jinja2.ext
import jinja2.nodes
import jinja2.sandbox

JINJA_FILE = "chat_template.jinja"
CONFIG_FILE = "tokenizer_config.json"
_PROBE = "pinchjax probe"  # a reply whose surroundings show the template's end-of-turn text


class _Generation(jinja2.ext.Extension):
  """`{% generation %}...{% endgeneration %}` (marks assistant text for training masks in
  transformers); rendered as its body."""
  tags = {"generation"}

  def parse(self, parser):
    lineno = next(parser.stream).lineno
    body = parser.parse_statements(("name:endgeneration",), drop_needle=True)
    return jinja2.nodes.CallBlock(self.call_method("_body"), [], [], body).set_lineno(lineno)

  def _body(self, caller):
    return caller()


def _raise_exception(message: str):
  raise jinja2.exceptions.TemplateError(message)


def _tojson(value: Any, ensure_ascii: bool = False, indent: int | None = None,
            separators=None, sort_keys: bool = False) -> str:
  return json.dumps(value, ensure_ascii=ensure_ascii, indent=indent, separators=separators,
                    sort_keys=sort_keys)


@gin.configurable
def template_date(date: str | None = None) -> datetime.datetime:
  """The moment `strftime_now` formats: now (as in transformers), or a fixed ISO date. Bind
  `template_date.date` when training with a template that writes the date (Llama 3.2's
  system block), so a run resumed on another day tokenizes its examples the same."""
  return datetime.datetime.fromisoformat(date) if date else datetime.datetime.now()


def _strftime_now(fmt: str) -> str:
  return template_date().strftime(fmt)


@functools.lru_cache(maxsize=16)
def _compile(source: str) -> jinja2.Template:
  env = jinja2.sandbox.ImmutableSandboxedEnvironment(
      trim_blocks=True, lstrip_blocks=True, extensions=[_Generation, jinja2.ext.loopcontrols])
  env.filters["tojson"] = _tojson
  env.globals["raise_exception"] = _raise_exception
  env.globals["strftime_now"] = _strftime_now
  return env.from_string(source)


def _token_text(value: Any) -> str | None:
  if isinstance(value, dict):  # {"content": "<bos>", ...} in older files
    value = value.get("content")
  return value if isinstance(value, str) else None


def read_template(directory: str) -> str | None:
  """The jinja text of a tokenizer directory's chat template, or None when it has none."""
  path = os.path.join(directory, JINJA_FILE)
  if os.path.isfile(path):
    with open(path, encoding="utf-8") as f:
      return f.read()
  template = _read_json(os.path.join(directory, CONFIG_FILE)).get("chat_template")
  if isinstance(template, list):  # named templates: [{"name": ..., "template": ...}]
    named = {t.get("name"): t.get("template") for t in template if isinstance(t, dict)}
    template = named.get("default")
  if template is not None and not isinstance(template, str):
    raise ValueError(f"{os.path.join(directory, CONFIG_FILE)}: 'chat_template' must be a "
                     f"string or a list of named templates with a 'default', not {template!r}")
  return template or None


def _read_json(path: str) -> dict[str, Any]:
  if not os.path.isfile(path):
    return {}
  with open(path, encoding="utf-8") as f:
    return json.load(f)


def special_tokens(directory: str) -> dict[str, str]:
  """The named special tokens a template sees (`bos_token`, `eos_token`, ...)."""
  out = {}
  for source in ("special_tokens_map.json", CONFIG_FILE):  # the config wins
    out.update({k: t for k, v in _read_json(os.path.join(directory, source)).items()
                if k.endswith("_token") and (t := _token_text(v)) is not None})
  return out


@dataclasses.dataclass(frozen=True)
class HfTemplate:
  """A tokenizer's jinja chat template; `name` is "tokenizer" (see pinchjax.data.chat)."""
  source: str
  tokens: tuple[tuple[str, str], ...] = ()  # named special tokens, as (name, text)
  name: str = "tokenizer"

  @classmethod
  def from_directory(cls, directory: str) -> HfTemplate | None:
    source = read_template(directory)
    if source is None:
      return None
    return cls(source, tuple(sorted(special_tokens(directory).items())))

  @property
  def fingerprint(self) -> str:
    return hashlib.sha256(self.source.encode()).hexdigest()[:12]

  def render(self, messages: Sequence[dict[str, Any]], add_generation_prompt: bool = False,
             **kwargs: Any) -> str:
    """The conversation as text (kwargs override the special tokens, as in transformers)."""
    messages = [{k: v for k, v in m.items() if v is not None} for m in messages]
    variables = {**dict(self.tokens), **kwargs}
    return _compile(self.source).render(messages=messages, tools=None, documents=None,
                                        add_generation_prompt=add_generation_prompt,
                                        **variables)

  # -- the interface pinchjax.data.chat.Template also has ------------------------------------
  @functools.cached_property
  def _turn(self) -> tuple[str, str]:
    """(end-of-turn marker, text after it): what follows a reply, e.g. ("<|im_end|>", "\\n")."""
    user = [{"role": "user", "content": "x"}]
    prompt = self.render(user, add_generation_prompt=True)
    full = self.render(user + [{"role": "assistant", "content": _PROBE}])
    if not full.startswith(prompt) or _PROBE not in full[len(prompt):]:
      raise ValueError("the chat template does not render a reply after the prompt it renders "
                       "with add_generation_prompt=True; it cannot frame tuning examples")
    tail = full[len(prompt):].split(_PROBE, 1)[1]
    marker = tail.rstrip()
    return marker, tail[len(marker):]

  @property
  def stop_strings(self) -> tuple[str, ...]:
    return (self._turn[0],) if self._turn[0] else ()

  def chat_prompt(self, messages: Sequence[dict[str, str]]) -> str:
    if not messages or messages[-1]["role"] != "user":
      raise ValueError("the last chat message must be from the user")
    return self.render(messages, add_generation_prompt=True)

  def instruction_prompt(self, instruction: str) -> str:
    return self.chat_prompt([{"role": "user", "content": instruction}])

  def encode(self, vocab, text: str) -> list[int]:
    """The ids the model reads for rendered text: the text's own, nothing prepended."""
    return list(vocab.encode(text))

  def start_id(self, vocab) -> int:
    """The first id every rendering begins with (the decoder's first input)."""
    return self.encode(vocab, self.instruction_prompt("x"))[0]

  def example_ids(self, vocab, instruction: str, response: str
                  ) -> tuple[list[int], list[int]]:
    """(prompt ids, target ids) of one tuning example; prompt + targets are the ids
    transformers gives the whole conversation, less the whitespace after the last marker
    (or + EOS when the template writes no end-of-turn marker)."""
    user = [{"role": "user", "content": instruction}]
    prompt = self.encode(vocab, self.render(user, add_generation_prompt=True))
    full_text = self.render(user + [{"role": "assistant", "content": response}])
    marker, after = self._turn
    if after and full_text.endswith(marker + after):
      full_text = full_text[:len(full_text) - len(after)]
    full = self.encode(vocab, full_text)
    if full[:len(prompt)] != prompt:
      raise ValueError(f"the chat template's prompt for {instruction[:40]!r} does not "
                       "tokenize to a prefix of the whole conversation")
    targets = full[len(prompt):]
    return prompt, targets if marker else targets + [vocab.eos_id]
