"""The OpenAI-compatible HTTP app (ASGI, starlette) over an `OpenAIApi` and a `Batcher`.

Routes: GET /health, GET /v1/models, GET /v1/models/{id}, POST /v1/chat/completions,
POST /v1/completions. Bodies are validated by `OpenAIApi` itself, so starlette is enough
(FastAPI would add pydantic models we do not use). Every failure, on every method and
route, is answered in OpenAI's error shape; a 500 says nothing of the server's internals
(the traceback goes to the log). Blocking work (parsing, decoding) runs in threads, so the
event loop keeps answering while batches decode.

`State` is what `pinchjax.infer.serve` drives: the model arrives after the port is bound
(503 until then), and on shutdown new requests get 503 while those in flight finish; when
`cut` is set, the unfinished ones end (a stream with an error event and `[DONE]`).
"""
from __future__ import annotations

import asyncio
import dataclasses
import hmac
import json
import logging
from typing import Any, AsyncIterator, Awaitable, Callable, Iterator

from starlette.applications import Starlette
from starlette.concurrency import iterate_in_threadpool, run_in_threadpool
from starlette.exceptions import HTTPException
from starlette.requests import ClientDisconnect, Request
from starlette.responses import JSONResponse, Response, StreamingResponse
from starlette.routing import Route
from starlette.types import ASGIApp, Receive, Scope, Send

from pinchjax.infer.batcher import Batcher
from pinchjax.infer.openai_api import INTERNAL_ERROR, ApiError, OpenAIApi

_POST_ROUTES = {"/v1/chat/completions": "chat", "/v1/completions": "text"}


@dataclasses.dataclass
class State:
  model_name: str
  api_key: str | None = None
  max_body_bytes: int = 16 << 20
  body_timeout_s: float = 30.0
  phase: str = "loading"  # loading -> ok -> draining; or failed
  api: OpenAIApi | None = None
  batcher: Batcher | None = None
  in_flight: int = 0  # requests being answered (health checks included)
  cut: asyncio.Event = dataclasses.field(default_factory=asyncio.Event)


def _error(status: int, message: str, code: str | None = None, kind: str | None = None,
           headers: dict[str, str] | None = None) -> JSONResponse:
  kind = kind or ("server_error" if status >= 500 else "invalid_request_error")
  return JSONResponse(ApiError(status, message, code=code, kind=kind).body(), status,
                      headers=headers)


def _api_error(e: ApiError, headers: dict[str, str] | None = None) -> JSONResponse:
  return JSONResponse(e.body(), e.status, headers=headers)


class _Gate:
  """Counts the requests in flight and refuses new ones (503) while the server drains."""

  def __init__(self, app: ASGIApp, state: State):
    self.app, self.state = app, state

  async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
    if scope["type"] != "http":
      return await self.app(scope, receive, send)
    if self.state.phase == "draining" and scope["path"] != "/health":
      response = _error(503, "The server is shutting down; retry on another replica.",
                        "server_shutting_down", headers={"Connection": "close"})
      return await response(scope, receive, send)
    self.state.in_flight += 1
    try:
      await self.app(scope, receive, send)
    finally:
      self.state.in_flight -= 1


def build_app(state: State, lifespan=None) -> ASGIApp:

  def guarded(handler: Callable[[Request], Awaitable[Response]], needs_model: bool = True):
    """Checks the key and readiness, and turns every failure into an OpenAI error."""

    async def endpoint(request: Request) -> Response:
      try:
        _authorize(request, state.api_key)
        if needs_model and state.api is None:
          raise ApiError(503, f"The model is {state.phase}; retry shortly.",
                         code=f"model_{state.phase}", kind="server_error")
        return await handler(request)
      except ApiError as e:
        # The rest of a 408's body never comes and a 413's is not worth receiving: the
        # connection closes.
        return _api_error(e, {"Connection": "close"} if e.status in (408, 413) else None)
      except ClientDisconnect:
        return Response(status_code=400)  # nobody is left to read it
      except Exception:  # pylint: disable=broad-except
        logging.exception("error answering %s %s", request.method, request.url.path)
        return _error(500, INTERNAL_ERROR)

    return endpoint

  async def health(request: Request) -> Response:
    del request
    return JSONResponse({"status": state.phase}, 200 if state.phase == "ok" else 503)

  async def models(request: Request) -> Response:
    del request
    return JSONResponse(state.api.models())

  async def model(request: Request) -> Response:
    name = request.path_params["name"]
    if name != state.model_name:
      raise ApiError(404, f"The model '{name}' does not exist", "model", "model_not_found")
    return JSONResponse(state.api.model_card())

  async def completions(request: Request) -> Response:
    obj = _parse_json(await _read_body(request, state.max_body_bytes, state.body_timeout_s))
    api, batcher = state.api, state.batcher
    parsed = await run_in_threadpool(api.parse, _POST_ROUTES[request.url.path], obj)
    if parsed.stream:
      return StreamingResponse(_events(api.stream(parsed, batcher), state.cut),
                               headers={"Content-Type": "text/event-stream",
                                        "Cache-Control": "no-cache"})
    answer = await _unless_cut(run_in_threadpool(api.complete, parsed, batcher), state.cut)
    if answer is _CUT:
      raise ApiError(503, "The server shut down before the answer was complete; retry.",
                     code="server_shutting_down", kind="server_error")
    return JSONResponse(answer)

  routes = [Route("/health", guarded(health, needs_model=False), methods=["GET"]),
            Route("/v1/models", guarded(models), methods=["GET"]),
            Route("/v1/models/{name:path}", guarded(model), methods=["GET"])]
  routes += [Route(path, guarded(completions), methods=["POST"]) for path in _POST_ROUTES]

  async def http_error(request: Request, e: Exception) -> Response:
    assert isinstance(e, HTTPException)
    if e.status_code == 404:
      return _error(404, f"Unknown route {request.method} {request.url.path}", "not_found")
    if e.status_code == 405:
      return _error(405, f"Method {request.method} is not allowed on {request.url.path} "
                    f"(allowed: {(e.headers or {}).get('Allow', '')})", "method_not_allowed",
                    headers=e.headers)
    return _error(e.status_code, e.detail)

  async def server_error(request: Request, e: Exception) -> Response:
    del e  # re-raised after this answer, for uvicorn to log with its traceback
    return _error(500, INTERNAL_ERROR)

  app = Starlette(routes=routes, lifespan=lifespan,
                  exception_handlers={HTTPException: http_error, 500: server_error})
  # /health stays at its path; /v1/models/ (trailing slash) is a client's typo, not a route.
  app.router.redirect_slashes = False
  return _Gate(app, state)


def _authorize(request: Request, key: str | None) -> None:
  if key is None or request.url.path == "/health":  # probes carry no key
    return
  given = request.headers.get("Authorization", "")
  if not hmac.compare_digest(given.encode(), f"Bearer {key}".encode()):
    raise ApiError(401, "Incorrect API key provided.", code="invalid_api_key")


async def _read_body(request: Request, max_bytes: int, timeout_s: float) -> bytes:
  """The body, at most `max_bytes` (413), arriving within `timeout_s` (408): a client that
  sends less than its Content-Length must not hold the request open."""
  length = request.headers.get("Content-Length", "")
  if length.isdigit() and int(length) > max_bytes:
    raise ApiError(413, f"The request body is larger than {max_bytes} bytes.",
                   code="request_too_large")
  body = bytearray()
  try:
    async with asyncio.timeout(timeout_s):
      async for chunk in request.stream():
        body += chunk
        if len(body) > max_bytes:
          raise ApiError(413, f"The request body is larger than {max_bytes} bytes.",
                         code="request_too_large")
  except TimeoutError:
    raise ApiError(408, f"The request body did not arrive within {timeout_s:g} s "
                   f"({len(body)} of {length or 'unknown'} bytes came).",
                   code="request_timeout") from None
  return bytes(body)


def _parse_json(body: bytes) -> Any:
  try:
    obj = json.loads(body)
  except ValueError as e:  # JSONDecodeError, UnicodeDecodeError
    raise ApiError(400, f"The body is not valid JSON: {e}") from None
  try:
    # JSON can escape half of a UTF-16 surrogate pair, which no UTF-8 text can hold.
    json.dumps(obj, ensure_ascii=False).encode()
  except UnicodeEncodeError as e:
    raise ApiError(400, f"The body is not valid JSON: it has a lone surrogate "
                   f"\\u{ord(e.object[e.start]):04x} (unpaired UTF-16 escape)") from None
  return obj


_CUT = object()


async def _unless_cut(work: Awaitable[Any], cut: asyncio.Event) -> Any:
  """`work`'s result, or `_CUT` if `cut` is set first (the work is left to finish alone:
  a decode in a thread cannot be stopped)."""
  task = asyncio.ensure_future(work)
  if cut.is_set():
    return _CUT
  waiter = asyncio.ensure_future(cut.wait())
  try:
    await asyncio.wait({task, waiter}, return_when=asyncio.FIRST_COMPLETED)
  finally:
    waiter.cancel()
  return task.result() if task.done() else _CUT


async def _events(events: Iterator[dict[str, Any]], cut: asyncio.Event) -> AsyncIterator[str]:
  """Server-sent events, then `[DONE]`; a stream that cannot finish (a failure, or the end
  of the shutdown grace period) ends with an error event, so no client takes a cut answer
  for a whole one."""
  pending = iterate_in_threadpool(events)
  while True:
    try:
      event = await _unless_cut(pending.__anext__(), cut)
    except StopAsyncIteration:
      break
    except ApiError as e:
      yield _sse(e.body())
      break
    except Exception:  # pylint: disable=broad-except
      logging.exception("error while streaming")
      yield _sse(ApiError(500, INTERNAL_ERROR, kind="server_error").body())
      break
    if event is _CUT:
      yield _sse(ApiError(503, "The server shut down before the answer was complete; retry.",
                          code="server_shutting_down", kind="server_error").body())
      break
    yield _sse(event)
  yield "data: [DONE]\n\n"


def _sse(obj: Any) -> str:
  return f"data: {json.dumps(obj, ensure_ascii=False)}\n\n"
