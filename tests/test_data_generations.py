"""pinchjax.data.generations: the one generation-record schema its writers and readers share."""
import json

import pytest

from pinchjax.data import generations
from pinchjax.infer import writer


def test_made_records_round_trip_through_the_file(tmp_path):
  path = str(tmp_path / "gen.jsonl")
  source = {"id": "x-1", "lang": "fi", "instruction": "Sano hei", "source": "toy"}
  rec = generations.make(source, "hei", "p10", {"seed": 0}, "stop", 2)
  assert sorted(rec) == sorted(generations.FIELDS)  # the source's other fields are not kept
  assert generations.write(path, [rec]) == 1
  assert generations.read(path) == [rec]
  assert open(path, encoding="utf-8").read() == generations.line(rec)  # sorted keys, UTF-8


def test_references_get_the_default_run_and_an_empty_decode_config(tmp_path):
  path = str(tmp_path / "refs.jsonl")
  generations.write(path, [{"id": "1", "lang": "en", "instruction": "i", "response": "r"}])
  with pytest.raises(ValueError, match=r"refs.jsonl:1: missing key 'run'"):
    generations.read(path)
  [ref] = generations.read(path, default_run="references")
  assert ref["run"] == "references" and ref["decode_config"] == {}


@pytest.mark.parametrize("bad, message", [
    ({"id": "1", "lang": "en", "instruction": "i"}, "missing key 'response'"),
    ({"id": 1, "lang": "en", "instruction": "i", "response": "r"}, "key 'id' must be a string"),
])
def test_a_bad_record_is_refused_before_any_file_is_written(tmp_path, bad, message):
  path = tmp_path / "gen.jsonl"
  with pytest.raises(ValueError, match=f"record 1: {message}"):
    generations.write(str(path), [{"id": "0", "lang": "en", "instruction": "i", "response": "r"},
                                  bad])
  assert list(tmp_path.iterdir()) == []


def test_the_infer_writer_resumes_only_from_valid_records(tmp_path):
  # The writer's resume check reads through the schema: a line without a response is named.
  path = tmp_path / "gen.jsonl"
  config = writer.DecodeConfig()
  line = {"id": "1", "lang": "en", "instruction": "i", "run": "r",
          "decode_config": config.to_json()}
  path.write_text(json.dumps(line) + "\n")
  with pytest.raises(ValueError, match=r"gen.jsonl:1: missing key 'response'"):
    writer.existing_keys(str(path), "r", config)
  path.write_text(generations.line(dict(line, response="ok")))
  assert writer.existing_keys(str(path), "r", config) == {("en", "1")}
