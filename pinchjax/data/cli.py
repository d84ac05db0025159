"""`pinchjax data import | build-paper-set | stats | show | toyworld`.

  pinchjax data import --format lima --lang en train.jsonl data/lima/train/en.jsonl
  pinchjax data build-paper-set --lima lima/train.jsonl --oasst oasst1.messages.jsonl \
      data/paper/train/en.jsonl
  pinchjax data stats --data-dir data --mixture paper_pinch_p1 --json
  pinchjax data show --data-dir data --mixture toy_pinch_p10 --vocab toy.model --template toy
  pinchjax data toyworld --out data --seed 0

`stats` and `show` use the gin-configured registration when it has the name; otherwise they
register the dataset directory the name starts with under --data-dir (stats needs no
vocabulary: it only counts examples).
"""
from __future__ import annotations

import argparse
import json
import os
import sys

import seqio

from pinchjax.data import canonical, chat, formats, paperset, pipeline, registry


def _import(args: argparse.Namespace) -> int:
  try:
    result = formats.read(args.format, args.input, args.lang, args.on_error)
    if args.align_with:
      base = canonical.read_jsonl(args.align_with, "raise", require_response=False)
      canonical.aligned_ids({"base": base, args.lang: result.records}, "base",
                            lambda l: args.align_with if l == "base" else args.input)
  except canonical.RecordError as e:
    print(f"error: {e}", file=sys.stderr)
    return 1
  n = canonical.write_jsonl(args.output, result.records)
  print(result.summary(), file=sys.stderr)
  print(json.dumps({"output": args.output, "written": n, **result.to_json()}))
  return 0


def _build_paper_set(args: argparse.Namespace) -> int:
  try:
    records, report = paperset.build_paper_set(args.lima, args.oasst, args.n_lima,
                                               args.n_oasst, args.on_error)
  except ValueError as e:  # RecordError included: bad rows, or too few usable examples
    print(f"error: {e}", file=sys.stderr)
    return 1
  canonical.write_jsonl(args.output, records)
  print(json.dumps({"output": args.output, **report}, indent=2))
  return 0


def _ensure_registered(name: str, data_dir: str | None, vocab: str | None,
                       template: str) -> None:
  """Registers the dataset `name` belongs to under --data-dir (replacing an earlier
  registration: the flags say what is wanted), or relies on gin-configured registration."""
  if data_dir is None:
    registry.get_provider(name)
    return
  if vocab is None:
    try:
      registry.get_provider(name)  # counting works with whatever vocabulary is registered
      return
    except ValueError:
      pass
  dataset = registry.dataset_dir_for(name, data_dir)
  if dataset is None:
    raise SystemExit(f"no dataset directory under {data_dir} matches {name!r}")
  # Counting needs no tokenizer; a stand-in vocabulary keeps `stats` free of model files.
  vocabulary = vocab if vocab else seqio.PassThroughVocabulary(size=1, eos_id=1)
  if os.path.isdir(os.path.join(data_dir, dataset, "train")):
    registry.register_dataset(dataset, data_dir, vocabulary, template, replace=True)
  else:
    registry.register_evalset(dataset, data_dir, vocabulary, template, replace=True)


def _stats(args: argparse.Namespace) -> int:
  _ensure_registered(args.mixture, args.data_dir, args.vocab, args.template)
  stats = registry.mixture_stats(args.mixture, args.split)
  if args.json:
    print(json.dumps(stats))
  else:
    print(f"{stats['name']} ({stats['split']}): {stats['total']} examples")
    for lang, n in stats["languages"].items():
      print(f"  {lang}  {n:7d}  share {stats['shares'][lang]:.4f}")
  return 0


def _piece(vocab: seqio.Vocabulary, token: int) -> str:
  if isinstance(vocab, seqio.SentencePieceVocabulary):
    return vocab.tokenizer.id_to_piece(int(token))
  return vocab.decode([int(token)]) if token != vocab.eos_id else "<EOS>"


def _show(args: argparse.Namespace) -> int:
  _ensure_registered(args.mixture, args.data_dir, args.vocab, args.template)
  ds = pipeline.get_dataset(args.mixture, args.split, args.sequence_length, args.n, args.seed,
                            pack=False)
  batch = next(ds)
  tasks, _ = pipeline.resolve(args.mixture)
  vocab = tasks[0].output_features["targets"].vocabulary
  for row, [(task, index)] in enumerate(ds.last_examples):
    n = int((batch["decoder_segment_ids"][row] > 0).sum())
    tokens = batch["decoder_target_tokens"][row, :n]
    weights = batch["decoder_loss_weights"][row, :n]
    prompt = tokens[weights == 0]
    print(f"=== example {row + 1}/{args.n}  task {task}  #{index}  {n} tokens "
          f"({len(prompt)} prompt, {int(weights.sum())} with loss)")
    print(f"start token: {ds.start_id}")
    print("prompt text:   " + repr(vocab.decode(prompt.tolist())))
    print("response text: " + repr(vocab.decode(tokens[weights == 1].tolist())))
    print("tokens (id:piece, * = loss):")
    print("  " + " ".join(f"{t}:{_piece(vocab, t)}{'*' if w else ''}"
                          for t, w in zip(tokens.tolist(), weights.tolist())))
  return 0


def register(parser: argparse.ArgumentParser) -> None:
  sub = parser.add_subparsers(dest="data_command", metavar="SUBCOMMAND", required=True)

  p = sub.add_parser("import", help="a dataset layout -> canonical JSONL")
  p.add_argument("--format", required=True, choices=sorted(formats.READERS))
  p.add_argument("--lang", required=True, help="language of the file (ISO 639-1)")
  p.add_argument("--on-error", default="raise", choices=["raise", "skip"])
  p.add_argument("--align-with", help="canonical file whose ids this file must match exactly")
  p.add_argument("input")
  p.add_argument("output")
  p.set_defaults(func=_import)

  p = sub.add_parser("build-paper-set", help="1,000 LIMA + 3,640 OASST English pairs")
  p.add_argument("--lima", required=True)
  p.add_argument("--oasst", required=True)
  p.add_argument("--n-lima", type=int, default=1000)
  p.add_argument("--n-oasst", type=int, default=3640)
  p.add_argument("--on-error", default="raise", choices=["raise", "skip"])
  p.add_argument("output")
  p.set_defaults(func=_build_paper_set)

  for name, func, help_ in (("stats", _stats, "examples per language of a mixture"),
                            ("show", _show, "examples exactly as the model sees them")):
    p = sub.add_parser(name, help=help_)
    p.add_argument("--data-dir")
    p.add_argument("--mixture", required=True, help="mixture or task name")
    p.add_argument("--split", default="train")
    p.add_argument("--vocab", required=name == "show",
                   help="sentencepiece .model or tokenizer.json")
    p.add_argument("--template", default="toy", choices=[*sorted(chat.TEMPLATES), chat.TOKENIZER])
    if name == "stats":
      p.add_argument("--json", action="store_true")
    else:
      p.add_argument("-n", type=int, default=3, help="how many examples")
      p.add_argument("--sequence-length", type=int, default=512)
      p.add_argument("--seed", type=int, default=0)
    p.set_defaults(func=func)

  from pinchjax.data.toyworld import cli as toyworld_cli  # pylint: disable=import-outside-toplevel
  toyworld_cli.register(sub.add_parser("toyworld", help="write the synthetic 12-language world"))
