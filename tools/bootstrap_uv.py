"""Put a ``uv`` binary at ``DEST/bin/uv`` with nothing but python3 (``make install`` runs this when no
uv is found).

``python3 -m pip install uv`` fails on Debian 12+, Ubuntu 23.04+ and Fedora's system Python (PEP 668:
"externally-managed-environment"), for root and for every user, and a minimal python3 has no pip at
all. So: ``pip install --target DEST`` when this Python has pip (``--target`` is outside the
externally managed environment, so PEP 668 does not apply), else the uv wheel for this platform from
PyPI, checked against the SHA-256 PyPI lists for it, unpacked by hand (a wheel is a zip file).

    python3 tools/bootstrap_uv.py .tools     # then .tools/bin/uv --version
"""

from __future__ import annotations

import hashlib
import io
import json
import os
import platform
import subprocess
import sys
import urllib.parse
import urllib.request
import zipfile
from pathlib import Path

PYPI = os.environ.get("UV_BOOTSTRAP_INDEX", "https://pypi.org/pypi/uv/json")


def via_pip(dest: Path) -> bool:
    """uv installed with this Python's pip into ``dest`` (False when there is no pip or it failed)."""
    if subprocess.run([sys.executable, "-m", "pip", "--version"], capture_output=True).returncode != 0:
        return False
    r = subprocess.run([sys.executable, "-m", "pip", "install", "--quiet", "--disable-pip-version-check",
                        "--no-warn-script-location", "--upgrade", "--target", str(dest), "uv"])
    uv = dest / "bin" / "uv"
    if r.returncode != 0 or not uv.exists():
        return False
    uv.chmod(0o755)
    return True


def _wanted(filename: str) -> bool:
    machine = platform.machine().lower()
    arch = {"amd64": "x86_64", "arm64": "aarch64" if sys.platform.startswith("linux") else "arm64"}.get(machine, machine)
    if sys.platform.startswith("linux"):
        return "manylinux" in filename and filename.endswith(f"{arch}.whl")
    if sys.platform == "darwin":
        return "macosx" in filename and arch in filename
    return False


def via_wheel(dest: Path) -> None:
    """The platform's uv wheel from PyPI, its SHA-256 checked, its binary unpacked to ``dest/bin``."""
    with urllib.request.urlopen(PYPI, timeout=60) as r:
        release = json.load(r)
    files = [f for f in release["urls"] if f["filename"].endswith(".whl") and _wanted(f["filename"])]
    if not files:
        sys.exit(f"bootstrap_uv: no uv {release['info']['version']} wheel for {sys.platform}/{platform.machine()} "
                 "on PyPI: install uv yourself (https://docs.astral.sh/uv/) and run make again")
    f = files[0]
    print(f"bootstrap_uv: downloading {f['filename']} ({f['size'] / 2**20:.0f} MiB) from PyPI", file=sys.stderr)
    url = urllib.parse.urljoin(PYPI, f["url"])        # a mirror's JSON may list relative URLs
    with urllib.request.urlopen(url, timeout=300) as r:
        data = r.read()
    got = hashlib.sha256(data).hexdigest()
    if got != f["digests"]["sha256"]:
        sys.exit(f"bootstrap_uv: {f['filename']}: SHA-256 {got} is not the {f['digests']['sha256']} PyPI lists")
    with zipfile.ZipFile(io.BytesIO(data)) as wheel:
        for name in wheel.namelist():
            if ".data/scripts/" in name:
                out = dest / "bin" / name.rsplit("/", 1)[-1]
                out.parent.mkdir(parents=True, exist_ok=True)
                out.write_bytes(wheel.read(name))
                out.chmod(0o755)


def main(argv: list[str]) -> int:
    dest = Path(argv[1] if len(argv) > 1 else ".tools").resolve()
    if not via_pip(dest):
        via_wheel(dest)
    uv = dest / "bin" / "uv"
    if not uv.exists():
        sys.exit(f"bootstrap_uv: no uv at {uv} after the download: install uv yourself (https://docs.astral.sh/uv/)")
    print(subprocess.run([str(uv), "--version"], capture_output=True, text=True).stdout.strip(), "at", uv,
          file=sys.stderr)
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv))
