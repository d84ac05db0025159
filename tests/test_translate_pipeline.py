"""translate_files in-process against the scripted server: failures, copies, fields, gin."""
import json
import pathlib

import gin
import pytest

from pinchjax import cli
from pinchjax.clients import openai_compat as oc
from pinchjax.data import canonical
from pinchjax.translate import pipeline
from pinchjax.translate import segment
from scripted_openai_server import ScriptedServer

HELLO = "Hello, how are you today? I hope everything is fine."
HOLA = "Hola, ¿cómo estás hoy? Espero que todo esté bien."
BYE = "Goodbye, my friend, and see you again very soon."


def _write(path: pathlib.Path, rows) -> str:
  path.write_text("".join(json.dumps(dict(zip(canonical.FIELDS, r))) + "\n" for r in rows),
                  encoding="utf-8")
  return str(path)


def _client(server, **kw) -> oc.ClientConfig:
  return oc.ClientConfig(base_url=server.base_url, model="mt", backoff_base_s=0.01, **kw)


def test_failed_requests_flagged_then_asked_again_on_rerun(tmp_path):
  inp = _write(tmp_path / "in.jsonl", [
      ("a", "en", HELLO, BYE, "s"), ("b", "en", HELLO, HELLO, "s"),  # HELLO asked once
      ("c", "es", HOLA, HOLA, "s")])  # already Spanish: copied
  rules = [{"match": BYE, "status": 503, "reply": "unavailable"},
           {"match": HELLO, "reply": HOLA}]
  with ScriptedServer(tmp_path / "server", rules) as server:
    client = _client(server, max_retries=1)
    report = pipeline.translate_files(inp, "es", str(tmp_path / "out"), client=client)
    assert (server.count(HELLO), server.count(BYE)) == (1, 2)  # BYE: 2 attempts, no answer
    assert report["failed_segments"] == 1 and report["languages"]["es"] == {
        "records": 3, "copied": 1, "flagged_records": 1,
        "flagged_by_check": {"request_failed": 1}}
    assert report["client"]["retry_reasons"] == {"http 503": 1}
    got = canonical.read_jsonl(str(tmp_path / "out" / "es.jsonl"), lang="es")
    assert [(r.id, r.instruction, r.response) for r in got] == [
        ("a", HOLA, BYE), ("b", HOLA, HOLA), ("c", HOLA, HOLA)]
    flags = (tmp_path / "out" / "flags.jsonl").read_text().splitlines()
    assert [json.loads(f) for f in flags] == [
        {"id": "a", "lang": "es", "field": "response", "flags": ["request_failed"],
         "segments": 1}]
    assert "rerun the same command" in pipeline.summary(report)

    again = pipeline.translate_files(inp, "es", str(tmp_path / "out"), client=client)
    assert (server.count(HELLO), server.count(BYE)) == (1, 4)  # only the failed one re-asked
    assert again["segments"] == {"distinct": 2, "asked": 1, "from_cache": 1, "retried": 0,
                                 "retries_asked": 0, "flagged": 1}


def test_only_chosen_fields_are_translated(tmp_path):
  inp = _write(tmp_path / "in.jsonl", [("a", "en", HELLO, BYE, "s")])
  with ScriptedServer(tmp_path / "server", [{"match": HELLO, "reply": HOLA}]) as server:
    report = pipeline.translate_files(inp, ["es"], str(tmp_path / "out"), ["instruction"],
                                      client=_client(server))
    assert server.count() == 1 and report["flagged_records"] == 0
  [record] = canonical.read_jsonl(str(tmp_path / "out" / "es.jsonl"))
  assert (record.lang, record.instruction, record.response) == ("es", HOLA, BYE)
  with pytest.raises(ValueError, match="'source' is not translatable"):
    pipeline.translate_files(inp, "es", str(tmp_path / "o2"), ["source"], client=_client(server))


@pytest.mark.parametrize("backend, url", [
    ("vllm", "http://127.0.0.1:8000/v1"), ("sglang", "http://127.0.0.1:30000/v1"),
    ("llamacpp", "http://127.0.0.1:8080/v1"), ("openai", "https://api.openai.com/v1")])
def test_backend_gin_files(backend, url):
  try:
    cli.parse_gin([f"gin/translate/{backend}.gin"], ["TRANSLATOR_MODEL='m1'"])
    with gin.config_scope("translator"):
      config = oc.ClientConfig()
    assert (config.base_url, config.model, config.temperature) == (url, "m1", 0.0)
    assert config.api_key_env == ("OPENAI_API_KEY" if backend == "openai" else None)
    gin.clear_config()
    cli.parse_gin([f"gin/translate/{backend}.gin"], [])
    with pytest.raises(ValueError, match="ClientConfig.model .* TRANSLATOR_MODEL"):
      with gin.config_scope("translator"):
        oc.ClientConfig()
  finally:
    gin.clear_config()


def test_outcome_prefers_the_latest_usable_answer():
  src = segment.Segment("Use the built-in function ⟦0⟧, which returns a new list.", ("`f()`",))
  job = pipeline.Job(src, "en", "es")
  good = "Usa la función ⟦0⟧, que devuelve una lista nueva."
  lost = "Usa la función, que devuelve una lista nueva."
  failure = oc.RetriesExhausted(2, "HTTP 503")
  assert pipeline._outcome(job, [(good, [])]) == pipeline.Outcome(
      "Usa la función `f()`, que devuelve una lista nueva.", ())
  # The retry lost the marker: the first answer (wrong length, say) is kept, retry's flags.
  assert pipeline._outcome(job, [(good, ["length_ratio"]), (lost, ["markers"])]) == (
      pipeline.Outcome("Usa la función `f()`, que devuelve una lista nueva.", ("markers",)))
  # The retry got no answer: both reasons are reported.
  assert pipeline._outcome(job, [(good, ["language"]), (failure, ["request_failed"])]).flags == (
      "language", "request_failed")
  # Nothing usable: the source segment, restored.
  assert pipeline._outcome(job, [(failure, ["request_failed"])]).text == (
      "Use the built-in function `f()`, which returns a new list.")
