"""The OpenAI-compatible client against the scripted server process on loopback."""
import asyncio
import json
import socket
import time

import httpx
import pytest

from pinchjax.clients import openai_compat as oc
from scripted_openai_server import ScriptedServer


def _config(server: ScriptedServer, **kw) -> oc.ClientConfig:
  kw.setdefault("backoff_base_s", 0.01)
  kw.setdefault("timeout_s", 5.0)
  return oc.ClientConfig(base_url=server.base_url, model="m1", **kw)


def _ask(text: str) -> list[dict[str, str]]:
  return [{"role": "user", "content": text}]


@pytest.fixture(scope="module")
def server(tmp_path_factory):
  rules = [
      {"match": "hello", "reply": "hola"},
      {"match": "flaky", "first": 2, "status": 500, "reply": "overloaded"},
      {"match": "flaky", "reply": "finally"},
      {"match": "busy", "first": 1, "status": 429, "reply": "slow down",
       "headers": {"Retry-After": "0.05"}},
      {"match": "busy", "reply": "ok now"},
      {"match": "bad", "status": 400, "reply": "context length exceeded"},
      {"match": "down", "status": 503, "reply": "down for good"},
      {"match": "hang", "first": 1, "delay_s": 10, "reply": "too late"},
      {"match": "hang", "reply": "on time"},
      {"match": "slow", "delay_s": 0.4, "reply": "slow ok"},
  ]
  with ScriptedServer(tmp_path_factory.mktemp("server"), rules) as s:
    yield s


def test_success_sends_greedy_seeded_request(server):
  stats = oc.ClientStats()
  [done] = oc.run_chats(_config(server), [_ask("hello there")], stats=stats)
  assert done == oc.Completion(text="hola", finish_reason="stop", attempts=1)
  body = [r for r in server.requests() if "hello there" in str(r["body"])][-1]["body"]
  assert (body["model"], body["temperature"], body["seed"]) == ("m1", 0.0, 0)
  assert "max_tokens" not in body
  assert (stats.requests, stats.attempts, stats.retries, stats.succeeded) == (1, 1, 0, 1)


def test_5xx_retried_until_success(server):
  stats = oc.ClientStats()
  [done] = oc.run_chats(_config(server), [_ask("flaky")], stats=stats)
  assert (done.text, done.attempts) == ("finally", 3)
  assert server.count("flaky") == 3
  assert stats.retries == 2 and stats.retry_reasons == {"http 500": 2}


def test_429_retried_after_retry_after(server):
  stats = oc.ClientStats()
  start = time.monotonic()
  [done] = oc.run_chats(_config(server), [_ask("busy")], stats=stats)
  assert (done.text, done.attempts) == ("ok now", 2)
  assert time.monotonic() - start >= 0.05  # waited at least Retry-After
  assert stats.retry_reasons == {"http 429": 1}


def test_other_4xx_not_retried_and_carries_server_message(server):
  before = server.count("bad request")
  stats = oc.ClientStats()
  [err] = oc.run_chats(_config(server), [_ask("bad request")], stats=stats)
  assert isinstance(err, oc.RequestRejected)
  assert err.status == 400 and err.message == "context length exceeded"
  assert server.count("bad request") - before == 1
  assert (stats.attempts, stats.retries, stats.failed) == (1, 0, 1)


def test_hang_past_timeout_is_retried(server):
  stats = oc.ClientStats()
  start = time.monotonic()
  [done] = oc.run_chats(_config(server, timeout_s=0.5), [_ask("hang")], stats=stats)
  assert (done.text, done.attempts) == ("on time", 2)
  assert time.monotonic() - start < 5  # one timeout, not the 10 s hang
  assert stats.retry_reasons == {"timeout": 1}


def test_one_failure_never_loses_the_others(server):
  seen = {}
  stats = oc.ClientStats()
  results = oc.run_chats(_config(server, max_retries=1),
                         [_ask("hello a"), _ask("down"), _ask("bad x"), _ask("hello b")],
                         on_result=lambda i, r: seen.__setitem__(i, r), stats=stats)
  assert [r.text for r in (results[0], results[3])] == ["hola", "hola"]
  assert isinstance(results[1], oc.RetriesExhausted) and results[1].attempts == 2
  assert "HTTP 503: down for good" in str(results[1])
  assert isinstance(results[2], oc.RequestRejected)
  assert seen == dict(enumerate(results))
  assert (stats.requests, stats.succeeded, stats.failed, stats.retries) == (4, 2, 2, 1)


def test_concurrency_limit(server):
  start = time.monotonic()
  results = oc.run_chats(_config(server, max_concurrency=2), [_ask(f"slow {i}") for i in range(6)])
  assert [r.text for r in results] == ["slow ok"] * 6
  assert time.monotonic() - start >= 3 * 0.4  # 6 requests, 2 at a time, 0.4 s each


def test_connection_refused_is_retried_then_reported():
  with socket.socket() as s:
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]  # closed again when the block ends: nothing listens
  config = oc.ClientConfig(base_url=f"http://127.0.0.1:{port}/v1", model="m", max_retries=2,
                           backoff_base_s=0.01)
  stats = oc.ClientStats()
  [err] = oc.run_chats(config, [_ask("anyone?")], stats=stats)
  assert isinstance(err, oc.RetriesExhausted) and err.attempts == 3
  assert stats.retry_reasons == {"connection": 2}


def test_api_key_from_named_environment_variable(server, monkeypatch):
  monkeypatch.delenv("PJ_TEST_KEY", raising=False)
  with pytest.raises(ValueError, match="PJ_TEST_KEY"):
    oc.ChatClient(_config(server, api_key_env="PJ_TEST_KEY"))
  monkeypatch.setenv("PJ_TEST_KEY", "sekret")
  oc.run_chats(_config(server, api_key_env="PJ_TEST_KEY"), [_ask("hello key")])
  [entry] = [r for r in server.requests() if "hello key" in str(r["body"])]
  assert entry["headers"]["Authorization"] == "Bearer sekret"


def test_overrides_and_extra_body(server):
  async def go():
    async with oc.ChatClient(_config(server, max_tokens=64, extra_body={"top_k": 1})) as client:
      return await client.chat(_ask("hello override"), temperature=0.7)
  assert asyncio.run(go()).text == "hola"
  [entry] = [r for r in server.requests() if "hello override" in str(r["body"])]
  body = entry["body"]
  assert (body["temperature"], body["max_tokens"], body["top_k"]) == (0.7, 64, 1)


def test_backoff_is_exponential_capped_and_seeded():
  config = oc.ClientConfig(base_url="http://127.0.0.1:9/v1", model="m", backoff_base_s=1.0,
                           backoff_max_s=8.0, seed=3)
  a, b = oc.ChatClient(config), oc.ChatClient(config)
  waits = [a._backoff_s(k, None) for k in range(6)]
  assert waits == [b._backoff_s(k, None) for k in range(6)]
  for k, w in enumerate(waits):
    full = min(8.0, 2.0**k)
    assert 0.5 * full <= w < full
  assert a._backoff_s(0, 5.0) == 5.0 and a._backoff_s(0, 100.0) == 8.0


def test_config_validation():
  with pytest.raises(ValueError, match="max_concurrency"):
    oc.ClientConfig(base_url="x", model="m", max_concurrency=0)


def test_non_completion_200_is_a_bad_response():
  transport = httpx.MockTransport(lambda request: httpx.Response(200, json={"choices": []}))
  config = oc.ClientConfig(base_url="http://x/v1", model="m")

  async def go():
    async with oc.ChatClient(config, transport=transport) as client:
      with pytest.raises(oc.BadResponse, match="not a chat completion"):
        await client.chat(_ask("hi"))
      return client.stats

  stats = asyncio.run(go())
  assert (stats.attempts, stats.failed) == (1, 1)


def test_chat_many_bounds_in_flight_requests_and_keeps_order():
  in_flight, peak = 0, 0

  async def handler(request: httpx.Request) -> httpx.Response:
    nonlocal in_flight, peak
    in_flight += 1
    peak = max(peak, in_flight)
    await asyncio.sleep(0.001)
    in_flight -= 1
    content = json.loads(request.content)["messages"][0]["content"]
    return httpx.Response(200, json={"choices": [{"message": {"content": content.upper()}}]})

  config = oc.ClientConfig(base_url="http://x/v1", model="m", max_concurrency=3)

  async def go():
    async with oc.ChatClient(config, transport=httpx.MockTransport(handler)) as client:
      return await oc.chat_many(client, [_ask(f"q{i}") for i in range(200)]), client.stats

  results, stats = asyncio.run(go())
  assert [r.text for r in results] == [f"Q{i}" for i in range(200)]
  assert peak == 3 and (stats.requests, stats.succeeded) == (200, 200)
