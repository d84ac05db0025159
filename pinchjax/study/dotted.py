"""Functions named by import path in a study's step parameters (`Study.data`'s `fn`,
`Study.judge`'s `checker`). Step parameters are data: hashed into the step's identity and
sent to other processes, so they name a function rather than hold a gin reference to it."""
from __future__ import annotations

import importlib
from typing import Any, Callable


def resolve(spec: str | Callable[..., Any]) -> Callable[..., Any]:
  """`"package.module.name"` (or `"package.module:name"`) -> that object; callables pass."""
  if callable(spec):
    return spec
  module, sep, name = spec.rpartition(":") if ":" in spec else spec.rpartition(".")
  if not sep or not module or not name:
    raise ValueError(f"{spec!r} is not an import path like 'package.module.function'")
  try:
    obj = getattr(importlib.import_module(module), name)
  except (ImportError, AttributeError) as e:
    raise ValueError(f"cannot import {spec!r}: {e}") from None
  if not callable(obj):
    raise ValueError(f"{spec!r} is a {type(obj).__name__}, not a callable")
  return obj
