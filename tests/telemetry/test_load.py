"""Load generation drives real requests through the host; /metrics counts every one of them."""

from __future__ import annotations

from support.wat import FIXTURES
from wasmops.telemetry import generate_load, parse_metrics


def _totals(host, digests):
    cur = parse_metrics(host.metrics())
    out = {}
    for name, digest in digests.items():
        st = cur.get(("tel", name, digest))
        out[name] = (st["invocations"], sum(st["errors"].values()), st["fuel"]) if st else (0.0, 0.0, 0.0)
    return out


def test_generated_load_is_counted_exactly_in_metrics(host, deploy):
    digests = {"ld-ok": deploy("ld-ok"), "ld-exit": deploy("ld-exit", wat=(FIXTURES / "hostile" / "exit7.wat").read_text())}
    before = _totals(host, digests)
    seen = []
    stats = generate_load(host, [("tel", "ld-ok", b"{}"), ("tel", "ld-ok", "{}"), ("tel", "ld-exit", b"")],
                          requests=150, concurrency=4, progress=lambda done, total: seen.append((done, total)))
    after = _totals(host, digests)
    assert stats["requests"] == 150 and stats["by_status"] == {200: 100, 502: 50}
    assert stats["ok"] == 100 and stats["failed"] == 50 and stats["errors"] == {"exit_nonzero": 50}
    assert stats["by_target"] == {"tel/ld-ok": 100, "tel/ld-exit": 50}
    assert after["ld-ok"][0] - before["ld-ok"][0] == 100
    assert after["ld-exit"][0] - before["ld-exit"][0] == 50 and after["ld-exit"][1] - before["ld-exit"][1] == 50
    fuel = sum(after[n][2] - before[n][2] for n in digests)
    assert stats["fuel"] == fuel > 0
    assert 0 < stats["latency_ms"]["p50"] <= stats["latency_ms"]["p95"] <= stats["latency_ms"]["max"]
    assert len(seen) == 150 and seen[-1] == (150, 150)


def test_unreachable_host_is_counted_not_raised():
    from wasmops.host.client import HostClient

    from support.host import free_port

    stats = generate_load(HostClient(f"http://127.0.0.1:{free_port()}", timeout=2), [("tel", "x", b"")], requests=3)
    assert stats["by_status"] == {0: 3} and stats["errors"] == {"unreachable": 3} and stats["ok"] == 0
