"""A Ctrl-C while the CLI is still being imported: exit 130 and one line, no traceback."""

from __future__ import annotations

import subprocess
import sys

# A finder that interrupts the import of typer (what the CLI imports first), as a Ctrl-C landing there would.
PROGRAM = """
import sys
class Interrupt:
    def find_spec(self, name, path=None, target=None):
        if name == "typer":
            raise KeyboardInterrupt
        return None
sys.meta_path.insert(0, Interrupt())
sys.argv = ["wasmops", "--help"]
from wasmops.cli_entry import main
main()
"""


def test_interrupt_during_import_is_one_line():
    p = subprocess.run([sys.executable, "-c", PROGRAM], capture_output=True, text=True, timeout=60)
    assert p.returncode == 130, p.stderr
    assert "Traceback" not in p.stderr
    assert p.stderr.strip() == "interrupted"


def test_console_script_runs_the_cli():
    p = subprocess.run([sys.executable, "-c", "import sys; sys.argv=['wasmops', '--help'];"
                        "from wasmops.cli_entry import main; main()"], capture_output=True, text=True, timeout=60)
    assert p.returncode == 0, p.stderr
    assert "Release WebAssembly modules" in p.stdout
