"""`pinchjax data import | import-generations | build-paper-set | stats | show | toyworld`.

  pinchjax data import --format lima --lang en train.jsonl data/lima/train/en.jsonl
  pinchjax data import --format json --map instruction=prompt,id=id --lang fi prompts.jsonl \
      data/evalset/test/fi.jsonl
  pinchjax data import-generations --map instruction=instruction,output=output,run=generator \
      --run gpt4 --lang en --ids-from data/alpacafarm/test/en.jsonl outputs.json gpt4.jsonl
  pinchjax data build-paper-set --lima lima/train.jsonl --oasst oasst1.messages.jsonl \
      data/paper/train/en.jsonl
  pinchjax data stats --data-dir data --mixture paper_pinch_p1 --json
  pinchjax data show --data-dir data --mixture toy_pinch_p10 --vocab toy.model --template toy
  pinchjax data toyworld --out data --seed 0

Imports refuse an empty result (--allow-empty writes one) and a file whose records are
mostly in another language than --lang (pinchjax.data.langcheck; --no-lang-check).
`stats` and `show` use the gin-configured registration when it has the name; otherwise they
register the dataset directory the name starts with under --data-dir (stats needs no
vocabulary: it only counts examples).
"""
from __future__ import annotations

import argparse
import json
import os
import sys
from typing import Callable

import seqio

from pinchjax import gin_config, languages
from pinchjax.data import canonical, chat, formats, langcheck, mapped, paperset, pipeline
from pinchjax.data import generations, registry, rows

CANONICAL_MAP = tuple(f for f in mapped.FIELDS if f != "run")
GENERATIONS_MAP = tuple(f for f in mapped.FIELDS if f != "source")


OASST_FLAGS = {  # flag -> the OasstSelection binding it aliases
    "--keep-deleted": ("skip_deleted", False), "--keep-synthetic": ("skip_synthetic", False),
    "--keep-failed-review": ("skip_failed_review", False),
    "--any-tree-state": ("tree_state", None)}


def _checked(args: argparse.Namespace, result: rows.ReadResult,
             text: Callable[[canonical.Record], str]) -> list[str]:
  """Refuses an empty result (unless --allow-empty) and a file in another language (unless
  --no-lang-check); returns notes for the report."""
  if not result.records and not args.allow_empty:
    why = ("the file has no rows" if not result.skipped.total and not result.filtered
           else f"{result.skipped.total} rows skipped, {sum(result.filtered.values())} not "
           "selected")
    raise canonical.RecordError(args.input, None, None, f"no records to write ({why}); pass "
                                "--allow-empty to write an empty file")
  if args.no_lang_check:
    return [f"{args.input}: language not checked (--no-lang-check)"]
  return langcheck.check(args.input, result.records, text)


def _report(args: argparse.Namespace, result: rows.ReadResult, written: int,
            notes: list[str]) -> None:
  print("\n".join([result.summary(), *notes]), file=sys.stderr)
  print(json.dumps({"output": args.output, "written": written, **result.to_json(),
                    "notes": notes}))


def _import(args: argparse.Namespace) -> int:
  if (args.format == "json") != (args.map is not None):
    raise ValueError("--map goes with --format json, and --format json needs --map")
  if args.format != "json" and args.lang is None:
    raise ValueError(f"--format {args.format} needs --lang")
  if args.format == "json":
    lang = None if args.lang is None else languages.check(args.lang)
    result = mapped.read_mapped(args.input, mapped.parse_map(args.map, CANONICAL_MAP), lang,
                                args.on_error)
  else:
    result = formats.read(args.format, args.input, args.lang, args.on_error)
  notes = _checked(args, result, lambda r: f"{r.instruction}\n{r.response}")
  if args.align_with:
    base = canonical.read_jsonl(args.align_with, "raise", require_response=False)
    canonical.aligned_ids({"base": base, "new": result.records}, "base",
                          lambda l: args.align_with if l == "base" else args.input)
  _report(args, result, canonical.write_jsonl(args.output, result.records), notes)
  return 0


def _import_generations(args: argparse.Namespace) -> int:
  mapping = mapped.parse_map(args.map, GENERATIONS_MAP)
  if "response" not in mapping:
    raise ValueError("--map must map the model's output, e.g. output=output")
  ids = None
  if args.ids_from:
    ids = {r.instruction: r.id
           for r in canonical.read_jsonl(args.ids_from, "raise", require_response=False)}
  lang = None if args.lang is None else languages.check(args.lang)
  result = mapped.read_mapped(args.input, mapping, lang, args.on_error, run=args.run, ids=ids)
  notes = _checked(args, result, lambda r: r.instruction)  # the response's is judged later
  # The generation record pinchjax infer writes (pinchjax.data.generations); what decoded it is
  # unknown, so decode_config names the file and the per-response fields are null.
  config = {"imported_from": args.input}
  written = generations.write(args.output, (
      generations.make(r.to_json(), r.response, args.run, config, None, None)
      for r in result.records))
  _report(args, result, written, notes)
  return 0


def _build_paper_set(args: argparse.Namespace) -> int:
  recs, report = paperset.build_paper_set(args.lima, args.oasst, args.n_lima, args.n_oasst,
                                          args.on_error)
  canonical.write_jsonl(args.output, recs)
  print(json.dumps({"output": args.output, **report}, indent=2))
  return 0


# Datasets these commands registered from their flags (in this process: tests, notebooks).
_FROM_FLAGS: set[str] = set()


def _ensure_registered(name: str, data_dir: str | None, vocab: str | None,
                       template: str) -> None:
  """Registers the dataset `name` belongs to under --data-dir, or relies on gin-configured
  registration. Registering what is registered already, the same way, is a no-op; an
  earlier command's registration from its flags is replaced (the flags say what is wanted
  now); a registration made otherwise (the gin configuration, a library call) with other
  settings is an error."""
  if data_dir is None:
    registry.get_provider(name)
    return
  if vocab is None:
    try:
      registry.get_provider(name)  # counting works with whatever vocabulary is registered
      return
    except registry.NotRegisteredError:
      pass  # only a miss: an error of the configured registration itself is the user's
  dataset = registry.dataset_dir_for(name, data_dir)
  if dataset is None:
    raise ValueError(f"{data_dir}: no dataset directory matches {name!r}")
  # Counting needs no tokenizer; a stand-in vocabulary keeps `stats` free of model files.
  vocabulary = vocab if vocab else seqio.PassThroughVocabulary(size=1, eos_id=1)
  register = (registry.register_dataset if os.path.isdir(os.path.join(data_dir, dataset, "train"))
              else registry.register_evalset)
  try:
    register(dataset, data_dir, vocabulary, template, replace=dataset in _FROM_FLAGS)
    _FROM_FLAGS.add(dataset)
  except registry.RegistrationConflictError:
    raise ValueError(
        f"--data-dir {data_dir}: dataset {dataset!r} is already registered with another data "
        f"directory, vocabulary, template or files (by the gin configuration or a library "
        f"call); drop --data-dir to use that registration, or the configuration to use these "
        f"flags") from None


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


def _input_flags(p: argparse.ArgumentParser) -> None:
  p.add_argument("--on-error", default="raise", choices=["raise", "skip"],
                 help="skip: count bad rows (bad JSON, bad UTF-8, bad fields) and go on")
  p.add_argument("--allow-empty", action="store_true",
                 help="write an empty output rather than fail when no record is usable")
  p.add_argument("--no-lang-check", action="store_true",
                 help="do not check that the majority language of the records is --lang")
  p.add_argument("input")
  p.add_argument("output")


def _oasst_flags(p: argparse.ArgumentParser) -> None:
  for flag, (name, value) in OASST_FLAGS.items():
    gin_config.alias(p, flag, f"pinchjax.data.oasst.OasstSelection.{name}", "oasst",
                     value=value)


def register(parser: argparse.ArgumentParser) -> None:
  sub = parser.add_subparsers(dest="data_command", metavar="SUBCOMMAND", required=True)

  p = sub.add_parser("import", help="a dataset layout -> canonical JSONL")
  p.add_argument("--format", required=True, choices=sorted([*formats.READERS, "json"]),
                 help="a known layout, or json: any JSON array/JSONL layout through --map")
  p.add_argument("--map", help="with --format json: FIELD=PATH pairs, e.g. instruction=prompt,"
                 f"response=output,id=id (fields: {', '.join(CANONICAL_MAP)}; dotted paths "
                 "such as conversation.0.text; without id, ids are row-N)")
  p.add_argument("--lang", help="language of the file (ISO 639-1); with --format json it may "
                 "come from a mapped lang field instead")
  p.add_argument("--align-with", help="canonical file whose ids this file must match exactly")
  _input_flags(p)
  _oasst_flags(p)
  p.set_defaults(func=_import)

  p = sub.add_parser("import-generations",
                     help="model outputs made elsewhere -> a generations file pinchjax judge "
                     "reads")
  p.add_argument("--map", required=True, help="FIELD=PATH pairs: instruction and output "
                 "required; input, id, lang, run optional (run=generator keeps the rows of "
                 "--run only)")
  p.add_argument("--run", required=True, help="the run name the outputs are judged under")
  p.add_argument("--lang", help="language of the file, unless a lang field is mapped")
  p.add_argument("--ids-from", help="canonical evaluation set: each output takes the id of "
                 "the instruction it answers, so it pairs with pinchjax runs on that set")
  _input_flags(p)
  p.set_defaults(func=_import_generations)

  p = sub.add_parser("build-paper-set", help="1,000 LIMA + 3,640 OASST English pairs")
  p.add_argument("--lima", required=True)
  p.add_argument("--oasst", required=True)
  p.add_argument("--n-lima", type=int, default=1000)
  p.add_argument("--n-oasst", type=int, default=3640)
  p.add_argument("--on-error", default="raise", choices=["raise", "skip"])
  _oasst_flags(p)
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
