"""The agent's HTTP side: ``GET /status`` (JSON) and ``POST /webhook`` (a push notification).

The webhook needs the shared secret, given one of three ways: ``X-Wasmops-Secret: S``,
``Authorization: Bearer S``, or a GitHub/Gitea-style ``X-Hub-Signature-256: sha256=HMAC(S, body)``.
Anything else gets 401 and nothing is fetched. A good call answers 202 at once; the agent fetches
and reconciles in its own loop::

    curl -s 127.0.0.1:8711/status | jq .revision
    curl -si -XPOST 127.0.0.1:8711/webhook -H "X-Wasmops-Secret: $S"      # 202
"""

from __future__ import annotations

import hashlib
import hmac
import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from wasmops.fleet.agent import Agent

MAX_BODY = 1 << 20


def authorised(secret: str | None, headers, body: bytes) -> bool:
    """Does the request carry ``secret`` (constant-time comparisons)?"""
    if not secret:
        return False
    given = headers.get("X-Wasmops-Secret") or ""
    auth = headers.get("Authorization") or ""
    if auth.startswith("Bearer "):
        given = given or auth[7:]
    if given and hmac.compare_digest(given.encode(), secret.encode()):
        return True
    sig = headers.get("X-Hub-Signature-256") or ""
    want = "sha256=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()
    return bool(sig) and hmac.compare_digest(sig.encode(), want.encode())


def _handler(agent: Agent, secret: str | None):
    class Handler(BaseHTTPRequestHandler):
        server_version = "wasmops-agent"

        def log_message(self, fmt, *args):   # quiet: the agent logs what matters
            pass

        def _json(self, code: int, body: dict) -> None:
            data = json.dumps(body, indent=1).encode()
            self.send_response(code)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def do_GET(self):
            if self.path.split("?")[0] in ("/status", "/"):
                return self._json(200, agent.status())
            if self.path == "/healthz":
                return self._json(200, {"ok": True})
            return self._json(404, {"error": "NotFound", "message": f"no {self.path}; try /status"})

        def do_POST(self):
            if self.path.split("?")[0] != "/webhook":
                return self._json(404, {"error": "NotFound", "message": f"no {self.path}; POST /webhook"})
            n = int(self.headers.get("Content-Length") or 0)
            if n > MAX_BODY:
                return self._json(413, {"error": "TooLarge", "message": f"body over {MAX_BODY} bytes"})
            body = self.rfile.read(n) if n else b""
            if not secret:
                return self._json(404, {"error": "NotFound", "message": "the webhook is not enabled (no secret)"})
            if not authorised(secret, self.headers, body):
                return self._json(401, {"error": "Unauthorized", "message": "bad or missing webhook secret"})
            agent.trigger()
            return self._json(202, {"accepted": True, "message": "fetching and reconciling"})

    return Handler


def serve(agent: Agent, *, bind: str, port: int, secret: str | None, option: str = "--port") -> ThreadingHTTPServer:
    """Start the server in a daemon thread; returns it (``.shutdown()`` to stop). A port it cannot
    listen on is a UserError naming ``option`` and the port."""
    from wasmops.errors import UserError

    try:
        srv = ThreadingHTTPServer((bind, port), _handler(agent, secret))
    except OSError as exc:
        raise UserError(f"{option} {port}: cannot listen on {bind}:{port}: {exc.strerror or exc}",
                        where=f"{bind}:{port}", hint=f"another process holds the port: stop it or pass {option}") from None
    srv.daemon_threads = True
    threading.Thread(target=srv.serve_forever, name=f"agent-http-{port}", daemon=True).start()
    return srv
