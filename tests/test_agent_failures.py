"""What an outside tester met around the agent and the fleet commands: a pass that fails says why
(Stalled Unauthorized for a refused token, not "Starting" forever), a busy port is one line,
`fleet status` reads WASMOPS_FLEET_AGENTS, and `fleet wait` refuses a wait that cannot end at once."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import git
import pytest
import yaml
from typer.testing import CliRunner

from support.host import WASMOPS
from wasmops.errors import UserError
from wasmops.fleet.agent import Agent, AgentConfig
from wasmops.fleet.agent_server import serve
from wasmops.fleet.status import fleet_status
from wasmops.gitops.selector import Selector
from wasmops.host.client import HostClient

ACTOR = git.Actor("t", "t@localhost")
DIGEST = "sha256:" + "ab64" * 16


def _refusing_host(status: int) -> ThreadingHTTPServer:
    """A host that refuses every call with ``status`` and the body the real host sends for a bad token."""
    class H(BaseHTTPRequestHandler):
        def log_message(self, *a):
            pass

        def do_GET(self):
            body = json.dumps({"error": "unauthorized: send Authorization: Bearer <token>"}).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

    srv = ThreadingHTTPServer(("127.0.0.1", 0), H)
    threading.Thread(target=srv.serve_forever, daemon=True).start()
    return srv


@pytest.fixture
def clone(tmp_path):
    r = git.Repo.init(tmp_path / "git", initial_branch="main")
    rel = "modules/edge/web.yaml"
    (tmp_path / "git" / rel).parent.mkdir(parents=True)
    (tmp_path / "git" / rel).write_text(yaml.safe_dump({
        "metadata": {"name": "web", "namespace": "edge", "labels": {"team": "t", "project": "p", "env": "edge"}},
        "spec": {"moduleRef": {"repository": "web", "tag": "v1", "digest": DIGEST}}}))
    r.index.add([rel])
    r.index.commit("c", author=ACTOR, committer=ACTOR)
    return tmp_path / "git"


def _agent(clone, host, url="http://127.0.0.1:1", log=None) -> Agent:
    cfg = AgentConfig(host_url=url, selector=Selector.parse("env=edge"), clone_dir=clone,
                      registry="oci-layout:///x", interval_s=3600, timeout_s=1)
    return Agent(cfg, host, log=log)


@pytest.mark.parametrize("code,reason", [(401, "Unauthorized"), (403, "Forbidden")])
def test_a_refused_token_stalls_the_agent_and_fleet_status_says_why(clone, code, reason):
    host = _refusing_host(code)
    url = f"http://127.0.0.1:{host.server_address[1]}"
    failed = threading.Event()
    ag = _agent(clone, HostClient(url, "wrong-token"), url, log=lambda m: "pass failed" in m and failed.set())
    srv = serve(ag, bind="127.0.0.1", port=0, secret=None)
    loop = threading.Thread(target=ag.run, daemon=True)
    loop.start()
    try:
        assert failed.wait(30), "the agent never said its pass failed"
        st = ag.status()
        assert st["conditions"]["Stalled"]["status"] == "True" and st["conditions"]["Stalled"]["reason"] == reason
        assert st["conditions"]["Ready"]["reason"] == reason and f"({code})" in st["conditions"]["Ready"]["message"]
        assert st["last_error"]["reason"] == reason and st["counters"]["failed_passes"] >= 1
        (row,) = fleet_status([f"http://127.0.0.1:{srv.server_address[1]}"]).agent_rows()
        assert row["state"] == "stalled" and reason in row["note"] and "token" in row["note"]
    finally:
        ag.stop.set(), ag.wake.set()
        loop.join(10)
        srv.shutdown(), host.shutdown()


class _FlakyHost:
    """Raises a bug-like error on its first listing, then serves an empty host."""

    def __init__(self):
        self.calls = 0

    def modules(self):
        self.calls += 1
        if self.calls == 1:
            raise KeyError("namespace")
        return []

    def deploy(self, namespace, name, **body):
        return {}


def test_any_failing_pass_sets_a_condition_and_the_next_good_pass_clears_it(clone):
    ag = _agent(clone, _FlakyHost())
    st = ag.run_once()
    assert (st["conditions"]["Stalled"]["status"], st["conditions"]["Stalled"]["reason"]) == ("True", "PassFailed")
    assert "KeyError" in st["conditions"]["Stalled"]["message"] and st["last_pass"] is None
    st = ag.run_once()
    assert st["conditions"]["Stalled"]["status"] == "False" and st["counters"]["passes"] == 1


@pytest.fixture
def busy_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    s.listen(1)
    yield s.getsockname()[1]
    s.close()


def test_a_busy_port_is_one_line_naming_it(clone, busy_port, tmp_path, monkeypatch):
    with pytest.raises(UserError, match=rf"--port {busy_port}: cannot listen on 127.0.0.1:{busy_port}"):
        serve(_agent(clone, _FlakyHost()), bind="127.0.0.1", port=busy_port, secret=None)
    env = {**os.environ, "WASMOPS_HOME": str(tmp_path / "ws")}
    r = subprocess.run([WASMOPS, "agent", "--selector", "env=edge", "--clone", str(clone), "--port", str(busy_port)],
                       env=env, capture_output=True, text=True, timeout=120)
    assert r.returncode != 0 and "Traceback" not in r.stderr, r.stderr
    (line,) = [x for x in r.stderr.splitlines() if x.startswith("error:")]
    assert f"--port {busy_port}: cannot listen on 127.0.0.1:{busy_port}" in line


@pytest.fixture
def fleet(clone, tmp_path, monkeypatch):
    """One agent (selector env=edge) serving /status; the workspace has no GitOps repo."""
    host = _FlakyHost()
    host.calls = 1     # past its failing listing
    ag = _agent(clone, host)
    ag.run_once()
    srv = serve(ag, bind="127.0.0.1", port=0, secret=None)
    monkeypatch.setenv("WASMOPS_HOME", str(tmp_path / "ws"))
    yield f"http://127.0.0.1:{srv.server_address[1]}"
    srv.shutdown()


def _said(r) -> str:
    """What the command said: its output, and the one-line error `wasmops` prints for a UserError."""
    return " ".join((r.output + " " + str(r.exception or "")).split())


def test_fleet_status_reads_wasmops_fleet_agents(fleet, monkeypatch):
    from wasmops.cli import app

    monkeypatch.setenv("WASMOPS_FLEET_AGENTS", fleet)
    r = CliRunner().invoke(app, ["fleet", "status", "--json"])
    assert "Missing option" not in r.output
    assert [a["agent"] for a in json.loads(r.stdout)["agents"]] == [fleet]
    monkeypatch.setenv("WASMOPS_FLEET_AGENTS", "127.0.0.1:9341")
    r = CliRunner().invoke(app, ["fleet", "status"])
    assert r.exit_code != 0 and "WASMOPS_FLEET_AGENTS: '127.0.0.1:9341' is not an agent URL" in _said(r)


@pytest.mark.parametrize("args,says", [
    (["--agents", "127.0.0.1:9341"], "--agents: '127.0.0.1:9341' is not an agent URL"),
    (["--digest", "sha256:ab64"], "--digest: 'sha256:ab64' is not a full digest"),
    (["--key", "edge/nosuch"], "KEY: no module edge/nosuch"),
    (["--min-hosts", "5"], "--min-hosts 5: only 1 host(s) reconcile edge/web"),
    (["--key", "Edge_web"], "KEY: 'Edge_web' is not NS/NAME"),
])
def test_fleet_wait_refuses_a_wait_that_cannot_end_at_once(fleet, args, says):
    from wasmops.cli import app

    opts = {"--agents": fleet, "--digest": DIGEST, "--key": "edge/web", "--timeout": "20"}
    opts.update(dict(zip(args[::2], args[1::2])))
    key = opts.pop("--key")
    t0 = time.monotonic()
    r = CliRunner().invoke(app, ["fleet", "wait", key, *[x for kv in opts.items() for x in kv]])
    assert r.exit_code != 0 and says in _said(r), _said(r)
    assert time.monotonic() - t0 < 10 and isinstance(r.exception, UserError)
