"""Gin files and bindings, the one configuration path of every command and study step.

`--gin_file=F` (repeatable, applied in order) and `--gin.NAME=VALUE` overrides (applied after
all files) work T5X style; files are looked up relative to the working directory, then the
repository root, so `include 'gin/models/x.gin'` works from anywhere. The entry point
(pinchjax.cli), the study's steps and the toy base builder all parse gin through here.
"""
from __future__ import annotations

import os
from typing import Sequence

import gin

from pinchjax import languages

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
  """Applies gin files then bindings, with the repository root on the search path, then
  registers the languages they configure (languages.register_all)."""
  for path in (os.getcwd(), REPO_ROOT):
    gin.add_config_file_search_path(path)
  gin.parse_config_files_and_bindings(list(files), list(bindings), finalize_config=False)
  languages.register_all()


def binds(parameter: str) -> bool:
  """Whether the gin config binds `parameter` (e.g. "make_mesh.shape")."""
  try:
    gin.query_parameter(parameter)
  except ValueError:  # not bound
    return False
  return True
