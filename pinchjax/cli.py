"""The `pinchjax` entry point.

Every subcommand lives in the module of its stage and registers itself through a
`register(subparsers)` function; modules are imported only when their command runs, so
`pinchjax --help` stays fast. Gin flags work T5X style on every subcommand:

  pinchjax train --gin_file=gin/runs/tune.gin --gin_file=gin/models/toy_s.gin \
      --gin.MIXTURE="'toy_pinch_p10'" --gin.train.num_steps=300

`--gin_file` is repeatable and files are applied in order; `--gin.BINDING=value` overrides
are applied after all files. Gin files are looked up relative to the working directory, then
the repository root, so `include 'gin/models/x.gin'` works from anywhere.
"""
from __future__ import annotations

import argparse
import importlib
import os
import sys
from typing import Callable, Sequence

import gin

import pinchjax

# command name -> module that defines `register(subparsers)` for it.
COMMANDS: dict[str, str] = {
    "data": "pinchjax.data.cli",
    "vocab": "pinchjax.data.vocab_cli",
    "convert": "pinchjax.model.cli",
    "train": "pinchjax.train.cli",
    "infer": "pinchjax.infer.cli",
    "serve": "pinchjax.infer.server_cli",
    "judge": "pinchjax.judge.cli",
    "translate": "pinchjax.translate.cli",
    "study": "pinchjax.study.cli",
    "report": "pinchjax.study.report_cli",
}

REPO_ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def split_gin_args(argv: Sequence[str]) -> tuple[list[str], list[str], list[str]]:
  """Separates `--gin_file=F` / `--gin_file F` and `--gin.X=Y` from the other arguments."""
  files, bindings, rest = [], [], []
  it = iter(argv)
  for arg in it:
    if arg == "--gin_file":
      try:
        files.append(next(it))
      except StopIteration:
        raise SystemExit("--gin_file needs a file name") from None
    elif arg.startswith("--gin_file="):
      files.append(arg.split("=", 1)[1])
    elif arg.startswith("--gin."):
      binding = arg[len("--gin."):]
      if "=" not in binding:
        raise SystemExit(f"gin override {arg!r} must look like --gin.NAME=VALUE")
      bindings.append(binding)
    else:
      rest.append(arg)
  return files, bindings, rest


def parse_gin(files: Sequence[str], bindings: Sequence[str]) -> None:
  """Applies gin files then bindings, with the repository root on the search path."""
  for path in (os.getcwd(), REPO_ROOT):
    gin.add_config_file_search_path(path)
  gin.parse_config_files_and_bindings(list(files), list(bindings), finalize_config=False)


def build_parser(commands: dict[str, str] | None = None) -> argparse.ArgumentParser:
  parser = argparse.ArgumentParser(
      prog="pinchjax",
      description="Multilingual instruction tuning studies in JAX. Every subcommand "
      "also takes --gin_file=FILE (repeatable) and --gin.NAME=VALUE overrides.")
  sub = parser.add_subparsers(dest="command", metavar="COMMAND")
  sub.required = True
  for name, module in (commands or COMMANDS).items():
    # A placeholder parser per command keeps --help cheap; the real one is built on use.
    sub.add_parser(name, help=f"(see `pinchjax {name} --help`)", add_help=False)
  return parser


def main(argv: Sequence[str] | None = None) -> int:
  argv = list(sys.argv[1:] if argv is None else argv)
  files, bindings, rest = split_gin_args(argv)
  if not rest or rest[0] in ("-h", "--help") or rest[0] not in COMMANDS:
    build_parser().parse_args(rest)  # prints help or the unknown-command error
    return 2
  name = rest[0]
  module = importlib.import_module(COMMANDS[name])
  parser = argparse.ArgumentParser(prog=f"pinchjax {name}")
  module.register(parser)
  args = parser.parse_args(rest[1:])
  parse_gin(files, bindings)
  func: Callable[[argparse.Namespace], int | None] = args.func
  try:
    return int(func(args) or 0)
  except pinchjax.UsageError as e:
    # gin appends "In call to configurable ..." lines; the first line is the message.
    raise SystemExit(f"pinchjax {name}: {str(e).splitlines()[0]}") from None


if __name__ == "__main__":
  sys.exit(main())
