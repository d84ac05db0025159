"""The OpenAI-compatible server over a stand-in generator, in process, on loopback."""
import concurrent.futures
import json
import threading

import httpx
import pytest

from pinchjax.infer.generator import Completion, truncate_at_stop
from pinchjax.infer.server import OpenAIServer

KEY = "sk-test"


class EchoGenerator:
  """Answers with the prompt's words upper-cased; one token per word."""
  max_context = 16

  def __init__(self):
    self.batch_sizes = []
    self.lock = threading.Lock()

  def count_tokens(self, text):
    return len(text.split())

  def chat_prompt(self, messages):
    return " ".join(m["content"] for m in messages)

  def generate(self, requests):
    with self.lock:
      self.batch_sizes.append(len(requests))
    out = []
    for r in requests:
      if r.prompt == "boom":
        raise RuntimeError("decoder failed")
      words = r.prompt.upper().split()
      text, stopped = truncate_at_stop(" ".join(words[:r.max_new_tokens]), r.stop)
      if r.on_text:
        for i, word in enumerate(text.split(" ")):
          r.on_text(f" {word}" if i else word)
      reason = "stop" if stopped or len(words) <= r.max_new_tokens else "length"
      out.append(Completion(text, reason, len(words), len(text.split())))
    return out


@pytest.fixture(scope="module")
def server():
  gen = EchoGenerator()
  srv = OpenAIServer(gen, "echo", port=0, api_key=KEY, batch_wait_s=0.05)
  thread = threading.Thread(target=srv.serve_forever, daemon=True)
  thread.start()
  yield srv, gen, f"http://127.0.0.1:{srv.server_address[1]}"
  srv.shutdown()
  srv.server_close()


def _post(base, path, body, key=KEY, raw=None):
  headers = {"Authorization": f"Bearer {key}"}
  return httpx.post(base + path, headers=headers, timeout=10,
                    **({"content": raw} if raw is not None else {"json": body}))


def test_binds_loopback(server):
  srv, _, _ = server
  assert srv.server_address[0] == "127.0.0.1"


def test_chat_and_completion(server):
  _, _, base = server
  r = _post(base, "/v1/chat/completions",
            {"model": "echo", "messages": [{"role": "user", "content": "hello there"}]})
  assert r.status_code == 200
  body = r.json()
  assert body["object"] == "chat.completion"
  assert body["choices"][0]["message"] == {"role": "assistant", "content": "HELLO THERE"}
  assert body["choices"][0]["finish_reason"] == "stop"
  assert body["usage"] == {"prompt_tokens": 2, "completion_tokens": 2, "total_tokens": 4}
  r = _post(base, "/v1/completions",
            {"model": "echo", "prompt": ["a b c", "d e f"], "max_tokens": 2, "stop": "B"})
  texts = [(c["text"], c["finish_reason"]) for c in r.json()["choices"]]
  assert texts == [("A ", "stop"), ("D E", "length")]


def test_models_and_auth(server):
  _, _, base = server
  r = httpx.get(base + "/v1/models", headers={"Authorization": f"Bearer {KEY}"})
  assert [m["id"] for m in r.json()["data"]] == ["echo"]
  r = httpx.get(base + "/v1/models", headers={"Authorization": "Bearer wrong"})
  assert r.status_code == 401
  assert r.json()["error"]["code"] == "invalid_api_key"
  r = _post(base, "/v1/completions", {"model": "echo", "prompt": "x"}, key="nope")
  assert r.status_code == 401


@pytest.mark.parametrize("body,status,param", [
    ({"model": "other", "prompt": "x"}, 404, "model"),
    ({"model": "echo", "prompt": 3}, 400, "prompt"),
    ({"model": "echo", "prompt": "x", "temperature": 2.5}, 400, "temperature"),
    ({"model": "echo", "prompt": "x", "top_p": -0.1}, 400, "top_p"),
    ({"model": "echo", "prompt": "x", "max_tokens": 0}, 400, "max_tokens"),
    ({"model": "echo", "prompt": "x", "max_tokens": True}, 400, "max_tokens"),
    ({"model": "echo", "prompt": "x", "n": 0}, 400, "n"),
    ({"model": "echo", "prompt": "x", "presence_penalty": 1}, 400, "presence_penalty"),
    ({"model": "echo", "prompt": "x", "frobnicate": 1}, 400, "frobnicate"),
    ({"model": "echo", "prompt": "x", "stop": ["a", "b", "c", "d", "e"]}, 400, "stop"),
    ({"model": "echo", "prompt": "w " * 16}, 400, "prompt"),
    ({"model": "echo", "prompt": "w " * 10, "max_tokens": 7}, 400, "prompt"),
    ({"model": "echo", "messages": []}, 400, "messages"),
    ({"model": "echo", "messages": [{"role": "robot", "content": "x"}]}, 400, "messages[0]"),
])
def test_bad_requests_get_4xx_and_server_stays_up(server, body, status, param):
  _, _, base = server
  path = "/v1/chat/completions" if "messages" in body else "/v1/completions"
  r = _post(base, path, body)
  assert r.status_code == status
  assert r.json()["error"]["param"] == param
  assert _post(base, "/v1/completions", {"model": "echo", "prompt": "ok"}).status_code == 200


def test_malformed_json_unknown_route_and_decoder_failure(server):
  _, _, base = server
  r = _post(base, "/v1/completions", None, raw=b"{not json")
  assert r.status_code == 400 and "not valid JSON" in r.json()["error"]["message"]
  assert _post(base, "/v1/nothing", {}).status_code == 404
  r = _post(base, "/v1/completions", {"model": "echo", "prompt": "boom"})
  assert r.status_code == 500 and r.json()["error"]["type"] == "server_error"
  assert _post(base, "/v1/completions", {"model": "echo", "prompt": "ok"}).status_code == 200


def test_streaming_reassembles_the_answer(server):
  _, _, base = server
  with httpx.stream("POST", base + "/v1/chat/completions", timeout=10,
                    headers={"Authorization": f"Bearer {KEY}"},
                    json={"model": "echo", "stream": True,
                          "messages": [{"role": "user", "content": "one two three"}]}) as r:
    assert r.headers["content-type"] == "text/event-stream"
    events = [line[len("data: "):] for line in r.iter_lines() if line.startswith("data: ")]
  assert events[-1] == "[DONE]"
  chunks = [json.loads(e) for e in events[:-1]]
  text = "".join(c["choices"][0]["delta"].get("content", "") for c in chunks)
  assert text == "ONE TWO THREE"
  assert chunks[0]["choices"][0]["delta"]["role"] == "assistant"
  assert chunks[-1]["choices"][0]["finish_reason"] == "stop"


def test_concurrent_requests_are_batched(server):
  _, gen, base = server
  gen.batch_sizes.clear()
  prompts = [f"w{i} x{i}" for i in range(32)]
  with concurrent.futures.ThreadPoolExecutor(32) as pool:
    results = list(pool.map(
        lambda p: _post(base, "/v1/completions", {"model": "echo", "prompt": p}).json(),
        prompts))
  assert [r["choices"][0]["text"] for r in results] == [p.upper() for p in prompts]
  assert sum(gen.batch_sizes) == 32
  assert max(gen.batch_sizes) > 1


def test_seed_reaches_the_generator(server):
  _, gen, base = server
  seen = []
  real = gen.generate
  gen.generate = lambda requests: seen.extend(r.sampling.seed for r in requests) or real(requests)
  try:
    for seed in (0, 7, None, None):
      body = {"model": "echo", "prompt": "x", "temperature": 0.5}
      if seed is not None:
        body["seed"] = seed
      assert _post(base, "/v1/completions", body).status_code == 200
  finally:
    gen.generate = real
  assert seen[:2] == [0, 7]
  assert seen[2] != seen[3]  # no seed: a fresh one each call
