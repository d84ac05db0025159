"""User errors as one line: what every command prints instead of a traceback."""
from __future__ import annotations

import os


def _unwrapped(error: BaseException) -> BaseException:
  """The error a gin configurable raised: gin re-raises it as a proxy of the same type whose
  message adds "In call to configurable ..." and which loses an OSError's file name; the
  original is the proxy's __context__."""
  inner = error.__context__
  while (inner is not None and type(inner).__name__ == type(error).__name__
         and str(error).startswith(str(inner))):
    error, inner = inner, inner.__context__
  return error


def one_line(error: BaseException) -> str:
  """An error as one line: an OSError as "PATH: problem", anything else its message."""
  error = _unwrapped(error)
  if isinstance(error, OSError) and error.filename is not None:
    # For a rename (os.replace) the destination is the path the user named.
    name = str(error.filename if error.filename2 is None else error.filename2)
    if isinstance(error, (FileExistsError, NotADirectoryError)):
      # makedirs and open say "File exists" / "Not a directory": name the file in the way.
      path = os.path.abspath(name)
      while path != os.path.dirname(path) and not os.path.exists(path):
        path = os.path.dirname(path)
      if os.path.exists(path) and not os.path.isdir(path):
        return f"{name}: {path} is a file, not a directory"
    return f"{name}: {error.strerror or error}"
  return " ".join(str(error).split()) or type(error).__name__
