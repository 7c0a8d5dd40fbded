"""Tiny, hand-made telemetry, prices, budgets and manifests for the FinOps tests (no host, no Prefect)."""

from __future__ import annotations

from datetime import date
from decimal import Decimal

import pandas as pd

from wasmops.gitops.desired import DesiredState
from wasmops.gitops.manifest import Budget, PriceSheet, WasmModuleDeployment

MIB = 1 << 20


def sample(
    ts: str,
    *,
    window_s: int = 3600,
    namespace: str = "dev",
    module: str = "greet",
    digest: str = "sha256:" + "a" * 64,
    team: str = "core",
    project: str = "hello",
    cost_center: str = "cc-1",
    invocations: int = 0,
    fuel: int = 0,
    peak_memory: int = 0,
    memory_limit: int = 16 * MIB,
    replicas: int = 1,
    memory_p99: float = 0.0,
    fuel_p99_per_call: float = 0.0,
) -> dict:
    return dict(
        ts=ts,
        window_s=window_s,
        namespace=namespace,
        module=module,
        digest=digest,
        team=team,
        project=project,
        cost_center=cost_center,
        invocations=invocations,
        errors=0,
        fuel=fuel,
        peak_memory=peak_memory,
        memory_limit=memory_limit,
        replicas=replicas,
        latency_p50_ms=1.0,
        latency_p95_ms=2.0,
        fuel_p99_per_call=fuel_p99_per_call,
        memory_p99=memory_p99,
    )


def frame(rows: list[dict]) -> pd.DataFrame:
    df = pd.DataFrame(rows)
    df["ts"] = pd.to_datetime(df["ts"], utc=True).dt.as_unit("ns")
    return df


def price_sheet(extra: list[dict] | None = None, currency: str = "USD") -> PriceSheet:
    prices = [
        {"unit": "fuel-million", "amount": "0.0004", "currency": currency, "effectiveDate": "2026-01-01"},
        {"unit": "memory-gib-hour", "amount": "0.0050", "currency": currency, "effectiveDate": "2026-01-01"},
        {"unit": "invocations-million", "amount": "0.20", "currency": currency, "effectiveDate": "2026-01-01"},
        {"unit": "storage-gb-month", "amount": "0.10", "currency": currency, "effectiveDate": "2026-01-01"},
    ] + (extra or [])
    return PriceSheet.model_validate(
        {
            "apiVersion": "wasmops.dev/v1alpha1",
            "kind": "PriceSheet",
            "metadata": {"name": "test"},
            "spec": {"prices": prices},
        }
    )


def budget(scope: str, name: str, amount: str, level: str, thresholds=(80, 100)) -> Budget:
    return Budget.model_validate(
        {
            "kind": "Budget",
            "metadata": {"name": f"{scope}-{name}"},
            "spec": {
                "scope": scope,
                "name": name,
                "monthlyAmount": amount,
                "enforcementLevel": level,
                "alertThresholds": list(thresholds),
            },
        }
    )


def deployment(
    name: str,
    *,
    team: str = "core",
    project: str = "hello",
    replicas: int = 1,
    memory: str = "16Mi",
    cpu: str = "100m",
    namespace: str = "dev",
) -> WasmModuleDeployment:
    return WasmModuleDeployment.model_validate(
        {
            "metadata": {"name": name, "namespace": namespace, "labels": {"team": team, "project": project}},
            "spec": {
                "replicas": replicas,
                "moduleRef": {"repository": name, "tag": "v1"},
                "runtimeConfig": {"resources": {"cpu": cpu, "memory": memory}},
            },
        }
    )


def desired(budgets=(), deployments=()) -> DesiredState:
    return DesiredState(
        revision=None, deployments={d.key: d for d in deployments}, budgets=list(budgets), pricing=price_sheet()
    )


__all__ = ["MIB", "sample", "frame", "price_sheet", "budget", "deployment", "desired", "date", "Decimal"]


def price_sheet_yaml(currency: str, memory: str = "0.0050", name: str = "sheet") -> str:
    """A pricing.yaml text: fuel 0.0004/M, memory ``memory``/GiB-h, invocations 0.20/M, storage 0.10/GB-month."""
    rows = (("fuel-million", "0.0004"), ("memory-gib-hour", memory), ("invocations-million", "0.20"),
            ("storage-gb-month", "0.10"))
    return (f"apiVersion: wasmops.dev/v1alpha1\nkind: PriceSheet\nmetadata: {{name: {name}}}\nspec:\n  prices:\n"
            + "".join(f'    - {{unit: {u}, amount: "{a}", currency: {currency}, effectiveDate: 2020-01-01}}\n'
                      for u, a in rows))
