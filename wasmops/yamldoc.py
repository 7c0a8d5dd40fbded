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

_Base = getattr(yaml, "CSafeLoader", yaml.SafeLoader)  # libyaml: ~7x faster on 10k manifests


class _Loader(_Base):
    """Refuses a key given twice in one mapping (YAML says keys are unique; PyYAML keeps the last,
    so a second ``limits:`` silently replaced the first)."""

    def construct_mapping(self, node, deep=False):
        if isinstance(node, yaml.MappingNode):
            first: dict = {}
            for key_node, _ in node.value:
                if key_node.tag == "tag:yaml.org,2002:merge":
                    continue
                key = self.construct_object(key_node, deep=True)
                try:
                    if key in first:
                        raise yaml.constructor.ConstructorError(
                            None, None, f"duplicate key {key!r} (first on line {first[key]})", key_node.start_mark)
                    first[key] = key_node.start_mark.line + 1
                except TypeError:        # an unhashable key: the constructor below says so
                    continue
        return super().construct_mapping(node, deep)


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
