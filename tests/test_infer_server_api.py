"""The OpenAI-compatible server over a stand-in generator, in process, on loopback."""
import concurrent.futures
import dataclasses
import json
import socket
import threading
import time

import httpx
import pytest

from pinchjax.infer.generator import Completion, truncate_at_stop
from pinchjax.infer.serve import ServeConfig, Server

KEY = "sk-test"


class EchoGenerator:
  """Answers with the prompt's words upper-cased; one token per word."""
  max_context = 16

  def __init__(self):
    self.batch_sizes = []
    self.lock = threading.Lock()

  def count_tokens(self, text):
    return len(text.split())

  def count_stop_tokens(self, stop):
    return len(stop)  # one token per character

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


def start(gen, **config):
  """A `Server` over `gen` answering on a thread, once /health says ok."""
  srv = Server(lambda: gen, "echo",
               ServeConfig(port=0, batch_wait_ms=50, warmup=False, **config), api_key=KEY)
  thread = threading.Thread(target=srv.run, daemon=True)
  thread.start()
  for _ in range(500):
    try:
      if httpx.get(srv.url + "/health").status_code == 200:
        return srv, thread
    except httpx.TransportError:
      pass
    time.sleep(0.01)
  raise AssertionError("the server did not become ready")


@pytest.fixture(scope="module")
def server():
  gen = EchoGenerator()
  srv, thread = start(gen, body_timeout_s=1.0, max_body_bytes=1000)
  yield srv, gen, srv.url
  srv.stop()
  thread.join(10)
  assert not thread.is_alive()


def _post(base, path, body, key=KEY, raw=None):
  headers = {"Authorization": f"Bearer {key}"}
  return httpx.post(base + path, headers=headers, timeout=10,
                    **({"content": raw} if raw is not None else {"json": body}))


def test_binds_loopback(server):
  srv, _, _ = server
  assert srv.address[0] == "127.0.0.1"


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
    ({"model": "echo", "prompt": "x", "stop": ["a", "s" * 17]}, 400, "stop"),  # > 16 tokens
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


def _error_of(r, status):
  """The OpenAI error object of a JSON error answer with `status`."""
  assert r.status_code == status, r.text
  assert r.headers["content-type"] == "application/json"
  error = r.json()["error"]
  assert set(error) == {"message", "type", "param", "code"} and error["message"]
  return error


@pytest.mark.parametrize("method,path,status,code", [
    ("GET", "/v1/nothing", 404, "not_found"),
    ("POST", "/v1/nothing", 404, "not_found"),
    ("PUT", "/", 404, "not_found"),
    ("GET", "/v1/completions", 405, "method_not_allowed"),
    ("PUT", "/v1/completions", 405, "method_not_allowed"),
    ("DELETE", "/v1/chat/completions", 405, "method_not_allowed"),
    ("OPTIONS", "/v1/chat/completions", 405, "method_not_allowed"),
    ("PATCH", "/v1/models", 405, "method_not_allowed"),
    ("POST", "/v1/models", 405, "method_not_allowed"),
    ("OPTIONS", "/health", 405, "method_not_allowed"),
    ("GET", "/v1/models/other", 404, "model_not_found"),
])
def test_every_method_and_route_answers_an_openai_error(server, method, path, status, code):
  _, _, base = server
  r = httpx.request(method, base + path, headers={"Authorization": f"Bearer {KEY}"})
  error = _error_of(r, status)
  assert error["code"] == code
  if status == 405:
    assert "POST" in r.headers["allow"] or "GET" in r.headers["allow"]


def test_head_follows_get_and_is_refused_on_post_routes(server):
  _, _, base = server
  auth = {"Authorization": f"Bearer {KEY}"}
  r = httpx.head(base + "/v1/completions", headers=auth)
  assert r.status_code == 405 and r.headers["allow"] == "POST" and r.content == b""
  r = httpx.head(base + "/v1/models", headers=auth)
  assert r.status_code == 200 and r.content == b""


@pytest.mark.parametrize("raw,what", [
    (b'{"model": "echo", "prompt": "\\ud800 x"}', "lone surrogate \\ud800"),
    (b'{"model": "echo", "prompt": "x\\udfff"}', "lone surrogate \\udfff"),
    (b'{"model": "echo", "prompt": "\xff"}', "not valid JSON"),
    (b'{"model": "echo", "prompt": ', "not valid JSON"),
    (b"", "not valid JSON"),
])
def test_bad_json_and_lone_surrogates_get_400(server, raw, what):
  _, _, base = server
  error = _error_of(_post(base, "/v1/completions", None, raw=raw), 400)
  assert what in error["message"]
  # A surrogate pair is one character, and fine.
  r = _post(base, "/v1/completions", None, raw=b'{"model": "echo", "prompt": "\\ud83d\\ude00"}')
  assert r.json()["choices"][0]["text"] == "\U0001F600"


def test_oversized_body_gets_413(server):
  _, _, base = server
  body = {"model": "echo", "prompt": "x " * 600}  # over the fixture's 1000 bytes
  assert _error_of(_post(base, "/v1/completions", body), 413)["code"] == "request_too_large"
  # Without a Content-Length (chunked), the limit holds while reading.
  chunks = iter([json.dumps(body).encode()[i:i + 100] for i in range(0, 1300, 100)])
  r = httpx.post(base + "/v1/completions", content=chunks,
                 headers={"Authorization": f"Bearer {KEY}"})
  assert _error_of(r, 413)["code"] == "request_too_large"


def test_body_shorter_than_its_content_length_gets_408_in_time(server):
  srv, _, base = server
  with socket.create_connection(srv.address, timeout=10) as sock:
    sock.sendall(b"POST /v1/completions HTTP/1.1\r\nHost: x\r\n"
                 b"Authorization: Bearer " + KEY.encode() + b"\r\n"
                 b"Content-Type: application/json\r\nContent-Length: 100\r\n\r\n{\"model\":")
    start = time.monotonic()
    answer = b""
    while b"\r\n\r\n" not in answer or not answer.rstrip().endswith(b"}"):
      data = sock.recv(4096)
      if not data:
        break
      answer += data
    waited = time.monotonic() - start
  head, body = answer.split(b"\r\n\r\n", 1)
  assert head.startswith(b"HTTP/1.1 408 ")
  assert b"connection: close" in head.lower()
  assert json.loads(body)["error"]["code"] == "request_timeout"
  assert 0.9 <= waited < 5  # the fixture's body_timeout_s is 1 s
  assert _post(base, "/v1/completions", {"model": "echo", "prompt": "ok"}).status_code == 200


def test_500_bodies_say_nothing_of_the_internals(server, caplog):
  _, gen, base = server
  real = gen.generate

  def failing(requests):
    raise RuntimeError("secret /opt/weights/path")
  gen.generate = failing
  try:
    r = _post(base, "/v1/completions", {"model": "echo", "prompt": "x"})
  finally:
    gen.generate = real
  error = _error_of(r, 500)
  assert error["type"] == "server_error"
  assert "secret" not in r.text and "RuntimeError" not in r.text and "Traceback" not in r.text
  # The traceback is in the server's log instead.
  logged = [rec for rec in caplog.records if rec.exc_info]
  assert any("secret /opt/weights/path" in str(rec.exc_info[1]) for rec in logged)


class SlowGenerator(EchoGenerator):
  """Echo, one word every `delay` seconds; loading waits for `loaded`."""

  def __init__(self, delay):
    super().__init__()
    self.delay = delay
    self.loaded = threading.Event()

  def generate(self, requests):
    if not any(r.on_text for r in requests):
      time.sleep(self.delay * max(len(r.prompt.split()) for r in requests))
    return super().generate([r if r.on_text is None else dataclasses.replace(
        r, on_text=lambda piece, f=r.on_text: (time.sleep(self.delay), f(piece)))
                             for r in requests])


def test_health_and_models_answer_while_loading():
  gen = SlowGenerator(0.0)

  def load():
    gen.loaded.wait(10)
    return gen
  srv = Server(load, "echo", ServeConfig(port=0, warmup=False), api_key=KEY)
  thread = threading.Thread(target=srv.run, daemon=True)
  thread.start()
  auth = {"Authorization": f"Bearer {KEY}"}
  try:
    for _ in range(500):
      try:
        r = httpx.get(srv.url + "/health")
        break
      except httpx.TransportError:
        time.sleep(0.01)
    assert (r.status_code, r.json()) == (503, {"status": "loading"})
    assert _error_of(httpx.get(srv.url + "/v1/models", headers=auth), 503)["code"] == \
        "model_loading"
    r = _post(srv.url, "/v1/completions", {"model": "echo", "prompt": "x"})
    assert _error_of(r, 503)["code"] == "model_loading"
    gen.loaded.set()
    for _ in range(500):
      if httpx.get(srv.url + "/health").status_code == 200:
        break
      time.sleep(0.01)
    assert httpx.get(srv.url + "/health").json() == {"status": "ok"}
    assert httpx.get(srv.url + "/v1/models", headers=auth).json()["data"][0]["id"] == "echo"
  finally:
    gen.loaded.set()
    srv.stop()
    thread.join(10)


def _stream_events(base, prompt, out):
  """Collects the data lines of a streamed completion into `out`."""
  with httpx.stream("POST", base + "/v1/completions", timeout=30,
                    headers={"Authorization": f"Bearer {KEY}"},
                    json={"model": "echo", "stream": True, "prompt": prompt}) as r:
    out.extend(line[len("data: "):] for line in r.iter_lines() if line.startswith("data: "))


# The cut case's grace (2 s) leaves time for the checks below on a loaded host, and its
# answer (8 pieces, 0.5 s each) outlasts it.
@pytest.mark.parametrize("grace,delay,whole", [(30.0, 0.1, True), (2.0, 0.5, False)])
def test_stop_drains_requests_in_flight(grace, delay, whole):
  gen = SlowGenerator(delay)
  gen.loaded.set()
  srv, thread = start(gen, grace_period_s=grace)
  events = []
  streaming = threading.Thread(target=_stream_events, args=(srv.url, "a b c d e f g h", events))
  streaming.start()
  while not events:
    time.sleep(0.01)
  srv.stop()
  time.sleep(0.1)
  r = _post(srv.url, "/v1/completions", {"model": "echo", "prompt": "x"})
  assert _error_of(r, 503)["code"] == "server_shutting_down"
  assert httpx.get(srv.url + "/health").json() == {"status": "draining"}
  streaming.join(10)
  thread.join(10)
  assert not thread.is_alive()
  assert events[-1] == "[DONE]"
  chunks = [json.loads(e) for e in events[:-1]]
  if whole:
    assert "".join(c["choices"][0]["text"] for c in chunks) == "A B C D E F G H"
    assert chunks[-1]["choices"][0]["finish_reason"] == "stop"
  else:
    assert chunks[-1]["error"]["code"] == "server_shutting_down"
    assert 0 < len(chunks) - 1 < 8  # part of the answer went out


def test_a_model_that_fails_to_load_ends_the_server_with_1(caplog, capsys):
  def load_missing():  # the user's to fix: one line, no traceback
    raise FileNotFoundError(2, "No such file or directory", "ckpt/model.safetensors")
  assert Server(load_missing, "echo", ServeConfig(port=0)).run() == 1
  assert "error: ckpt/model.safetensors: No such file or directory\n" in capsys.readouterr().err
  assert not any(rec.exc_info for rec in caplog.records)

  def load_broken():  # a bug: the traceback goes to the log
    raise RuntimeError("no weights")
  assert Server(load_broken, "echo", ServeConfig(port=0)).run() == 1
  assert any("no weights" in str(rec.exc_info[1]) for rec in caplog.records if rec.exc_info)


def test_stop_answers_503_to_a_completion_unfinished_at_the_end_of_the_grace_period():
  gen = SlowGenerator(0.3)
  srv, thread = start(gen, grace_period_s=0.3)
  with concurrent.futures.ThreadPoolExecutor(1) as pool:
    pending = pool.submit(_post, srv.url, "/v1/completions",
                          {"model": "echo", "prompt": "a b c d e f g h"})  # 2.4 s to decode
    time.sleep(0.3)
    start_stop = time.monotonic()
    srv.stop()
    error = _error_of(pending.result(), 503)
  assert error["code"] == "server_shutting_down" and error["type"] == "server_error"
  thread.join(10)
  assert not thread.is_alive() and time.monotonic() - start_stop < 2


def test_a_second_stop_ends_the_grace_period_at_once():
  gen = SlowGenerator(0.3)
  srv, thread = start(gen, grace_period_s=30)
  events = []
  streaming = threading.Thread(target=_stream_events, args=(srv.url, "a b c d e f g h", events))
  streaming.start()
  while not events:
    time.sleep(0.01)
  srv.stop()
  time.sleep(0.2)
  stopped = time.monotonic()
  srv.stop()  # as a second SIGTERM/SIGINT does
  streaming.join(10)
  thread.join(10)
  assert time.monotonic() - stopped < 1.5 and not thread.is_alive()
  assert events[-1] == "[DONE]"
  assert json.loads(events[-2])["error"]["code"] == "server_shutting_down"
