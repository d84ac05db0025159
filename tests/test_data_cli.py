"""`pinchjax data ...` and `pinchjax vocab train`, run in-process through the entry point."""
import importlib
import json

from pinchjax import cli, languages
from pinchjax.data import canonical, synthetic


def _run(capsys, *argv):
  rc = cli.main(list(argv))
  out, err = capsys.readouterr()
  return rc, out, err


def test_import_writes_canonical_and_reports_skips(tmp_path, capsys):
  src = tmp_path / "alpaca.json"
  src.write_text(json.dumps([{"instruction": "Add", "input": "1+1", "output": "2"},
                             {"instruction": "", "output": "x"}]))
  out_path = tmp_path / "out" / "en.jsonl"
  rc, out, err = _run(capsys, "data", "import", "--format", "alpaca", "--lang", "en",
                      str(src), str(out_path))
  assert rc == 1 and "item 1: field 'instruction' is empty" in err and not out_path.exists()
  rc, out, err = _run(capsys, "data", "import", "--format", "alpaca", "--lang", "en",
                      "--on-error", "skip", str(src), str(out_path))
  report = json.loads(out)
  assert rc == 0 and report["written"] == 1 and report["skipped"]["total"] == 1
  assert "skipped 1 records" in err
  assert canonical.read_jsonl(str(out_path))[0].instruction == "Add\n\n1+1"
  # A translation must carry exactly the ids of the file it translates.
  other = tmp_path / "fi.jsonl"
  canonical.write_jsonl(str(other), [canonical.Record("zz", "fi", "a", "b", "s")])
  rc, _, err = _run(capsys, "data", "import", "--format", "canonical", "--lang", "fi",
                    "--align-with", str(out_path), str(other), str(tmp_path / "x.jsonl"))
  assert rc == 1 and "not aligned" in err


def test_vocab_train_stats_and_show(tmp_path, capsys):
  data = str(tmp_path)
  synthetic.write_parallel_set(data, "tcli", 120, languages.PAPER_LANGUAGES)
  rc, out, _ = _run(capsys, "vocab", "train", "--data-dir", data, "--dataset", "tcli",
                    "--vocab-size", "300", "--template", "toy", "--output", f"{data}/spm")
  made = json.loads(out)
  assert rc == 0 and made["vocab_size"] == 300 and made["texts"] == 2 * 12 * 120

  rc, out, _ = _run(capsys, "data", "stats", "--data-dir", data, "--mixture", "tcli_pinch_p10",
                    "--json")
  stats = json.loads(out)
  assert rc == 0 and stats["total"] == 120 and len(stats["languages"]) == 12
  assert stats["languages"]["en"] == 108 + 1  # 12 multilingual examples, one each
  assert abs(sum(stats["shares"].values()) - 1) < 1e-9

  rc, out, _ = _run(capsys, "data", "show", "--data-dir", data, "--mixture", "tcli_mono_fi",
                    "--vocab", f"{data}/spm.model", "--template", "toy", "-n", "2")
  assert rc == 0 and out.count("=== example") == 2
  assert "prompt text:   '<user> fi" in out and "<model>'" in out
  assert ":</s>*" in out  # EOS carries loss
  assert ":<user>*" not in out  # the prompt does not


def test_importing_tasks_without_data_registers_nothing_and_does_not_fail():
  tasks = importlib.import_module("tasks")
  assert tasks.registry.register_configured() == []


def test_build_paper_set_command(tmp_path, capsys):
  lima = tmp_path / "lima.jsonl"
  lima.write_text("".join(json.dumps({"conversations": [f"Q{i}", f"A{i}"]}) + "\n"
                          for i in range(4)))
  oasst = tmp_path / "oasst.jsonl"
  oasst.write_text("".join(
      json.dumps(m) + "\n" for i in range(3) for m in (
          {"message_id": f"p{i}", "parent_id": None, "role": "prompter", "text": f"P{i}",
           "lang": "en"},
          {"message_id": f"a{i}", "parent_id": f"p{i}", "role": "assistant", "text": f"R{i}",
           "lang": "en", "rank": 0})))
  out_path = tmp_path / "paper" / "train" / "en.jsonl"
  rc, out, _ = _run(capsys, "data", "build-paper-set", "--lima", str(lima), "--oasst",
                    str(oasst), "--n-lima", "2", "--n-oasst", "3", str(out_path))
  report = json.loads(out)
  assert rc == 0 and report["selected"] == {"lima": 2, "oasst": 3, "total": 5}
  assert [r.id for r in canonical.read_jsonl(str(out_path), lang="en")] == [
      "lima-0", "lima-1", "oasst-p0", "oasst-p1", "oasst-p2"]
  rc, _, err = _run(capsys, "data", "build-paper-set", "--lima", str(lima), "--oasst",
                    str(oasst), "--n-lima", "2", "--n-oasst", "4", str(out_path))
  assert rc == 1 and "3 usable distinct English OASST prompts, 4 needed" in err
