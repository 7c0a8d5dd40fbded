"""Is a rendered Kubernetes document one a cluster accepts? (``wasmops.gitops.render``'s check.)

Validation: Kubernetes kinds by a walk of the ``kubernetes`` client models' ``openapi_types``
(unknown, missing, mistyped fields), the typed model (``V1Deployment`` …) and a
``sanitize_for_serialization`` round trip that must give the document back; SpinApp by our own
pydantic model (no Python model of the CRD exists; it follows spin-operator's ``spinapp_types.go``
for the fields we set); then API-server rules (names, labels, ``replicas >= 0``, quantities,
pinned images). Errors name the WasmModuleDeployment file and the field.
"""

from __future__ import annotations

import functools
import re
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from wasmops.errors import SpecError

SPINAPP_API = "core.spinkube.dev/v1alpha1"
ANN = "wasmops.dev/"
SOURCE_ANN = ANN + "source"
K8S_MODELS = {("v1", "Namespace"): "V1Namespace", ("apps/v1", "Deployment"): "V1Deployment",
              ("node.k8s.io/v1", "RuntimeClass"): "V1RuntimeClass", ("v1", "Service"): "V1Service"}
_DNS_LABEL = re.compile(r"[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?")
_DNS_SUBDOMAIN = re.compile(r"(?=.{1,253}$)[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*")
_LABEL_NAME = re.compile(r"(?=.{1,63}$)[A-Za-z0-9]([-A-Za-z0-9_.]*[A-Za-z0-9])?")
_COMPONENT = r"[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*"
_IMAGE = re.compile(rf"(?:[A-Za-z0-9.-]+(?::[0-9]+)?/)?{_COMPONENT}(?:/{_COMPONENT})*@sha256:[0-9a-f]{{64}}")
_SPIN_VAR = r"^[a-z][a-z0-9_]*$"
# rendered field → the WasmModuleDeployment field it comes from (for error messages)
_FROM = (("replicas", "spec.replicas"), ("image", "spec.moduleRef"), ("resources", "spec.runtimeConfig.resources"),
         (".env", "spec.runtimeConfig.env"), ("variables", "spec.runtimeConfig.env"), ("abels", "metadata.labels"))


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True, populate_by_name=True)


class SpinVar(_Strict):
    name: str = Field(pattern=_SPIN_VAR)
    value: str


class SpinResources(_Strict):
    limits: dict[str, str] = Field(default_factory=dict)
    requests: dict[str, str] = Field(default_factory=dict)


class SpinAppSpec(_Strict):
    """The SpinApp fields wasmops sets (spin-operator SpinAppSpec; json names as aliases)."""
    image: str = Field(min_length=1)
    executor: str = Field(min_length=1)
    replicas: int = Field(1, ge=0, le=2**31 - 1)
    resources: SpinResources = Field(default_factory=SpinResources)
    variables: list[SpinVar] = Field(default_factory=list)
    pod_labels: dict[str, str] = Field(default_factory=dict, alias="podLabels")
    pod_annotations: dict[str, str] = Field(default_factory=dict, alias="podAnnotations")
    deployment_annotations: dict[str, str] = Field(default_factory=dict, alias="deploymentAnnotations")


class SpinApp(_Strict):
    api_version: Literal["core.spinkube.dev/v1alpha1"] = Field(alias="apiVersion")
    kind: Literal["SpinApp"]
    metadata: dict   # checked with the kubernetes client's V1ObjectMeta
    spec: SpinAppSpec


@functools.lru_cache(maxsize=1)
def _api():
    from kubernetes.client import ApiClient  # ~0.8 s to import: only when rendering
    return ApiClient()


def _join(path: str, key) -> str:
    return f"{path}[{key}]" if isinstance(key, int) else f"{path}.{key}" if path else str(key)


_PRIMITIVE = {"str": str, "int": int, "bool": bool, "float": (int, float), "bytes": str, "datetime": str, "object": object}


def schema_errors(data, klass: str, path: str = "") -> list[str]:
    """Unknown, missing and mistyped fields, by the client model's ``openapi_types``/``attribute_map``."""
    from kubernetes.client import models
    if klass.startswith(("List[", "Dict[")):
        want, sub = (list, klass[5:-1]) if klass[0] == "L" else (dict, klass[5:-1].split(", ", 1)[1])
        if not isinstance(data, want):
            return [f"{path}: expected a {want.__name__}, got {type(data).__name__}"]
        items = enumerate(data) if want is list else data.items()
        return [e for k, v in items for e in schema_errors(v, sub, _join(path, k))]
    if klass in _PRIMITIVE:
        ok = isinstance(data, _PRIMITIVE[klass]) and not (isinstance(data, bool) and klass in ("int", "float"))
        return [] if ok else [f"{path}: expected {klass}, got {type(data).__name__} {data!r}"]
    cls = getattr(models, klass)
    if not isinstance(data, dict):
        return [f"{path}: expected a {klass} mapping, got {type(data).__name__}"]
    attr_of = {j: a for a, j in cls.attribute_map.items()}
    errs = [f"{_join(path, k)}: unknown field for {klass}" for k in data if k not in attr_of]
    errs += [f"{_join(path, cls.attribute_map[a])}: required by {klass}" for a, f in cls.model_fields.items()
             if a in cls.attribute_map and f.is_required() and data.get(cls.attribute_map[a]) is None]
    for k, v in data.items():
        if k in attr_of and v is not None:
            errs += schema_errors(v, cls.openapi_types[attr_of[k]], _join(path, k))
    return errs


def _diff(a, b, path: str = "") -> list[str]:
    if isinstance(a, dict) and isinstance(b, dict):
        return [e for k in {**a, **b} for e in _diff(a.get(k), b.get(k), _join(path, k))]
    if isinstance(a, list) and isinstance(b, list) and len(a) == len(b):
        return [e for i, (x, y) in enumerate(zip(a, b)) for e in _diff(x, y, _join(path, i))]
    return [] if a == b and type(a) is type(b) else [f"{path}: {a!r} became {b!r} in the typed round trip"]


def typed(doc: dict):
    """The document as the kubernetes client's typed model (V1Deployment, …) or our SpinApp model."""
    if (doc.get("apiVersion"), doc.get("kind")) == (SPINAPP_API, "SpinApp"):
        return SpinApp.model_validate(doc)
    return _api()._ApiClient__deserialize(doc, K8S_MODELS[(doc.get("apiVersion"), doc.get("kind"))])


def _shape_errors(doc: dict) -> list[str]:
    gvk = (doc.get("apiVersion"), doc.get("kind"))
    if gvk == (SPINAPP_API, "SpinApp"):
        try:
            back = SpinApp.model_validate(doc).model_dump(by_alias=True, exclude_unset=True)
        except ValidationError as exc:
            return [f"{'.'.join(map(str, e['loc']))}: {e['msg']}" for e in exc.errors()]
        return (schema_errors(doc["metadata"], "V1ObjectMeta", "metadata") or _diff(doc, back))
    if gvk not in K8S_MODELS:
        return [f"apiVersion/kind: {gvk[0]}/{gvk[1]} is not a kind wasmops renders"]
    if errs := schema_errors(doc, K8S_MODELS[gvk]):
        return errs
    try:
        obj = typed(doc)
    except (ValidationError, ValueError, TypeError) as exc:
        return [f"{K8S_MODELS[gvk]}: {exc}"]
    return _diff(doc, _api().sanitize_for_serialization(obj))


def _key_errs(d: dict | None, path: str, values: bool) -> list[str]:
    errs = []
    for k, v in (d or {}).items():
        prefix, _, name = k.rpartition("/")
        if (prefix and not _DNS_SUBDOMAIN.fullmatch(prefix)) or not _LABEL_NAME.fullmatch(name):
            errs.append(f"{path}.{k}: not a valid key (optional DNS prefix/, then ≤ 63 of [A-Za-z0-9-_.])")
        if values and v and not _LABEL_NAME.fullmatch(v):
            errs.append(f"{path}.{k}: label value {v!r} must be ≤ 63 of [A-Za-z0-9-_.], alphanumeric at the ends")
    return errs


def _quantity_errs(res: dict | None, path: str) -> list[str]:
    from kubernetes.utils.quantity import parse_quantity
    def bad(v) -> str | None:
        try:
            return None if parse_quantity(v) > 0 else "must be greater than zero"
        except (ValueError, TypeError):
            return "is not a Kubernetes quantity"

    return [f"{path}.{k}: {v!r} {why}" for k, v in (res or {}).items() if (why := bad(v))]


def _workload_errs(spec: dict, image: str | None, limits: dict | None, p: str) -> list[str]:
    errs = []
    if not isinstance(spec.get("replicas"), int) or spec["replicas"] < 0:
        errs.append(f"spec.replicas: {spec.get('replicas')!r} must be an integer >= 0")
    if not _IMAGE.fullmatch(image or ""):
        errs.append(f"{p}.image: {image!r} is not an image reference pinned by digest (host/repo@sha256:…)")
    return errs + _quantity_errs(limits, f"{p}.resources.limits")


def _rule_errors(doc: dict) -> list[str]:
    """What the API server (or the operator) would refuse that the schema lets through."""
    kind, md, spec = doc["kind"], doc.get("metadata") or {}, doc.get("spec") or {}
    namespaced = kind not in ("Namespace", "RuntimeClass")
    pattern = _DNS_SUBDOMAIN if kind == "RuntimeClass" else _DNS_LABEL
    errs = [] if pattern.fullmatch(md.get("name") or "") else [f"metadata.name: {md.get('name')!r} is not a DNS name"]
    if namespaced and not _DNS_LABEL.fullmatch(md.get("namespace") or ""):
        errs.append(f"metadata.namespace: {md.get('namespace')!r} is not a DNS label")
    errs += _key_errs(md.get("labels"), "metadata.labels", True) + _key_errs(md.get("annotations"), "metadata.annotations", False)
    if kind == "RuntimeClass" and not _DNS_LABEL.fullmatch(doc.get("handler") or ""):
        errs.append(f"handler: {doc.get('handler')!r} is not a DNS label")
    if kind == "Deployment":
        tmpl = spec["template"]
        labels = (tmpl.get("metadata") or {}).get("labels") or {}
        sel = spec["selector"].get("matchLabels") or {}
        if not sel or any(labels.get(k) != v for k, v in sel.items()):
            errs.append("spec.selector.matchLabels: must be non-empty and match spec.template.metadata.labels")
        errs += _key_errs(labels, "spec.template.metadata.labels", True)
        if not tmpl["spec"].get("runtimeClassName"):
            errs.append("spec.template.spec.runtimeClassName: required to run Wasm (runwasi)")
        for i, c in enumerate(tmpl["spec"]["containers"]):
            p = f"spec.template.spec.containers[{i}]"
            errs += _workload_errs(spec, c.get("image"), (c.get("resources") or {}).get("limits"), p)
            names = [e["name"] for e in c.get("env") or []]
            errs += [f"{p}.env[{j}].name: {n!r} is empty, contains '=' or is repeated" for j, n in enumerate(names)
                     if not n or "=" in n or names.index(n) != j]
    if kind == "SpinApp":
        errs += _workload_errs(spec, spec.get("image"), (spec.get("resources") or {}).get("limits"), "spec")
        errs += _quantity_errs((spec.get("resources") or {}).get("requests"), "spec.resources.requests")
        errs += _key_errs(spec.get("podLabels"), "spec.podLabels", True)
        names = [v["name"] for v in spec.get("variables") or []]
        errs += [f"spec.variables[{j}].name: {n!r} is repeated" for j, n in enumerate(names) if names.index(n) != j]
    return errs


def problems(doc: dict) -> list[str]:
    """Every problem with one rendered document, as ``field: message``; empty when it is valid."""
    return _shape_errors(doc) or _rule_errors(doc)


def validate(docs: list[dict]) -> None:
    """Raise SpecError naming the WasmModuleDeployment file and the field of the first invalid document."""
    for doc in docs:
        if not (errs := problems(doc)):
            continue
        md = doc.get("metadata") if isinstance(doc.get("metadata"), dict) else {}
        if source := (md.get("annotations") or {}).get(SOURCE_ANN):
            errs = [e + next((f" (from {src})" for k, src in _FROM if k in e.split(":", 1)[0]), "") for e in errs]
        ns = f"{md['namespace']}/" if md.get("namespace") else ""
        raise SpecError(f"{doc.get('kind')} {ns}{md.get('name')}: " + "; ".join(errs),
                        where=source or f"rendered {doc.get('kind')}",
                        hint="fix the WasmModuleDeployment in Git" if source else None)
