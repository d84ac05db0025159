"""Chat templates per model family: the one place prompts are built, for training and inference.

A tuning example becomes two token sequences, encoded separately:

  inputs  = encode(format_prompt(template, instruction))      (no loss)
  targets = encode(format_response(template, response)) + EOS (loss on every token)

and the model sees `[start_id(vocab)] + inputs + targets` (the decoder's first input is the
start token: the vocabulary's BOS, or 0 when it has none, seqio's convention). Inference
builds its prompt with the same `Template.encode(vocab, instruction_prompt(...))`, so train
and infer see identical token ids, and stops at `stop_token_ids` (the vocabulary's EOS and the
template's end-of-turn marker).

A Hugging Face tokenizer's own jinja chat template is the template named "tokenizer"
(pinchjax.data.hf_chat_template.HfTemplate: ids equal transformers' apply_chat_template, no
start token prepended); `get_template("tokenizer", vocab)` reads it from the tokenizer's
directory. Both kinds share the interface JaxGenerator and the judge use: `chat_prompt`,
`instruction_prompt`, `encode`, `start_id`, `stop_strings`.

pinchjax's own templates (the instruction is a single user turn, as in the paper):
  toy     `<user> {instruction} <model>`, response then EOS (the toy world's frame)
  gemma   `<start_of_turn>user\\n{instruction}<end_of_turn>\\n<start_of_turn>model\\n`,
          response + `<end_of_turn>` (Gemma 2/3 instruction format; BOS is the start token)
  chatml  `<|im_start|>user\\n{instruction}<|im_end|>\\n<|im_start|>assistant\\n`,
          response + `<|im_end|>`
  qwen2   chatml with Qwen 2.5's default system turn, as its tokenizer_config template adds
  llama3  `<|start_header_id|>user<|end_header_id|>\\n\\n{instruction}<|eot_id|>`
          `<|start_header_id|>assistant<|end_header_id|>\\n\\n`, response + `<|eot_id|>`
          (no system header; BOS `<|begin_of_text|>` is the start token)
"""
from __future__ import annotations

import dataclasses
import os
from typing import Sequence, Union

import seqio

from pinchjax.data import hf_chat_template


@dataclasses.dataclass(frozen=True)
class Template:
  name: str
  prompt: str  # contains "{instruction}" exactly once
  response_suffix: str  # closes the model turn before EOS ("" when EOS alone closes it)
  markers: tuple[str, ...]  # special strings a vocabulary must keep as single tokens

  @property
  def stop_strings(self) -> tuple[str, ...]:
    return (self.response_suffix,) if self.response_suffix else ()

  def instruction_prompt(self, instruction: str) -> str:
    return self.prompt.replace("{instruction}", instruction)

  def chat_prompt(self, messages: Sequence[dict[str, str]]) -> str:
    """System text leads the first user turn; earlier turns repeat the single-turn frame."""
    system = "\n\n".join(m["content"] for m in messages if m["role"] == "system")
    turns = [m for m in messages if m["role"] != "system"]
    if not turns or turns[-1]["role"] != "user":
      raise ValueError("the last chat message must be from the user")
    parts = []
    for i, m in enumerate(turns):
      if m["role"] == "user":
        text = f"{system}\n\n{m['content']}" if system and i == 0 else m["content"]
        parts.append(self.instruction_prompt(text))
      else:
        parts.append(m["content"] + self.response_suffix)
    return "".join(parts)

  def encode(self, vocab: seqio.Vocabulary, text: str) -> list[int]:
    """The ids the model reads for prompt text: the start token, then the text's ids."""
    return [start_id(vocab)] + list(vocab.encode(text))

  def start_id(self, vocab: seqio.Vocabulary) -> int:
    return start_id(vocab)


_CHATML_PROMPT = "<|im_start|>user\n{instruction}<|im_end|>\n<|im_start|>assistant\n"
_QWEN2_SYSTEM = ("<|im_start|>system\nYou are Qwen, created by Alibaba Cloud. "
                 "You are a helpful assistant.<|im_end|>\n")

TEMPLATES: dict[str, Template] = {
    t.name: t for t in (
        Template("toy", "<user> {instruction} <model>", "", ("<user>", "<model>")),
        Template("gemma",
                 "<start_of_turn>user\n{instruction}<end_of_turn>\n<start_of_turn>model\n",
                 "<end_of_turn>", ("<start_of_turn>", "<end_of_turn>")),
        Template("chatml", _CHATML_PROMPT, "<|im_end|>", ("<|im_start|>", "<|im_end|>")),
        Template("qwen2", _QWEN2_SYSTEM + _CHATML_PROMPT, "<|im_end|>",
                 ("<|im_start|>", "<|im_end|>")),
        Template("llama3",
                 "<|start_header_id|>user<|end_header_id|>\n\n{instruction}<|eot_id|>"
                 "<|start_header_id|>assistant<|end_header_id|>\n\n",
                 "<|eot_id|>", ("<|start_header_id|>", "<|end_header_id|>", "<|eot_id|>")),
    )
}


# The template of each model family (ModelConfig.family) when a checkpoint names none.
FAMILY_TEMPLATES = {"llama": "llama3", "qwen2": "qwen2", "gemma3": "gemma", "toy": "toy"}

ChatTemplate = Union[Template, hf_chat_template.HfTemplate]
TOKENIZER = "tokenizer"  # the name of a tokenizer's own jinja template


def tokenizer_dir(vocab: seqio.Vocabulary | None) -> str | None:
  """The directory of a Hugging Face tokenizer vocabulary (None for other vocabularies)."""
  path = getattr(vocab, "path", None)
  return os.path.dirname(path) if isinstance(path, str) and path.endswith(".json") else None


def tokenizer_template(vocab: seqio.Vocabulary | None) -> hf_chat_template.HfTemplate | None:
  """The vocabulary's own chat template, if it is a Hugging Face tokenizer that has one."""
  directory = tokenizer_dir(vocab)
  return hf_chat_template.HfTemplate.from_directory(directory) if directory else None


def get_template(template: str | ChatTemplate, vocab: seqio.Vocabulary | None = None
                 ) -> ChatTemplate:
  """A template by name (or the template itself); "tokenizer" is `vocab`'s own jinja
  template. Unknown names list the known ones."""
  if isinstance(template, (Template, hf_chat_template.HfTemplate)):
    return template
  if template == TOKENIZER:
    own = tokenizer_template(vocab)
    if own is None:
      raise ValueError(f"chat template {TOKENIZER!r}: the vocabulary {vocab} is not a Hugging "
                       "Face tokenizer with a chat_template (tokenizer_config.json or "
                       f"chat_template.jinja); name one of {', '.join(sorted(TEMPLATES))}")
    return own
  try:
    return TEMPLATES[template]
  except KeyError:
    raise ValueError(f"unknown chat template {template!r}; known: "
                     f"{', '.join(sorted(TEMPLATES))}, {TOKENIZER}") from None


def format_prompt(template: str | Template, instruction: str) -> str:
  """The prompt text for one instruction: everything the model reads before answering."""
  return get_template(template).instruction_prompt(instruction)


def format_response(template: str | Template, response: str) -> str:
  """The target text (EOS is appended as a token, not text): response + end-of-turn."""
  return response + get_template(template).response_suffix


def strip_response(template: str | ChatTemplate, text: str) -> str:
  """Cuts decoded model output at the first end-of-turn marker."""
  for stop in get_template(template).stop_strings:
    text = text.split(stop, 1)[0]
  return text


def start_id(vocab: seqio.Vocabulary) -> int:
  """The decoder's first input token: the vocabulary's BOS, else 0 (seqio's shift-right)."""
  bos = vocab.bos_id
  return bos if bos is not None and bos >= 0 else 0


def stop_token_ids(template: str | ChatTemplate, vocab: seqio.Vocabulary) -> tuple[int, ...]:
  """Token ids that end a generated turn: EOS and each end-of-turn marker that is one token."""
  ids = [vocab.eos_id] if vocab.eos_id is not None else []
  for stop in get_template(template, vocab).stop_strings:
    tokens = list(vocab.encode(stop))
    if len(tokens) == 1:
      ids.append(tokens[0])
  return tuple(dict.fromkeys(ids))


def markers(names: Sequence[str]) -> tuple[str, ...]:
  """The special strings of several templates, e.g. for a sentencepiece model's symbols."""
  return tuple(dict.fromkeys(m for n in names for m in get_template(n).markers))
