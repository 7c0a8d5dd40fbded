"""The host's HTTP face: ``HostApp`` over ``Runtime``, served by the lean server in ``http.py``.

Routes::

    POST   /run/{ns}/{name}          body → stdin, stdout → body on every exit; X-Wasmops-* headers
    GET    /admin/modules            live state                        (bearer token)
    GET    /admin/modules/{ns}/{n}   one module                        (bearer token)
    PUT    /admin/modules/{ns}/{n}   deploy from ref + digest          (bearer token)
    DELETE /admin/modules/{ns}/{n}   undeploy                          (bearer token)
    PUT    /admin/modules/{ns}/{n}/canary          admit a canary at a weight (bearer token)
    PUT    /admin/modules/{ns}/{n}/canary/weight   {"weight": 0..100}        (bearer token)
    POST   /admin/modules/{ns}/{n}/canary/promote  the canary becomes stable (bearer token)
    DELETE /admin/modules/{ns}/{n}/canary          abort: 100 % stable now   (bearer token)
    GET    /admin/stats              compiles since start, module count (bearer token)
    GET    /admin/events             at-rest check failures, newest last (bearer token)
    GET    /healthz  /readyz  /metrics

No web framework: a short run costs a dict lookup and the wasm call, inline on the event loop
(``sched.py`` says when a run goes to the bounded, fair pool instead; see bench/host.py).
"""

from __future__ import annotations

import asyncio
import base64
import hmac
import json
import logging
from concurrent.futures import ThreadPoolExecutor
from urllib.parse import quote

from pydantic import ValidationError

from ..errors import UserError, WasmopsError
from wasmops.wasm.shape import MAX_STDIN
from wasmops.wasm.outcome import STDERR_TAIL  # bytes of a failed run's stderr, base64 in X-Wasmops-Stderr
from wasmops.wasm.sandbox import REASON_TIMEOUT, Preempted
from .http import Request, Response, json_response
from .api import CanaryRequest, WeightRequest
from .runtime import DeployRequest, Runtime
from .sched import DEFAULT_POOL_NICE, INLINE_SLICE_MS, RETRY_AFTER_S, Busy, Scheduler
from .wire_errors import PayloadTooLarge, status_of

# docs/spec/host-api.md: 422 the module trapped or hit a limit, 504 its timeout, 502 a non-zero exit.
RUN_STATUS = {"timeout": 504, "exit_nonzero": 502, "out_of_fuel": 422, "stack_overflow": 422, "memory_limit": 422,
              "stdout_limit": 422, "trap": 422, "scratch_limit": 422, "output_missing": 502}
MAX_BODY = MAX_STDIN        # POST /run: the module's stdin (wasmops.wasm.shape)
MAX_ADMIN_BODY = 2**20      # PUT /admin/...: a deploy body is a few hundred bytes
MAX_MESSAGE = 512
METRICS_CTYPE = b"text/plain; version=0.0.4; charset=utf-8"
# A probe is not billed to the module's team, so only the host token's holder (the release flow) may mark one.
_PROBE_UNAUTHORIZED = {"error": "Unauthorized", "message": "X-Wasmops-Probe is honoured only with "
                       "Authorization: Bearer <host token> (probes are not billed to the module's team)",
                       "retryable": False}
_PROBE_VALUE = {"error": "BadRequest", "message": "X-Wasmops-Probe: 1 marks a release probe, 0 (or no header) "
                "an ordinary request; nothing else is taken", "retryable": False}
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
                (b"x-wasmops-message", quote(r.message[:MAX_MESSAGE], safe=_MESSAGE_SAFE).encode()),
                (b"x-wasmops-stderr", base64.b64encode(r.stderr[-STDERR_TAIL:]))]
    return RUN_STATUS.get(r.reason, 500), headers


_RUN_HEAD = (b"x-wasmops-digest: %s\r\nx-wasmops-fuel: %d\r\nx-wasmops-duration-ms: %.3f\r\nx-wasmops-memory: %d\r\n"
             b"x-wasmops-cpu-ms: %.3f\r\nx-wasmops-exit-code: %d\r\n")


#: ``X-Wasmops-Message`` keeps printable ASCII as it is; ``%``, control and non-ASCII characters are percent-encoded.
_MESSAGE_SAFE = "".join(chr(c) for c in range(0x20, 0x7F) if chr(c) != "%")
#: A run's body is whatever the module wrote, so the host claims nothing about it (its own errors are JSON).
RUN_CONTENT_TYPE = b"application/octet-stream"


def run_response(digest: str, r, digest_b: bytes | None = None) -> Response:
    """``digest_b``: ``digest`` encoded, if the caller has it (``runtime.Live.digest_b``)."""
    if r.ok:       # the common case, formatted in one step: the same headers as ``run_status_headers``
        head = _RUN_HEAD % (digest_b or digest.encode(), r.fuel_used, r.duration_s * 1000, r.peak_memory, r.cpu_s * 1000,
                            r.exit_code)
        if r.fuel_estimated:
            head += b"x-wasmops-fuel-estimated: 1\r\n"
        return Response(200, r.stdout, RUN_CONTENT_TYPE, head=head)
    status, headers = run_status_headers(digest, r)
    return Response(status, r.stdout, RUN_CONTENT_TYPE, headers)


def error_status(exc: BaseException) -> int:
    return status_of(exc)        # the one table the client reads too (wire_errors)


def error_response(exc: WasmopsError) -> Response:
    headers = [(b"retry-after", str(RETRY_AFTER_S).encode())] if isinstance(exc, Busy) else []
    body = {"error": type(exc).__name__, "message": str(exc), "retryable": exc.retryable}
    if exc.step:
        body["step"] = exc.step          # the admission step that refused (admission.STEPS)
    if exc.hint:
        body["hint"] = exc.hint          # the way forward (what a module built for another host is)
    return json_response(error_status(exc), body, headers=headers)


class HostApp:
    def __init__(self, runtime: Runtime, token: str, *, workers: int = 8, pool_nice: int = DEFAULT_POOL_NICE):
        self.rt = runtime
        self.token = token.encode()
        self.sched = Scheduler(workers, nice=pool_nice)
        self.admin_pool = ThreadPoolExecutor(max_workers=2, thread_name_prefix="wasmops-admin")

    # -- what the HTTP layer asks ------------------------------------------------------------
    def body_limit(self, path: str) -> int:
        return MAX_BODY if path.startswith("/run/") else MAX_ADMIN_BODY

    def too_large(self, path: str, size: int | None, limit: int) -> Response:
        what = f"request body of {size} bytes" if size is not None else "request body"
        return error_response(PayloadTooLarge(f"{what} is over the limit of {limit} bytes"))

    def internal_error(self, req: Request, exc: BaseException) -> Response:
        if isinstance(exc, WasmopsError):
            return error_response(exc)
        log.error("%s %s failed", req.method, req.path, exc_info=exc)   # never a traceback to the client
        return json_response(500, {"error": "InternalError", "message": type(exc).__name__, "retryable": False})

    def close(self) -> None:
        """Waiting runs are dropped; running ones end by their own deadline (the epoch ticker must
        still be running: close this before the runtime)."""
        self.admin_pool.shutdown(wait=False, cancel_futures=True)
        self.sched.shutdown()

    # -- routes ------------------------------------------------------------------------------
    def handle(self, req: Request):
        """A ``Response`` now (inline run, errors, probes) or an awaitable of one (pool run, admin)."""
        method, path = req.method, req.path
        parts = path.strip("/").split("/")
        try:
            if parts[0] == "run" and len(parts) == 3:
                if method != "POST":
                    return json_response(405, {"error": "use POST"})
                h = req.headers
                mark = h.get(b"x-wasmops-probe")
                probe = False
                if mark is not None:
                    mark = mark.strip()
                    if mark not in (b"0", b"1"):
                        return json_response(400, _PROBE_VALUE)
                    probe = mark == b"1"
                    if probe and not self._authorized(req):
                        return json_response(401, _PROBE_UNAUTHORIZED)
                return self._run(parts[1], parts[2], req.body, h.get(b"x-wasmops-pin-digest"),
                                 h.get(b"x-wasmops-expect") if probe else None, probe)
            if parts[0] == "admin":
                if not self._authorized(req):
                    return json_response(401, {"error": "unauthorized: send Authorization: Bearer <token>"})
                return self._admin(method, parts[1:], req)
            if path == "/healthz":
                return Response(200, b"ok\n", b"text/plain")
            if path == "/readyz":
                return Response(200 if self.rt.ready else 503, b"ready\n" if self.rt.ready else b"starting\n",
                                b"text/plain")
            if path == "/metrics":
                return self.metrics_response()
            return json_response(404, {"error": f"no route {method} {path}"})
        except WasmopsError as exc:
            if isinstance(exc, Busy):
                self.rt.metrics.shed.labels(parts[1], parts[2]).inc()
            return error_response(exc)

    def metrics_response(self):
        """This process's metrics (a worker of several answers with every process's sum: ``workers.py``)."""
        return Response(200, self.rt.metrics.render(), METRICS_CTYPE)

    def _authorized(self, req: Request) -> bool:
        v = req.headers.get(b"authorization")
        return v is not None and v.startswith(b"Bearer ") and hmac.compare_digest(v[7:].strip(), self.token)

    def _run(self, ns: str, name: str, body: bytes, pin: bytes | None = None, expect: bytes | None = None,
             probe: bool = False):
        """``probe``: counted in the ``wasmops_probe_*`` series, not billed to the team (``metrics.py``);
        ``expect`` is honoured on probes only (``handle``)."""
        live = self.rt.pick(ns, name, pin.decode("latin-1").strip() if pin else None, probe)
        lane = self.sched.lane(live.key)
        if lane.inline:
            try:
                dep, r = self.rt.invoke_live(live, body, INLINE_SLICE_MS, expect, probe)
            except Preempted:
                lane.outgrew_slice()      # run again in the pool, from scratch, with its full timeout
            else:
                if r.reason == REASON_TIMEOUT:
                    lane.outgrew_slice()  # a deadline within the slice, used up inline: later runs go to the pool
                else:
                    self.sched.short_run()    # pool runs yield the core to short ones now (sched.py)
                return run_response(dep.digest, r, live.digest_b)
        fut = self.sched.submit(lane, self.rt.invoke_live, live, body, None, expect, probe)
        return self._pooled(lane, fut, live.digest_b)

    async def _pooled(self, lane, fut, digest_b: bytes) -> Response:
        dep, r = await fut
        lane.pool_run_took(r.cpu_s, r.reason == REASON_TIMEOUT)
        return run_response(dep.digest, r, digest_b)

    #: Prune stored blobs and precompiled modules after each change (``Runtime.prune_store``). The
    #: supervisor of several workers turns this off and prunes once every worker serves the change.
    prune_after_admin = True

    async def _admin(self, method: str, parts: list[str], req: Request) -> Response:
        try:
            resp = await self._admin_route(method, parts, req)
        except WasmopsError as exc:
            return error_response(exc)
        if method != "GET" and self.prune_after_admin:
            await asyncio.get_running_loop().run_in_executor(self.admin_pool, self.rt.prune_store)
        return resp

    async def _admin_route(self, method: str, parts: list[str], req: Request) -> Response:
        loop = asyncio.get_running_loop()
        if parts == ["stats"] and method == "GET":
            return json_response(200, {"compiles": self.rt.sandbox.compiles, "modules": len(self.rt.live),
                                       "stalled": len(self.rt.stalled), "shed": self.sched.shed})
        if parts == ["events"] and method == "GET":
            return json_response(200, {"events": list(self.rt.events)})
        if parts == ["modules"] and method == "GET":
            return json_response(200, {"modules": self.rt.modules()})
        if len(parts) in (4, 5) and parts[0] == "modules" and parts[3] == "canary":
            return await self._canary(method, parts[1], parts[2], parts[4:], req)
        if len(parts) == 3 and parts[0] == "modules":
            ns, name = parts[1], parts[2]
            if method == "GET":
                return json_response(200, self.rt.describe(ns, name))
            if method == "PUT":
                dreq = parse_deploy(req.body, ns, name)
                dep, changed = await loop.run_in_executor(self.admin_pool, self.rt.deploy, dreq)
                return json_response(200, {"changed": changed, "module": dep.model_dump()})
            if method == "DELETE":
                removed = await loop.run_in_executor(self.admin_pool, self.rt.undeploy, ns, name)
                if not removed:
                    return json_response(404, {"error": "NotFound", "message": f"{ns}/{name} is not deployed"})
                return json_response(200, {"deleted": f"{ns}/{name}"})
        return json_response(404, {"error": f"no admin route {method} /admin/{'/'.join(parts)}"})


    async def _canary(self, method: str, ns: str, name: str, rest: list[str], req: Request) -> Response:
        loop = asyncio.get_running_loop()
        call = lambda fn, *a: loop.run_in_executor(self.admin_pool, fn, *a)  # noqa: E731
        if not rest and method == "PUT":
            creq = parse_deploy(req.body, ns, name, CanaryRequest)
            dep, changed = await call(self.rt.deploy_canary, DeployRequest.model_validate(
                creq.model_dump(exclude={"weight"})), creq.weight)
            return json_response(200, {"changed": changed, "canary": self.rt.canary_view(dep.key)})
        if not rest and method == "DELETE":
            if not await call(self.rt.abort_canary, ns, name):
                return json_response(404, {"error": "NotFound", "message": f"{ns}/{name} has no canary"})
            return json_response(200, {"aborted": f"{ns}/{name}", "module": self.rt.describe(ns, name)})
        if rest == ["weight"] and method in ("PUT", "PATCH"):
            weight = parse_deploy(req.body, ns, name, WeightRequest).weight
            dep = await call(self.rt.set_canary_weight, ns, name, weight)
            return json_response(200, {"canary": self.rt.canary_view(dep.key)})
        if rest == ["promote"] and method == "POST":
            dep = await call(self.rt.promote_canary, ns, name)
            return json_response(200, {"promoted": dep.digest, "module": self.rt.describe(ns, name)})
        return json_response(404, {"error": f"no admin route {method} /admin/modules/{ns}/{name}/canary/{'/'.join(rest)}"})


class BadRequest(UserError):
    """An admin body that is not what the API takes; the message names the field."""




def parse_deploy(raw: bytes, ns: str, name: str, model=DeployRequest):
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
        extra = {"namespace": ns, "name": name} if issubclass(model, DeployRequest) else {}
        return model.model_validate({**data, **extra})
    except ValidationError as exc:
        raise BadRequest(_brief(exc)) from None
    except RecursionError:
        raise BadRequest("body: JSON nested too deeply") from None


def _brief(exc: Exception) -> str:
    if isinstance(exc, ValidationError):
        return "; ".join(f"{'.'.join(map(str, e['loc'])) or 'body'}: {e['msg']}" for e in exc.errors()[:5])
    return str(exc)


def serve(runtime: Runtime, token: str, *, host: str = "127.0.0.1", port: int = 8700, workers: int = 8,
          pool_nice: int = DEFAULT_POOL_NICE) -> None:
    """Run the host until SIGINT/SIGTERM."""
    from .serving import run_server

    app = HostApp(runtime, token, workers=workers, pool_nice=pool_nice)
    try:
        run_server(app, host, port)
    finally:
        app.close()
        runtime.close()
