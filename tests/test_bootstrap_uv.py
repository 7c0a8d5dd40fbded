"""``make install`` finds or bootstraps uv with nothing but python3 (tools/bootstrap_uv.py).

Found as a non-root user on this machine's Debian python3 (3.11.2): ``python3 -m pip install uv``
is refused there (PEP 668, externally-managed-environment), so ``make install`` failed at once.
These tests run the script with a uv wheel built here (a shell script that prints a version), served
from a local index or a local HTTP server: no network."""

from __future__ import annotations

import hashlib
import http.server
import json
import subprocess
import sys
import threading
import zipfile
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
SCRIPT = REPO / "tools" / "bootstrap_uv.py"
VERSION = "99.1.2"


def _wheel(d: Path, tag: str) -> Path:
    name = f"uv-{VERSION}-py3-none-{tag}.whl"
    dist, data = f"uv-{VERSION}.dist-info", f"uv-{VERSION}.data"
    files = {f"{data}/scripts/uv": f"#!/bin/sh\necho uv {VERSION}\n",
             f"{dist}/METADATA": f"Metadata-Version: 2.1\nName: uv\nVersion: {VERSION}\n",
             f"{dist}/WHEEL": "Wheel-Version: 1.0\nGenerator: test\nRoot-Is-Purelib: false\nTag: py3-none-any\n"}
    files[f"{dist}/RECORD"] = "".join(f"{k},,\n" for k in files) + f"{dist}/RECORD,,\n"
    path = d / name
    with zipfile.ZipFile(path, "w") as z:
        for k, v in files.items():
            info = zipfile.ZipInfo(k)
            info.external_attr = (0o755 if k.endswith("/uv") else 0o644) << 16    # as uv's own wheels
            z.writestr(info, v)
    return path


def _run(python: str, dest: Path, env: dict) -> subprocess.CompletedProcess:
    return subprocess.run([python, str(SCRIPT), str(dest)], capture_output=True, text=True, timeout=300,
                          env={"PATH": "/usr/bin:/bin", **env})


def test_pip_installs_it_under_the_target_directory(tmp_path):
    venv = tmp_path / "venv"                      # a Python with pip (the project's uv venv has none)
    subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True)
    wheels = tmp_path / "wheels"
    wheels.mkdir()
    _wheel(wheels, "any")
    r = _run(str(venv / "bin" / "python"), tmp_path / "tools", {"PIP_NO_INDEX": "1", "PIP_FIND_LINKS": str(wheels)})
    assert r.returncode == 0, r.stderr
    out = subprocess.run([str(tmp_path / "tools" / "bin" / "uv"), "--version"], capture_output=True, text=True)
    assert out.stdout.strip() == f"uv {VERSION}"


@pytest.fixture
def pypi(tmp_path):
    """A local stand-in for PyPI's JSON API serving one uv wheel per platform tag; ``state['sha']``
    lets a test list a wrong SHA-256."""
    root = tmp_path / "pypi"
    root.mkdir()
    tags = ["manylinux_2_17_x86_64.manylinux2014_x86_64", "manylinux_2_17_aarch64.manylinux2014_aarch64",
            "macosx_11_0_arm64"]
    wheels = [_wheel(root, t) for t in tags]
    state: dict = {"sha": None}

    class Handler(http.server.SimpleHTTPRequestHandler):
        def __init__(self, *a, **kw):
            super().__init__(*a, directory=str(root), **kw)

        def log_message(self, *a):
            pass

        def do_GET(self):
            if self.path != "/pypi/uv/json":
                return super().do_GET()
            base = f"http://127.0.0.1:{self.server.server_address[1]}"
            urls = [{"filename": w.name, "url": f"../../{w.name}" if w.name.endswith("64.whl") else f"{base}/{w.name}", "size": w.stat().st_size,
                     "digests": {"sha256": state["sha"] or hashlib.sha256(w.read_bytes()).hexdigest()}}
                    for w in wheels]
            body = json.dumps({"info": {"version": VERSION}, "urls": urls}).encode()
            self.send_response(200)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

    srv = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=srv.serve_forever, daemon=True).start()
    state["url"] = f"http://127.0.0.1:{srv.server_address[1]}/pypi/uv/json"
    yield state
    srv.shutdown()


@pytest.fixture(scope="module")
def python_without_pip(tmp_path_factory):
    venv = tmp_path_factory.mktemp("nopip") / "venv"
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(venv)], check=True)
    return str(venv / "bin" / "python")


def test_a_python_without_pip_gets_the_platform_wheel_checked_against_its_digest(pypi, python_without_pip, tmp_path):
    r = _run(python_without_pip, tmp_path / "tools", {"UV_BOOTSTRAP_INDEX": pypi["url"]})
    assert r.returncode == 0, r.stderr
    assert "manylinux" in r.stderr and f"uv {VERSION}" in r.stderr
    out = subprocess.run([str(tmp_path / "tools" / "bin" / "uv"), "--version"], capture_output=True, text=True)
    assert out.stdout.strip() == f"uv {VERSION}"

    pypi["sha"] = "0" * 64                                  # a download that is not what PyPI lists
    r = _run(python_without_pip, tmp_path / "other", {"UV_BOOTSTRAP_INDEX": pypi["url"]})
    assert r.returncode != 0 and "is not the " + "0" * 64 in r.stderr
    assert not (tmp_path / "other" / "bin" / "uv").exists()
