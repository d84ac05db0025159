"""Every command flag that sets a gin-configurable parameter is an alias of its binding:
it binds what `--gin.BINDING=VALUE` would, after the gin files, and given together with a
`--gin.` override of the same binding it is a usage error (exit 2), not a silent choice."""
import argparse
import importlib
import sys
import types

import gin
import pytest

from pinchjax import cli, gin_config


@gin.configurable
def _salute(name: str = "world", times: int = 1) -> str:
  return " ".join([f"hello {name}"] * times)


@pytest.fixture(autouse=True)
def clean_gin():
  gin.clear_config()
  yield
  gin.clear_config()


def _fake_command(monkeypatch, seen):
  module = types.ModuleType("fake_alias_cmd")

  def register(parser):
    gin_config.alias(parser, "--times", "_salute.times", type=int, help="how often")
    gin_config.alias(parser, "--anonymous", "_salute.name", value="nobody")
    parser.set_defaults(func=lambda args: seen.append(_salute()) or 0)

  module.register = register
  monkeypatch.setitem(sys.modules, "fake_alias_cmd", module)
  monkeypatch.setitem(cli.COMMANDS, "greet", "fake_alias_cmd")


def test_a_flag_binds_after_the_files(monkeypatch, tmp_path):
  seen = []
  _fake_command(monkeypatch, seen)
  config = tmp_path / "g.gin"
  config.write_text("_salute.name = 'file'\n_salute.times = 2\n")
  assert cli.main(["greet", f"--gin_file={config}", "--times", "3"]) == 0
  assert cli.main(["greet", f"--gin_file={config}", "--anonymous"]) == 0
  assert cli.main(["greet", f"--gin_file={config}", "--gin._salute.times=1"]) == 0
  assert seen == ["hello file hello file hello file", "hello nobody hello nobody", "hello file"]


@pytest.mark.parametrize("override", ["_salute.times=5", "test_gin_aliases._salute.times=5",
                                      " _salute.times = 5"])
def test_a_flag_and_an_override_of_its_binding_is_a_usage_error(monkeypatch, capsys, override):
  seen = []
  _fake_command(monkeypatch, seen)
  with pytest.raises(SystemExit) as err:
    cli.main(["greet", "--times", "3", f"--gin.{override}"])
  assert err.value.code == 2 and seen == []
  message = capsys.readouterr().err
  assert "--times and --gin." in message and "both set _salute.times" in message
  # An override of another parameter of the same configurable is no conflict.
  assert cli.main(["greet", "--times", "2", "--gin._salute.name='x'"]) == 0
  assert seen == ["hello x hello x"]


def test_help_names_the_binding(monkeypatch, capsys):
  _fake_command(monkeypatch, [])
  with pytest.raises(SystemExit):
    cli.main(["greet", "--help"])
  help_text = " ".join(capsys.readouterr().out.split())
  assert "how often (alias of --gin._salute.times)" in help_text
  assert "alias of --gin._salute.name='nobody'" in help_text


def test_the_global_languages_flag_is_checked_too(tmp_path, capsys):
  table = tmp_path / "extra.tsv"
  table.write_text("xq\tXq\tIsolate\tLatin\n")
  with pytest.raises(SystemExit) as err:
    cli.main(["report", str(tmp_path), "--languages", str(table),
              "--gin.pinchjax.languages.register_all.files=[]"])
  assert err.value.code == 2 and "--languages and --gin." in capsys.readouterr().err


def _bindings(command: str, argv: list[str]) -> list[str]:
  """The bindings a command line's alias flags make, read off the command's own parser."""
  parser = argparse.ArgumentParser(prog=f"pinchjax {command}")
  importlib.import_module(cli.COMMANDS[command]).register(parser)
  return gin_config.alias_bindings(parser, parser.parse_args(argv), [])


# (command, arguments, the bindings they make)
COMMAND_LINES = [
    ("infer", ["--checkpoint", "c", "--out", "o", "--task", "alpaca_eval_fi", "--split",
               "validation", "--run", "r1", "--batch-size", "8", "--template", "llama3"],
     ["infer.task = 'alpaca_eval_fi'", "infer.split = 'validation'", "infer.run = 'r1'",
      "infer.batch_size = 8", "infer.template = 'llama3'"]),
    ("infer", ["--checkpoint", "c", "--out", "o", "--input", "in.jsonl"],
     ["infer.input_path = 'in.jsonl'"]),
    ("serve", ["--checkpoint", "c", "--max-context", "96", "--template", "toy", "--port", "0",
               "--max-batch", "4", "--no-warmup"],
     ["load_generator.max_context = 96", "load_generator.template = 'toy'",
      "ServeConfig.port = 0", "ServeConfig.max_batch = 4", "ServeConfig.warmup = False"]),
    ("judge", ["--candidate", "c", "--out", "o", "--references", "r.jsonl", "--cache", "x.db"],
     ["judge_run.references = 'r.jsonl'", "judge_run.cache = 'x.db'"]),
    ("judge", ["export-human", "--out", "o", "--per-language", "5", "--languages", "fi,zh"],
     ["export_human.per_language = 5", "export_human.languages = ['fi', 'zh']"]),
    ("translate", ["--in", "i", "--to", "fi", "--out", "o", "--fields", "instruction",
                   "--cache", "t.db"], ["translate_files.cache_path = 't.db'"]),
    ("study", ["gin/studies/toy_demo.gin", "--executor", "ray", "--ray-address", "auto"],
     ["StudyExecutor.name = 'ray'", "StudyExecutor.ray_address = 'auto'"]),
    ("data", ["toyworld", "--out", "o", "--seed", "3", "--languages", "en,fi"],
     ["build_toyworld.seed = 3", "build_toyworld.languages = 'en,fi'"]),
    ("data", ["build-paper-set", "--lima", "l", "--oasst", "o", "out", "--keep-deleted",
              "--any-tree-state"],
     ["pinchjax.data.oasst.OasstSelection.skip_deleted = False",
      "pinchjax.data.oasst.OasstSelection.tree_state = None"]),
]


@pytest.mark.parametrize("command, argv, expected", COMMAND_LINES,
                         ids=[f"{c}-{i}" for i, (c, _, _) in enumerate(COMMAND_LINES)])
def test_each_commands_flags_bind_their_gin_parameters(command, argv, expected):
  assert _bindings(command, argv) == expected
  gin_config.parse_gin([], expected)  # each names a parameter gin knows, with a valid value


def test_the_bound_settings_reach_the_configurables():
  from pinchjax.infer import serve  # pylint: disable=import-outside-toplevel
  bindings = _bindings("serve", ["--checkpoint", "c", "--max-batch", "4", "--no-warmup"])
  # A file's binding holds where no flag is given; a flag's wins over the file's.
  gin_config.parse_gin([], ["ServeConfig.grace_period_s = 5.0", "ServeConfig.max_batch = 8",
                            "ServeConfig.warmup_max_tokens = [16, 64]", *bindings])
  config = serve.ServeConfig()
  assert (config.grace_period_s, config.max_batch, config.warmup) == (5.0, 4, False)
  assert tuple(config.warmup_max_tokens) == (16, 64) and config.port == 8000


@pytest.mark.parametrize("argv", [
    ["infer", "--checkpoint", "c", "--out", "o", "--task", "t", "--batch-size", "8",
     "--gin.infer.batch_size=4"],
    ["infer", "--checkpoint", "c", "--out", "o", "--task", "t",
     "--gin.pinchjax.infer.run.infer.task='u'"],
    ["serve", "--checkpoint", "c", "--max-context", "64", "--gin.load_generator.max_context=32"],
    ["serve", "--checkpoint", "c", "--max-batch", "4", "--gin.ServeConfig.max_batch=8"],
    ["judge", "--candidate", "c", "--out", "o", "--baseline", "b",
     "--gin.judge_run.baseline='x'"],
])
def test_real_commands_refuse_a_flag_and_its_binding_together(argv, capsys):
  with pytest.raises(SystemExit) as err:
    cli.main(argv)  # refused before anything loads
  assert err.value.code == 2
  assert "both set" in capsys.readouterr().err
