"""The openai_compatible judge against a real server process on loopback that answers like
a judge, with garbage verdicts, 400s, 500s, 429s, 503s and hangs; then a killed CLI run."""
import json
import os
import signal
import subprocess
import sys
import time

import pytest

from pinchjax.clients import openai_compat as oc
from pinchjax.judge import cache as cache_lib
from pinchjax.data import generations
from pinchjax.judge import judge_pairs, read_verdicts, score
from pinchjax.judge.backends.openai_compatible import OpenAICompatibleBackend
from scripted_openai_server import ScriptedServer

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))

# The judge prefers whichever slot holds the response starting with GOOD, except where an
# instruction's tag scripts something else.
RULES = [
    {"match": "Q-garbage", "reply": "Both answers have merit; it is hard to say."},
    {"match": "Q-bad", "status": 400, "reply": "context length exceeded"},
    {"match": "Q-down", "status": 503, "reply": "overloaded"},
    {"match": "Q-hang", "delay_s": 60, "reply": "[[A]]"},
    {"match": "Q-flaky", "first": 2, "status": 500, "reply": "internal error"},
    {"match": "Q-busy", "first": 1, "status": 429, "reply": "slow down",
     "headers": {"Retry-After": "0.05"}},
    {"match": "Q-split", "reply": "The first one.\n[[A]]"},
    {"match": "Answer A\nGOOD", "reply": "A follows the request more closely.\n[[A]]"},
    {"match": "Answer B\nGOOD", "reply": "[[B]]"},
]
TAGS = ["ok-1", "ok-2", "ok-3", "ok-4", "split", "flaky", "busy", "garbage", "bad", "down",
        "hang"]


def runs(tags):
  def gen(run, response):
    return [{"id": tag, "lang": "en", "instruction": f"Q-{tag}: say something useful.",
             "response": response(tag), "run": run, "decode_config": {}} for tag in tags]
  return (gen("cand", lambda t: f"GOOD answer for {t}."),
          gen("base", lambda t: f"meh answer for {t}."))


def backend(server, **kw):
  kw.setdefault("timeout_s", 1.0)
  return OpenAICompatibleBackend(oc.ClientConfig(
      base_url=server.base_url, model="judge-m", max_retries=1, backoff_base_s=0.01,
      max_tokens=1024, **kw))


def test_faulty_server_run_finishes_counts_errors_and_rerun_asks_only_failures(
    tmp_path, monkeypatch):
  cands, bases = runs(TAGS)
  db = str(tmp_path / "judge.db")
  monkeypatch.setenv("JUDGE_TEST_KEY", "sekrit")
  with ScriptedServer(tmp_path / "server", RULES) as server:
    first = backend(server, api_key_env="JUDGE_TEST_KEY")
    start = time.monotonic()
    vs = judge_pairs(cands, bases, first, cache=db, progress=False)
    elapsed = time.monotonic() - start
    s = score(vs, n_boot=100)
    en = s["per_language"]["en"]
    # ok x4, flaky, busy: wins; split (slot A twice): tie; garbage, bad, down, hang unscored.
    assert (en["wins"], en["ties"], en["losses"], en["unscored"]) == (6, 1, 0, 4)
    assert en["score"] == pytest.approx(100 * 6.5 / 7)
    d = s["diagnostics"]
    assert (d["judge_games"], d["parse_errors"], d["failures"]) == (22, 2, 6)
    assert d["position_consistency"] == pytest.approx(6 / 7)
    errors = {v.id: v.error for v in vs if v.error}
    assert errors["garbage"].startswith("parse: no verdict")
    assert errors["bad"] == "RequestRejected: HTTP 400: context length exceeded"
    assert "503" in errors["down"] and "timeout" not in errors["down"]
    assert "no answer within 1s" in errors["hang"]
    assert server.count("Q-bad") == 2  # a 400 is not retried
    assert server.count("Q-down") == 4 and server.count("Q-hang") == 4  # retried once
    assert server.count("Q-flaky") == 4 and server.count("Q-busy") == 3
    assert all(server.count(f"Q-{t}") == 2 for t in ("ok-1", "split", "garbage"))
    calls = first.stats()
    assert calls["requests"] == 22 and calls["failed"] == 6
    assert calls["retry_reasons"]["http 500"] == 2 and calls["retry_reasons"]["http 429"] == 1
    assert calls["retry_reasons"]["timeout"] >= 2
    assert elapsed < 30  # a hang costs its timeouts, not the server's 60 s
    body = server.requests()[0]["body"]
    assert server.requests()[0]["headers"]["Authorization"] == "Bearer sekrit"
    assert (body["model"], body["temperature"], body["seed"]) == ("judge-m", 0.0, 0)
    assert "written in English" in body["messages"][0]["content"]

    before = len(server.requests())
    rerun = backend(server)
    again = judge_pairs(cands, bases, rerun, cache=db, progress=False)
    asked = server.requests()[before:]
    # Answered games (garbage included) come from the cache; only failed calls are retried.
    assert {r["body"]["messages"][1]["content"].split(":")[0] for r in asked} == {
        "### Request\nQ-bad", "### Request\nQ-down", "### Request\nQ-hang"}
    assert rerun.stats()["requests"] == 6
    assert sum(v.cached for v in again) == 16
    assert [v.verdict for v in again] == [v.verdict for v in vs]


def test_killed_cli_run_rerun_asks_nothing_twice(tmp_path):
  tags = [f"ok-{i}" for i in range(12)]
  cands, bases = runs(tags)
  generations.write(str(tmp_path / "cand.jsonl"), cands)
  generations.write(str(tmp_path / "base.jsonl"), bases)
  slow = [dict(rule, delay_s=0.15) for rule in RULES[-2:]]  # slow enough to be killed
  out = tmp_path / "out"
  with ScriptedServer(tmp_path / "server", slow) as server:
    cmd = [sys.executable, "-m", "pinchjax.cli", "judge", "--candidate",
           str(tmp_path / "cand.jsonl"), "--baseline", str(tmp_path / "base.jsonl"),
           "--out", str(out), "--judge", "openai_compatible",
           f"--gin.judge/ClientConfig.base_url='{server.base_url}'",
           "--gin.judge/ClientConfig.model='judge-m'",
           "--gin.judge/ClientConfig.max_concurrency=1", "--gin.judge_run.n_boot=100"]
    env = dict(os.environ, PYTHONPATH=REPO)
    proc = subprocess.Popen(cmd, cwd=REPO, env=env, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE)
    deadline = time.monotonic() + 60
    while len(server.requests()) < 8 and time.monotonic() < deadline:
      time.sleep(0.05)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    assert proc.returncode == -signal.SIGKILL
    assert not (out / "scores.json").exists()
    with cache_lib.Cache(str(out / "judge_cache.sqlite")) as c:
      answered = len(c)
    assert 7 <= answered < 24
    killed_requests = len(server.requests())

    done = subprocess.run(cmd, cwd=REPO, env=env, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    rerun_requests = len(server.requests()) - killed_requests
    assert rerun_requests == 24 - answered  # every answered game came from the cache
    prompts = [r["body"]["messages"][1]["content"] for r in server.requests()]
    # At most the one request in flight at the kill was sent twice.
    assert len(prompts) - len(set(prompts)) <= 1 and len(set(prompts)) == 24
  verdicts = read_verdicts(str(out / "verdicts.jsonl"))
  assert sum(v.cached for v in verdicts) == answered
  scores = json.loads((out / "scores.json").read_text())
  assert scores["per_language"]["en"]["score"] == 100.0
  assert scores["calls"]["requests"] == 24 - answered
  assert "cand vs base" in done.stdout
