"""Ctrl-C of `wasmops release` must say what became of the release (found from outside, 2026-12-07:
the output ended at "✗ canary-step" and the exit code was 130, no word; typer turns the
KeyboardInterrupt into a silent Exit(130), so the CLI's own line was never printed)."""

from __future__ import annotations

import sys

import pytest

from support.host import make_workspace


@pytest.mark.parametrize("argv", [["release"], ["-v", "release"]])
def test_an_interrupted_release_says_where_it_stands(argv, tmp_path, monkeypatch, capsys):
    import wasmops.onboard as onboard
    from wasmops.cli import main

    ws = make_workspace(tmp_path / "ws")
    monkeypatch.setenv("WASMOPS_HOME", str(ws.home))

    def pressed(*a, **kw):                           # Ctrl-C while the release checks its inputs
        raise KeyboardInterrupt

    monkeypatch.setattr(onboard, "preflight", pressed)
    (tmp_path / "mymod").mkdir()
    monkeypatch.setattr(sys, "argv", ["wasmops", *argv, str(tmp_path / "mymod"), "--target", "dev/mymod"])
    with pytest.raises(SystemExit) as exc:
        main()
    assert exc.value.code == 130
    err = capsys.readouterr().err
    assert "interrupted:" in err and "wasmops status" in err, err
