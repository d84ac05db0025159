import sys
import types

import gin
import pytest

from pinchjax import cli


@gin.configurable
def _greeting(name: str = "world", times: int = 1) -> str:
  return " ".join([f"hello {name}"] * times)


def _fake_command(monkeypatch, seen):
  module = types.ModuleType("fake_cmd")

  def register(parser):
    parser.add_argument("--loud", action="store_true")
    parser.set_defaults(func=lambda args: seen.append((_greeting(), args.loud)) or 3)

  module.register = register
  monkeypatch.setitem(sys.modules, "fake_cmd", module)
  monkeypatch.setitem(cli.COMMANDS, "greet", "fake_cmd")


def test_split_gin_args():
  files, bindings, rest = cli.split_gin_args(
      ["train", "--gin_file=a.gin", "--gin_file", "b.gin", "--gin.X=1", "--steps", "3"])
  assert files == ["a.gin", "b.gin"]
  assert bindings == ["X=1"]
  assert rest == ["train", "--steps", "3"]
  with pytest.raises(SystemExit, match="NAME=VALUE"):
    cli.split_gin_args(["--gin.X"])


def test_gin_files_then_overrides(monkeypatch, tmp_path):
  seen = []
  _fake_command(monkeypatch, seen)
  base = tmp_path / "base.gin"
  base.write_text("_greeting.name = 'base'\n_greeting.times = 2\n")
  top = tmp_path / "top.gin"
  top.write_text(f"include '{base}'\n_greeting.name = 'top'\n")
  gin.clear_config()
  try:
    rc = cli.main(["greet", "--loud", f"--gin_file={top}", "--gin._greeting.times=3"])
  finally:
    gin.clear_config()
  assert rc == 3
  assert seen == [("hello top hello top hello top", True)]


def test_unknown_command_exits_nonzero(capsys):
  with pytest.raises(SystemExit) as err:
    cli.main(["no-such-command"])
  assert err.value.code == 2
  assert "invalid choice" in capsys.readouterr().err
