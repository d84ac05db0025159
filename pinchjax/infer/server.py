"""An OpenAI-compatible HTTP server over a `Generator` (stdlib http.server, one thread a request).

Routes: GET /v1/models, GET /v1/models/{id}, POST /v1/chat/completions, POST /v1/completions.
Concurrent requests meet in a `Batcher` and are decoded together. Every failure is answered
in OpenAI's error shape and never stops the server.
"""
from __future__ import annotations

import hmac
import json
import sys
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from pinchjax.infer.batcher import Batcher
from pinchjax.infer.generator import Generator
from pinchjax.infer.openai_api import ApiError, OpenAIApi

MAX_BODY_BYTES = 16 << 20
_POST_ROUTES = {"/v1/chat/completions": "chat", "/v1/completions": "text"}


class _Handler(BaseHTTPRequestHandler):
  protocol_version = "HTTP/1.1"
  server: "OpenAIServer"

  def log_message(self, format: str, *args: Any) -> None:  # pylint: disable=redefined-builtin
    if self.server.verbose:
      sys.stderr.write(f"{self.address_string()} {format % args}\n")

  def do_GET(self) -> None:
    self._answer(self._get)

  def do_POST(self) -> None:
    # The body is read before anything can fail, so a keep-alive connection stays in step.
    body = self._read_body()
    self._answer(lambda: self._post(body))

  def _answer(self, route) -> None:
    try:
      self._authorize()
      route()
    except ApiError as e:
      self._send_json(e.status, e.body())
    except ConnectionError:  # the client went away; nobody to answer
      self.close_connection = True
    except Exception as e:  # pylint: disable=broad-except
      err = ApiError(500, f"internal error: {type(e).__name__}: {e}", kind="server_error")
      self._send_json(500, err.body())

  def _read_body(self) -> bytes | ApiError:
    try:
      length = int(self.headers.get("Content-Length", ""))
    except ValueError:
      length = -1
    if not 0 <= length <= MAX_BODY_BYTES:
      self.close_connection = True  # the unread body cannot be skipped reliably
      return ApiError(413 if length > 0 else 411,
                      f"a Content-Length of at most {MAX_BODY_BYTES} bytes is required")
    return self.rfile.read(length)

  def _authorize(self) -> None:
    key = self.server.api_key
    if key is None:
      return
    given = self.headers.get("Authorization", "")
    if not hmac.compare_digest(given.encode(), f"Bearer {key}".encode()):
      raise ApiError(401, "Incorrect API key provided.", code="invalid_api_key")

  def _get(self) -> None:
    api = self.server.api
    path = self.path.split("?", 1)[0].rstrip("/")
    if path == "/v1/models":
      self._send_json(200, api.models())
    elif path == f"/v1/models/{api.model_name}":
      self._send_json(200, api.model_card())
    elif path.startswith("/v1/models/"):
      raise ApiError(404, f"The model '{path[len('/v1/models/'):]}' does not exist", "model",
                     "model_not_found")
    else:
      raise ApiError(404, f"unknown route GET {path}", code="not_found")

  def _post(self, body: bytes | ApiError) -> None:
    path = self.path.split("?", 1)[0].rstrip("/")
    if path not in _POST_ROUTES:
      raise ApiError(404, f"unknown route POST {path}", code="not_found")
    if isinstance(body, ApiError):
      raise body
    try:
      obj = json.loads(body)
    except (json.JSONDecodeError, UnicodeDecodeError) as e:
      raise ApiError(400, f"the body is not valid JSON: {e}") from None
    api = self.server.api
    parsed = api.parse(_POST_ROUTES[path], obj)
    if parsed.stream:
      self._stream(api.stream(parsed, self.server.batcher))
    else:
      self._send_json(200, api.complete(parsed, self.server.batcher))

  def _send_json(self, status: int, obj: Any) -> None:
    data = json.dumps(obj, ensure_ascii=False).encode()
    self.send_response(status)
    self.send_header("Content-Type", "application/json")
    self.send_header("Content-Length", str(len(data)))
    if self.close_connection:
      self.send_header("Connection", "close")
    self.end_headers()
    self.wfile.write(data)

  def _stream(self, events) -> None:
    """Server-sent events: text pieces as the decoder produces them, then the finish."""
    self.send_response(200)
    self.send_header("Content-Type", "text/event-stream")
    self.send_header("Cache-Control", "no-cache")
    self.send_header("Connection", "close")
    self.end_headers()
    for event in events:
      self._event(event)
    self.wfile.write(b"data: [DONE]\n\n")
    self.wfile.flush()

  def _event(self, obj: Any) -> None:
    self.wfile.write(f"data: {json.dumps(obj, ensure_ascii=False)}\n\n".encode())
    self.wfile.flush()


class OpenAIServer(ThreadingHTTPServer):
  """`serve_forever()` answers until `shutdown()`; `server_address` has the bound port."""
  daemon_threads = True
  # Many clients connect at once (a judge harness, a batch of requests): socketserver's
  # default listen backlog of 5 would reset connections beyond it.
  request_queue_size = 256

  def __init__(self, generator: Generator, model_name: str, host: str = "127.0.0.1",
               port: int = 8000, api_key: str | None = None, max_batch: int = 32,
               batch_wait_s: float = 0.01, default_max_tokens: int = 256,
               verbose: bool = False):
    super().__init__((host, port), _Handler)
    self.api = OpenAIApi(generator, model_name, default_max_tokens)
    self.batcher = Batcher(generator, max_batch, batch_wait_s)
    self.api_key = api_key or None
    self.verbose = verbose
