"""One YAML document of a known kind, from text: a SpecError names the file and every bad field.

The lowest layer of reading manifests: :mod:`wasmops.gitops.desired` (every file of the GitOps repo) and
:mod:`wasmops.approvals.policy` (the ApprovalPolicy files) both parse with it, so neither has to
import the other::

    >>> from pydantic import BaseModel
    >>> class Doc(BaseModel):
    ...     replicas: int
    >>> parse("replicas: 2", "modules/dev/a.yaml", Doc)
    Doc(replicas=2)
    >>> parse("replicas: two", "modules/dev/a.yaml", Doc)
    Traceback (most recent call last):
    ...
    wasmops.errors.SpecError: modules/dev/a.yaml: replicas: Input should be a valid integer, unable to parse string as an integer
    >>> parse("replicas: [2", "modules/dev/a.yaml", Doc)  # doctest: +ELLIPSIS
    Traceback (most recent call last):
    ...
    wasmops.errors.SpecError: modules/dev/a.yaml: line ..., column ...: not valid YAML: ...
"""

from __future__ import annotations

import yaml
from pydantic import BaseModel, ValidationError

from .errors import SpecError, spec_error_from_pydantic

_Loader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)  # libyaml: ~7x faster on 10k manifests


def load_yaml(text: str, rel: str):
    """The YAML in ``text`` (file ``rel``); a SpecError with line and column when it is not YAML."""
    try:
        return yaml.load(text, Loader=_Loader)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        at = f"line {mark.line + 1}, column {mark.column + 1}: " if mark else ""
        raise SpecError(f"{at}not valid YAML: {getattr(exc, 'problem', None) or exc}", where=rel) from exc


def parse(text: str, rel: str, kind: type[BaseModel]):
    """One document of ``kind``; a SpecError names the file and every bad field."""
    data = load_yaml(text, rel)
    if not isinstance(data, dict):
        raise SpecError("(document): expected a mapping at the top level", where=rel)
    try:
        return kind.model_validate(data)
    except ValidationError as exc:
        raise spec_error_from_pydantic(exc, rel) from exc
