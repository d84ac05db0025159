"""Chat templates per model family: the one place prompts are built, for training and inference.

A tuning example becomes two token sequences, encoded separately:

  inputs  = encode(format_prompt(template, instruction))      (no loss)
  targets = encode(format_response(template, response)) + EOS (loss on every token)

and the model sees `[start_id(vocab)] + inputs + targets` (the decoder's first input is the
start token: the vocabulary's BOS, or 0 when it has none, seqio's convention). Inference
builds its prompt with the same `encode_prompt`, so train and infer see identical token ids,
and stops at `stop_token_ids` (the vocabulary's EOS and the template's end-of-turn marker).

Templates (the instruction is a single user turn, as in the paper):
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
from typing import Sequence

import seqio


@dataclasses.dataclass(frozen=True)
class Template:
  name: str
  prompt: str  # contains "{instruction}" exactly once
  response_suffix: str  # closes the model turn before EOS ("" when EOS alone closes it)
  markers: tuple[str, ...]  # special strings a vocabulary must keep as single tokens

  @property
  def stop_strings(self) -> tuple[str, ...]:
    return (self.response_suffix,) if self.response_suffix else ()


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


def get_template(template: str | Template) -> Template:
  """A Template by name (or the Template itself); unknown names list the known ones."""
  if isinstance(template, Template):
    return template
  try:
    return TEMPLATES[template]
  except KeyError:
    raise ValueError(f"unknown chat template {template!r}; known: "
                     f"{', '.join(sorted(TEMPLATES))}") from None


def format_prompt(template: str | Template, instruction: str) -> str:
  """The prompt text for one instruction: everything the model reads before answering."""
  return get_template(template).prompt.replace("{instruction}", instruction)


def format_response(template: str | Template, response: str) -> str:
  """The target text (EOS is appended as a token, not text): response + end-of-turn."""
  return response + get_template(template).response_suffix


def strip_response(template: str | Template, text: str) -> str:
  """Cuts decoded model output at the first end-of-turn marker."""
  for stop in get_template(template).stop_strings:
    text = text.split(stop, 1)[0]
  return text


def start_id(vocab: seqio.Vocabulary) -> int:
  """The decoder's first input token: the vocabulary's BOS, else 0 (seqio's shift-right)."""
  bos = vocab.bos_id
  return bos if bos is not None and bos >= 0 else 0


def encode_prompt(template: str | Template, vocab: seqio.Vocabulary, instruction: str
                  ) -> list[int]:
  """Prompt token ids, without the start token (see the module docstring)."""
  return list(vocab.encode(format_prompt(template, instruction)))


def stop_token_ids(template: str | Template, vocab: seqio.Vocabulary) -> tuple[int, ...]:
  """Token ids that end a generated turn: EOS and each end-of-turn marker that is one token."""
  ids = [vocab.eos_id] if vocab.eos_id is not None else []
  for stop in get_template(template).stop_strings:
    tokens = list(vocab.encode(stop))
    if len(tokens) == 1:
      ids.append(tokens[0])
  return tuple(dict.fromkeys(ids))


def markers(names: Sequence[str]) -> tuple[str, ...]:
  """The special strings of several templates, e.g. for a sentencepiece model's symbols."""
  return tuple(dict.fromkeys(m for n in names for m in get_template(n).markers))
