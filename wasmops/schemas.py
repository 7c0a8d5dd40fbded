"""JSON Schema for every document wasmops reads from Git, for editors (yaml-language-server) and CI.

It sits above the modules whose models it exports (manifest kinds, ApprovalPolicy, ModulePolicy), so
none of them has to know the others.

    >>> sorted(json_schemas())
    ['ApprovalPolicy', 'Budget', 'ModulePolicy', 'PriceSheet', 'WasmModuleDeployment']
"""

from __future__ import annotations

from .approvals.policy import ApprovalPolicy
from wasmops.gitops.manifest import API_VERSION, KINDS
from wasmops.supply.policy import ModulePolicy


def json_schemas() -> dict[str, dict]:
    """JSON Schema per kind, for editors (yaml-language-server) and CI."""
    out = {name: model.model_json_schema(by_alias=True) for name, model in KINDS.items()}
    out["ModulePolicy"] = ModulePolicy.model_json_schema(by_alias=True)
    out["ApprovalPolicy"] = ApprovalPolicy.model_json_schema(by_alias=True)
    for name, schema in out.items():
        schema["$schema"] = "https://json-schema.org/draft/2020-12/schema"
        schema["$id"] = f"https://wasmops.dev/schemas/{API_VERSION.split('/')[1]}/{name}.json"
    return out
