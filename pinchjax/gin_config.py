"""gin as the one configuration: files, `--gin.NAME=VALUE` overrides, and the flags that are
aliases of bindings.

A command's flag that sets a configurable's parameter is declared with `alias`: given, it
binds that value exactly as `--gin.BINDING=VALUE` would (after every gin file, so it
overrides a file's binding), `--help` names the binding, and a flag given together with a
`--gin.` override of the same binding is a usage error rather than a silent choice of one.
"""
from __future__ import annotations

import argparse
import os
from typing import Any, Sequence

import gin

from pinchjax import languages

REPO_ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
_ALIASES = "gin_aliases"  # the parser default holding {dest: (flag, binding)}


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
  """Applies gin files then bindings, with the working directory and the repository root on
  the search path, then registers the languages they configure (languages.register_all)."""
  for path in (os.getcwd(), REPO_ROOT):
    gin.add_config_file_search_path(path)
  gin.parse_config_files_and_bindings(list(files), list(bindings), finalize_config=False)
  languages.register_all()


_FROM_FLAG = object()  # the bound value is the flag's argument


def alias(parser: argparse.ArgumentParser, flag: str, binding: str, help: str = "",
          group: Any = None, value: Any = _FROM_FLAG,
          **kwargs: Any) -> None:  # pylint: disable=redefined-builtin
  """Adds `flag` (to `group` of `parser` when given) as an alias of the gin `binding`
  ("configurable.parameter"). With `value` the flag takes no argument and binds `value`
  (None included); other keyword arguments go to `add_argument`."""
  if value is not _FROM_FLAG:
    kwargs["action"] = "store_true"
  note = f"alias of --gin.{binding}" + ("" if value is _FROM_FLAG else f"={value!r}")
  action = (group or parser).add_argument(
      flag, default=None, help=f"{help} ({note})" if help else note, **kwargs)
  aliases = dict(parser.get_default(_ALIASES) or {})  # a copy: parsers never share one
  aliases[action.dest] = (flag, binding, value)
  parser.set_defaults(**{_ALIASES: aliases})


def _same(a: str, b: str) -> bool:
  """Whether two selectors name one parameter: `infer.split` is also
  `pinchjax.infer.run.infer.split`."""
  return a == b or a.endswith("." + b) or b.endswith("." + a)


def conflict(flag: str, binding: str, overrides: Sequence[str]) -> str | None:
  """Why `flag`, an alias of `binding`, cannot be given with these `--gin.` overrides (one of
  them binds the same parameter); None when it can."""
  for override in overrides:
    name = override.split("=", 1)[0].strip()
    if _same(name, binding):
      return (f"{flag} and --gin.{name} both set {binding}; give one of them ({flag} is an "
              f"alias of --gin.{binding})")
  return None


def alias_bindings(parser: argparse.ArgumentParser, args: argparse.Namespace,
                   overrides: Sequence[str]) -> list[str]:
  """The bindings of the alias flags given in `args`; a flag whose binding is also among the
  command line's `--gin.` overrides is a usage error (`parser.error`: exit status 2)."""
  out = []
  for dest, (flag, binding, value) in (getattr(args, _ALIASES, None) or {}).items():
    given = getattr(args, dest, None)
    if given is None:
      continue
    why = conflict(flag, binding, overrides)
    if why:
      parser.error(why)
    out.append(f"{binding} = {given if value is _FROM_FLAG else value!r}")
  return out


def binds(parameter: str) -> bool:
  """Whether the gin config binds `parameter` (e.g. "make_mesh.shape")."""
  try:
    gin.query_parameter(parameter)
  except ValueError:  # not bound
    return False
  return True
