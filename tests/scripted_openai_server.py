"""A real OpenAI-compatible HTTP server, answering from a script, for tests.

Runs as its own process on 127.0.0.1 (a free port), so clients are tested over real sockets,
timeouts and kills included. It answers `POST /v1/chat/completions` by the first rule of a
JSON script that matches the request, and appends every request it receives (before
answering, so hung ones count too) to a JSONL log.

A script is a list of rules; every field is optional:

  {"match": "text" | ["all", "of", "these"],  # substrings of the messages' contents joined
                                              # by newlines; absent: every request
   "first": 2,          # the rule applies to the first N requests it matches, then falls
                        # through to later rules ("first 2 calls fail, then answer")
   "status": 500,       # HTTP status (default 200); an error status sends
                        # {"error": {"message": reply}}
   "reply": "text",     # the assistant message content, or the error message
   "delay_s": 30,       # sleep before answering (a hang past the client's timeout)
   "headers": {"Retry-After": "1"}}

A request no rule matches gets HTTP 400 "no scripted rule matches". `GET /v1/models` lists
one model, "scripted".

In tests:

  with ScriptedServer(tmp_path, [{"match": "Hello", "reply": "Hola"}]) as server:
    ...  # talk to server.base_url ("http://127.0.0.1:PORT/v1")
    assert server.count("Hello") == 1

From a shell: python tests/scripted_openai_server.py --script rules.json --log log.jsonl
(prints "PORT <n>" once listening).
"""
from __future__ import annotations

import argparse
import http.server
import json
import pathlib
import subprocess
import sys
import threading
import time
from typing import Any, Sequence


def _text(body: dict[str, Any]) -> str:
  """What rules match against: the messages' contents joined by newlines."""
  messages = body.get("messages") or []
  return "\n".join(str(m.get("content", "")) for m in messages if isinstance(m, dict))


class _Script:
  """The rules, with per-rule counters for `first`; thread-safe."""

  def __init__(self, rules: Sequence[dict[str, Any]], log_path: str):
    self.rules = list(rules)
    self.used = [0] * len(self.rules)
    self.log_path = log_path
    self.seq = 0
    self.lock = threading.Lock()

  def pick(self, path: str, headers: dict[str, str], body: dict[str, Any]
           ) -> tuple[int | None, dict[str, Any]]:
    text = _text(body)
    with self.lock:
      chosen = None
      for i, rule in enumerate(self.rules):
        match = rule.get("match", [])
        needles = [match] if isinstance(match, str) else match
        if not all(n in text for n in needles):
          continue
        if "first" in rule and self.used[i] >= rule["first"]:
          continue
        self.used[i] += 1
        chosen = i
        break
      self.seq += 1
      entry = {"seq": self.seq, "time": time.time(), "path": path, "rule": chosen,
               "headers": headers, "body": body}
      with open(self.log_path, "a", encoding="utf-8") as f:
        f.write(json.dumps(entry, ensure_ascii=False) + "\n")
    if chosen is None:
      return None, {"status": 400, "reply": "no scripted rule matches this request"}
    return chosen, self.rules[chosen]


def _handler(script: _Script) -> type[http.server.BaseHTTPRequestHandler]:

  class Handler(http.server.BaseHTTPRequestHandler):

    def log_message(self, *args):  # the JSONL log is the record; keep stderr quiet
      pass

    def _send(self, status: int, payload: dict[str, Any], headers: dict[str, str] | None = None):
      data = json.dumps(payload, ensure_ascii=False).encode("utf-8")
      try:
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        for k, v in (headers or {}).items():
          self.send_header(k, str(v))
        self.end_headers()
        self.wfile.write(data)
      except (BrokenPipeError, ConnectionResetError):
        pass  # the client gave up (timed out) while we were delaying

    def do_GET(self):
      if self.path.rstrip("/") == "/v1/models":
        self._send(200, {"object": "list", "data": [{"id": "scripted", "object": "model"}]})
      else:
        self._send(404, {"error": {"message": f"no route {self.path}"}})

    def do_POST(self):
      raw = self.rfile.read(int(self.headers.get("Content-Length", 0)))
      try:
        body = json.loads(raw)
      except json.JSONDecodeError:
        self._send(400, {"error": {"message": "request body is not JSON"}})
        return
      if self.path.rstrip("/") != "/v1/chat/completions":
        self._send(404, {"error": {"message": f"no route {self.path}"}})
        return
      _, rule = script.pick(self.path, dict(self.headers), body)
      time.sleep(float(rule.get("delay_s", 0)))
      status = int(rule.get("status", 200))
      reply = str(rule.get("reply", ""))
      if status != 200:
        self._send(status, {"error": {"message": reply, "type": "scripted"}}, rule.get("headers"))
        return
      self._send(200, {
          "id": f"scripted-{script.seq}", "object": "chat.completion",
          "model": body.get("model", "scripted"),
          "choices": [{"index": 0, "finish_reason": "stop",
                       "message": {"role": "assistant", "content": reply}}],
      }, rule.get("headers"))

  return Handler


def serve(rules: Sequence[dict[str, Any]], log_path: str, port: int = 0) -> None:
  server = http.server.ThreadingHTTPServer(("127.0.0.1", port), _handler(_Script(rules, log_path)))
  server.daemon_threads = True
  print(f"PORT {server.server_address[1]}", flush=True)
  server.serve_forever()


class ScriptedServer:
  """Starts the server as a subprocess; a context manager that stops it on exit."""

  def __init__(self, workdir: pathlib.Path | str, rules: Sequence[dict[str, Any]],
               start_timeout_s: float = 20.0):
    self.workdir = pathlib.Path(workdir)
    self.workdir.mkdir(parents=True, exist_ok=True)
    self.script_path = self.workdir / "server_script.json"
    self.log_path = self.workdir / "server_requests.jsonl"
    self.script_path.write_text(json.dumps(list(rules), ensure_ascii=False), encoding="utf-8")
    self.log_path.write_text("", encoding="utf-8")
    self.proc = subprocess.Popen(
        [sys.executable, __file__, "--script", str(self.script_path), "--log", str(self.log_path)],
        stdout=subprocess.PIPE, text=True)
    self.port = self._read_port(start_timeout_s)
    self.base_url = f"http://127.0.0.1:{self.port}/v1"

  def _read_port(self, timeout_s: float) -> int:
    found: list[str] = []
    reader = threading.Thread(target=lambda: found.append(self.proc.stdout.readline()),
                              daemon=True)
    reader.start()
    reader.join(timeout_s)
    if not found or not found[0].startswith("PORT "):
      self.close()
      raise RuntimeError(f"scripted server did not start within {timeout_s}s: {found!r}")
    return int(found[0].split()[1])

  def requests(self) -> list[dict[str, Any]]:
    """Every request received so far, in arrival order (log entries: seq, time, path, rule
    index or None, headers, body)."""
    lines = self.log_path.read_text(encoding="utf-8").splitlines()
    return [json.loads(line) for line in lines if line]

  def count(self, substring: str = "") -> int:
    """Requests whose messages contain `substring` (all requests for "")."""
    return sum(substring in _text(r["body"]) for r in self.requests())

  def close(self) -> None:
    if self.proc.poll() is None:
      self.proc.terminate()
      try:
        self.proc.wait(5)
      except subprocess.TimeoutExpired:
        self.proc.kill()
        self.proc.wait()
    if self.proc.stdout:
      self.proc.stdout.close()

  def __enter__(self) -> ScriptedServer:
    return self

  def __exit__(self, *exc_info) -> None:
    self.close()


def main(argv: Sequence[str] | None = None) -> None:
  parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
  parser.add_argument("--script", required=True, help="JSON list of rules")
  parser.add_argument("--log", required=True, help="JSONL file to append requests to")
  parser.add_argument("--port", type=int, default=0, help="0: a free port")
  args = parser.parse_args(argv)
  with open(args.script, encoding="utf-8") as f:
    rules = json.load(f)
  serve(rules, args.log, args.port)


if __name__ == "__main__":
  main()
