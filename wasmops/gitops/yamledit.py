"""Edit a YAML file in Git the way a person would: change the values, keep everything else.

A release commit used to re-dump the whole manifest with PyYAML, which dropped every comment an
operator wrote (``# keep at 1: see INC-4711``) and reflowed the file. These helpers load with
ruamel.yaml's round-trip mode, so comments, key order and quoting survive the edit.

    >>> import tempfile, pathlib
    >>> p = pathlib.Path(tempfile.mkdtemp()) / "m.yaml"
    >>> _ = p.write_text("# owner: search team\\nspec:\\n  replicas: 1  # keep at 1: INC-4711\\n  tag: a\\n")
    >>> doc = load(p)
    >>> doc["spec"]["tag"] = "b"
    >>> dump(p, doc)
    >>> print(p.read_text(), end="")
    # owner: search team
    spec:
      replicas: 1  # keep at 1: INC-4711
      tag: b
"""

from __future__ import annotations

import io
from pathlib import Path


def _yaml():
    from ruamel.yaml import YAML

    y = YAML(typ="rt")
    y.preserve_quotes = True
    y.width = 4096               # never re-wrap a long value
    return y


def load(path: Path):
    """The document as a dict-like that remembers its comments."""
    return _yaml().load(path.read_text())


def dumps(data) -> str:
    buf = io.StringIO()
    _yaml().dump(data, buf)
    return buf.getvalue()


def dump(path: Path, data) -> None:
    path.write_text(dumps(data))
