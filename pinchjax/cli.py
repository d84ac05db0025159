"""The `pinchjax` entry point.

Every subcommand lives in the module of its stage and registers itself through a
`register(subparsers)` function; modules are imported only when their command runs, so
`pinchjax --help` stays fast. Gin flags work T5X style on every subcommand:

  pinchjax train --gin_file=gin/runs/tune.gin --gin_file=gin/models/toy_s.gin \
      --gin.MIXTURE="'toy_pinch_p10'" --gin.train.num_steps=300

`--gin_file` is repeatable and files are applied in order; `--gin.BINDING=value` overrides
are applied after all files. Gin files are looked up relative to the working directory, then
the repository root, so `include 'gin/models/x.gin'` works from anywhere. A command's flag
that sets a gin-configurable parameter is an alias of its binding (`infer --batch-size 8` =
`--gin.infer.batch_size=8`; its --help says which): applied after the files, and an error
when a --gin. override of the same binding is given too (pinchjax.gin_config).

Two more flags work anywhere on every command: `--languages FILE.tsv|FILE.json`
(repeatable) registers the languages of the file for the run, an alias of the gin binding
`register_all.files` (pinchjax.languages; other values are left to the command, such as
`data toyworld --languages en,fi`); `--debug` shows the traceback of an error. Without
it, a user error (bad input: ValueError and the project's errors built on it, such as
RecordError and UnknownLanguageError; a file-system error: OSError) is one line on stderr
and exit status 1 (2 for an unknown language code, a usage error).
"""
from __future__ import annotations

import argparse
import importlib
import sys
import traceback
from typing import Callable, Sequence

from pinchjax import errors, languages
# parse_gin and split_gin_args also serve scripts that read gin as a command does
# (python -m pinchjax.study.toy_base) and the tests.
from pinchjax.gin_config import REPO_ROOT, parse_gin, split_gin_args  # noqa: F401
from pinchjax.gin_config import alias_bindings, conflict

# command name -> module that defines `register(subparsers)` for it.
COMMANDS: dict[str, str] = {
    "data": "pinchjax.data.cli",
    "vocab": "pinchjax.data.vocab_cli",
    "convert": "pinchjax.checkpoints.cli",
    "train": "pinchjax.train.cli",
    "infer": "pinchjax.infer.cli",
    "serve": "pinchjax.infer.server_cli",
    "judge": "pinchjax.judge.cli",
    "translate": "pinchjax.translate.cli",
    "study": "pinchjax.study.cli",
    "report": "pinchjax.study.report_cli",
}

LANGUAGE_FILE_SUFFIXES = (".tsv", ".json")
LANGUAGES_BINDING = "pinchjax.languages.register_all.files"


def split_global_flags(argv: Sequence[str]) -> tuple[bool, list[str], list[str]]:
  """(--debug given, --languages files, the other arguments).

  `--languages` is global only with a .tsv or .json file: a command may have a flag of that
  name for a list of codes (`data toyworld --languages en,fi`), which stays the command's.
  """
  debug, language_files, rest = False, [], []
  i = 0
  while i < len(argv):
    arg = argv[i]
    value = (arg.split("=", 1)[1] if arg.startswith("--languages=") else
             argv[i + 1] if arg == "--languages" and i + 1 < len(argv) else None)
    if arg == "--debug":
      debug = True
    elif value is not None and value.lower().endswith(LANGUAGE_FILE_SUFFIXES):
      language_files.append(value)
      i += arg == "--languages"  # the value was the next argument
    else:
      rest.append(arg)
    i += 1
  return debug, language_files, rest


def build_parser(commands: dict[str, str] | None = None) -> argparse.ArgumentParser:
  parser = argparse.ArgumentParser(
      prog="pinchjax",
      description="Multilingual instruction tuning studies in JAX. Every subcommand "
      "also takes --gin_file=FILE (repeatable), --gin.NAME=VALUE overrides, --languages FILE "
      "(register languages: TSV/JSON rows of code, name, family, script) and --debug "
      "(tracebacks instead of one-line errors).")
  sub = parser.add_subparsers(dest="command", metavar="COMMAND")
  sub.required = True
  for name, module in (commands or COMMANDS).items():
    # A placeholder parser per command keeps --help cheap; the real one is built on use.
    sub.add_parser(name, help=f"(see `pinchjax {name} --help`)", add_help=False)
  return parser


def main(argv: Sequence[str] | None = None) -> int:
  debug, language_files, argv = split_global_flags(
      list(sys.argv[1:] if argv is None else argv))
  try:
    return _run(argv, language_files)
  except (ValueError, OSError) as e:
    if debug:
      traceback.print_exc()
    else:
      print(f"error: {errors.one_line(e)}", file=sys.stderr)
    return 2 if isinstance(e, languages.UnknownLanguageError) else 1


def _run(argv: list[str], language_files: list[str]) -> int:
  files, overrides, rest = split_gin_args(argv)
  if not rest or rest[0] in ("-h", "--help") or rest[0] not in COMMANDS:
    build_parser().parse_args(rest)  # prints help or the unknown-command error
    return 2
  name = rest[0]
  module = importlib.import_module(COMMANDS[name])
  parser = argparse.ArgumentParser(prog=f"pinchjax {name}")
  module.register(parser)
  args = parser.parse_args(rest[1:])
  # Flags that alias bindings come after the files (they override a file's binding) and
  # never together with a --gin. override of the same binding.
  bindings = [*overrides, *alias_bindings(parser, args, overrides)]
  if language_files:
    why = conflict("--languages", LANGUAGES_BINDING, overrides)
    if why:
      parser.error(why)
    bindings.append(f"{LANGUAGES_BINDING} = {language_files!r}")
  parse_gin(files, bindings)
  func: Callable[[argparse.Namespace], int | None] = args.func
  return int(func(args) or 0)


if __name__ == "__main__":
  sys.exit(main())
