"""The host's HTTP face: a small ASGI app over ``Runtime``, served by uvicorn (httptools, uvloop).

Routes::

    POST   /run/{ns}/{name}          body → stdin, stdout → body on every exit; X-Wasmops-* headers
    GET    /admin/modules            live state                        (bearer token)
    GET    /admin/modules/{ns}/{n}   one module                        (bearer token)
    PUT    /admin/modules/{ns}/{n}   deploy from ref + digest          (bearer token)
    DELETE /admin/modules/{ns}/{n}   undeploy                          (bearer token)
    GET    /admin/stats              compiles since start, module count (bearer token)
    GET    /admin/events             at-rest check failures, newest last (bearer token)
    GET    /healthz  /readyz  /metrics

No web framework: a request costs a dict lookup and a thread-pool hop, so the host stays close
to the bare wasmtime loop (see bench/host.py).
"""

from __future__ import annotations

import asyncio
import base64
import hmac
import json
import logging
import signal
from concurrent.futures import ThreadPoolExecutor
from urllib.parse import quote

from pydantic import ValidationError

from ..errors import (IntegrityError, NotFound, PolicyDenied, QuarantinedError, SignatureError, TransientError,
                      UserError, WasmopsError)
from .runtime import DeployRequest, ModuleStalled, Runtime

# docs/spec/host-api.md: 422 the module trapped or hit a limit, 504 its timeout, 502 a non-zero exit.
RUN_STATUS = {"timeout": 504, "exit_nonzero": 502, "out_of_fuel": 422, "stack_overflow": 422, "memory_limit": 422,
              "stdout_limit": 422, "trap": 422}
MAX_BODY = 8 * 2**20        # POST /run: the module's stdin
MAX_ADMIN_BODY = 2**20      # PUT /admin/...: a deploy body is a few hundred bytes
STDERR_TAIL = 2048  # bytes of a failed run's stderr returned (base64) in X-Wasmops-Stderr
MAX_MESSAGE = 512
log = logging.getLogger("wasmops.host")


def run_status_headers(digest: str, r) -> tuple[int, list[tuple[bytes, bytes]]]:
    """The one response shape of ``POST /run`` (docs/spec/host-api.md): the body is always the
    module's stdout; what the run did travels in ``X-Wasmops-*`` headers."""
    headers = [(b"x-wasmops-digest", digest.encode()), (b"x-wasmops-fuel", str(r.fuel_used).encode()),
               (b"x-wasmops-duration-ms", f"{r.duration_s * 1000:.3f}".encode()),
               (b"x-wasmops-memory", str(r.peak_memory).encode()),
               (b"x-wasmops-cpu-ms", f"{r.cpu_s * 1000:.3f}".encode()),
               (b"x-wasmops-exit-code", b"" if r.exit_code is None else str(r.exit_code).encode())]
    if r.fuel_estimated:
        headers.append((b"x-wasmops-fuel-estimated", b"1"))
    if r.ok:
        return 200, headers
    headers += [(b"x-wasmops-error", (r.reason or "unknown").encode()),
                (b"x-wasmops-message", quote(r.message[:MAX_MESSAGE], safe=" /:,.()'=").encode()),
                (b"x-wasmops-stderr", base64.b64encode(r.stderr[-STDERR_TAIL:]))]
    return RUN_STATUS.get(r.reason, 500), headers


def error_status(exc: BaseException) -> int:
    for cls, code in ((PayloadTooLarge, 413), (ModuleStalled, 503), (NotFound, 404), (PolicyDenied, 403), (SignatureError, 403), (QuarantinedError, 409),
                      (IntegrityError, 422), (TransientError, 503), (UserError, 400), (WasmopsError, 500)):
        if isinstance(exc, cls):
            return code
    return 500


class HostApp:
    def __init__(self, runtime: Runtime, token: str, *, workers: int = 8):
        self.rt = runtime
        self.token = token.encode()
        self.pool = ThreadPoolExecutor(max_workers=workers, thread_name_prefix="wasmops-run")

    async def __call__(self, scope, receive, send):
        if scope["type"] == "lifespan":
            while True:
                msg = await receive()
                if msg["type"] == "lifespan.startup":
                    await send({"type": "lifespan.startup.complete"})
                elif msg["type"] == "lifespan.shutdown":
                    self.pool.shutdown(wait=False, cancel_futures=True)
                    await send({"type": "lifespan.shutdown.complete"})
                    return
        if scope["type"] != "http":
            return
        method, path = scope["method"], scope["path"]
        parts = path.strip("/").split("/")
        try:
            if parts[0] == "run" and len(parts) == 3:
                if method != "POST":
                    return await _json(send, 405, {"error": "use POST"})
                return await self._run(parts[1], parts[2], await _body(receive, scope, MAX_BODY), send)
            if parts[0] == "admin":
                if not self._authorized(scope):
                    return await _json(send, 401, {"error": "unauthorized: send Authorization: Bearer <token>"})
                return await self._admin(method, parts[1:], scope, receive, send)
            if path == "/healthz":
                return await _text(send, 200, b"ok\n")
            if path == "/readyz":
                return await _text(send, 200 if self.rt.ready else 503, b"ready\n" if self.rt.ready else b"starting\n")
            if path == "/metrics":
                return await _text(send, 200, self.rt.metrics.render(), "text/plain; version=0.0.4; charset=utf-8")
            return await _json(send, 404, {"error": f"no route {method} {path}"})
        except WasmopsError as exc:
            return await _json(send, error_status(exc), {"error": type(exc).__name__, "message": str(exc),
                                                          "retryable": exc.retryable})
        except Exception as exc:  # noqa: BLE001 - never a traceback to the client; the log keeps it
            log.exception("%s %s failed", method, path)
            return await _json(send, 500, {"error": "InternalError", "message": type(exc).__name__,
                                           "retryable": False})

    def _authorized(self, scope) -> bool:
        for k, v in scope["headers"]:
            if k == b"authorization":
                return v.startswith(b"Bearer ") and hmac.compare_digest(v[7:].strip(), self.token)
        return False

    async def _run(self, ns: str, name: str, body: bytes, send):
        loop = asyncio.get_running_loop()
        dep, r = await loop.run_in_executor(self.pool, self.rt.invoke, ns, name, body)
        status, headers = run_status_headers(dep.digest, r)
        return await _send(send, status, r.stdout, b"application/json", headers)

    async def _admin(self, method: str, parts: list[str], scope, receive, send):
        loop = asyncio.get_running_loop()
        if parts == ["stats"] and method == "GET":
            return await _json(send, 200, {"compiles": self.rt.sandbox.compiles, "modules": len(self.rt.live),
                                           "stalled": len(self.rt.stalled)})
        if parts == ["events"] and method == "GET":
            return await _json(send, 200, {"events": list(self.rt.events)})
        if parts == ["modules"] and method == "GET":
            return await _json(send, 200, {"modules": self.rt.modules()})
        if len(parts) == 3 and parts[0] == "modules":
            ns, name = parts[1], parts[2]
            if method == "GET":
                return await _json(send, 200, self.rt.describe(ns, name))
            if method == "PUT":
                req = parse_deploy(await _body(receive, scope, MAX_ADMIN_BODY), ns, name)
                dep, changed = await loop.run_in_executor(self.pool, self.rt.deploy, req)
                return await _json(send, 200, {"changed": changed, "module": dep.model_dump()})
            if method == "DELETE":
                removed = await loop.run_in_executor(self.pool, self.rt.undeploy, ns, name)
                if not removed:
                    return await _json(send, 404, {"error": "NotFound", "message": f"{ns}/{name} is not deployed"})
                return await _json(send, 200, {"deleted": f"{ns}/{name}"})
        return await _json(send, 404, {"error": f"no admin route {method} /admin/{'/'.join(parts)}"})


class BadRequest(UserError):
    """An admin body that is not what the API takes; the message names the field."""


class PayloadTooLarge(UserError):
    """A request body over the limit (answered 413 without reading the rest)."""


def parse_deploy(raw: bytes, ns: str, name: str) -> DeployRequest:
    """A deploy body as a typed ``DeployRequest``; ``BadRequest`` (400) naming the field otherwise."""
    try:
        data = json.loads(raw) if raw.strip() else {}
    except RecursionError:
        raise BadRequest("body: JSON nested too deeply") from None
    except ValueError as exc:
        raise BadRequest(f"body: not valid JSON: {exc}") from None
    if not isinstance(data, dict):
        raise BadRequest(f"body: expected a JSON object, got {type(data).__name__}")
    try:
        return DeployRequest.model_validate({**data, "namespace": ns, "name": name})
    except ValidationError as exc:
        raise BadRequest(_brief(exc)) from None
    except RecursionError:
        raise BadRequest("body: JSON nested too deeply") from None


def _brief(exc: Exception) -> str:
    if isinstance(exc, ValidationError):
        return "; ".join(f"{'.'.join(map(str, e['loc'])) or 'body'}: {e['msg']}" for e in exc.errors()[:5])
    return str(exc)


async def _body(receive, scope, limit: int) -> bytes:
    """The request body; ``PayloadTooLarge`` from Content-Length alone, or as soon as the stream passes ``limit``."""
    for k, v in scope["headers"]:
        if k == b"content-length":
            if not v.strip().isdigit():
                raise BadRequest("Content-Length: not a number")
            if int(v) > limit:
                raise PayloadTooLarge(f"request body of {int(v)} bytes is over the limit of {limit} bytes")
    chunks, size = [], 0
    while True:
        msg = await receive()
        chunk = msg.get("body", b"")
        size += len(chunk)
        if size > limit:
            raise PayloadTooLarge(f"request body is over the limit of {limit} bytes")
        chunks.append(chunk)
        if not msg.get("more_body"):
            return b"".join(chunks)


async def _send(send, status: int, body: bytes, ctype: bytes, headers=()):
    await send({"type": "http.response.start", "status": status,
                "headers": [(b"content-type", ctype), (b"content-length", str(len(body)).encode()), *headers]})
    await send({"type": "http.response.body", "body": body})


async def _json(send, status: int, obj) -> None:
    await _send(send, status, json.dumps(obj).encode(), b"application/json")


async def _text(send, status: int, body: bytes, ctype: str = "text/plain") -> None:
    await _send(send, status, body, ctype.encode())


def serve(runtime: Runtime, token: str, *, host: str = "127.0.0.1", port: int = 8700, workers: int = 8) -> None:
    """Run the host until SIGINT/SIGTERM."""
    import uvicorn

    app = HostApp(runtime, token, workers=workers)
    # uvicorn re-raises SIGTERM after its graceful shutdown; with the default action the process would
    # die there, before ``runtime.close()`` and atexit remove the module I/O directory.
    signal.signal(signal.SIGTERM, _exit_on_sigterm)
    config = uvicorn.Config(app, host=host, port=port, loop="uvloop", http="httptools", lifespan="on",
                            access_log=False, log_level="warning", timeout_graceful_shutdown=5)
    try:
        uvicorn.Server(config).run()
    finally:
        runtime.close()


def _exit_on_sigterm(signum, frame) -> None:
    raise SystemExit(128 + signum)
