"""What a refusal to verify says when the test cases run with another env or args than the deployment:
the manifest fix that runs them when the cases agree, and each configuration with its cases when
they do not (the deployment serves one; the person picks it)."""

from __future__ import annotations

import json
from pathlib import Path

from wasmops.supply.source import ModuleSource


def shared_env(src: ModuleSource, manifest_file: Path) -> str:
    """When every case that only needs another env or args asks for the same ones, the manifest fix
    that runs them (the deployment's env and args are the module's configuration): '' otherwise."""
    from wasmops.supply.testrun import why_not_runnable

    wanted: dict[tuple[str, str], list[str]] = {}
    for c in src.tests:
        if (c.env or c.args) and why_not_runnable(c, c.env, c.args) is None:
            wanted.setdefault((json.dumps(c.env, sort_keys=True), json.dumps(c.args, ensure_ascii=False)), []).append(c.name)
    if len(wanted) > 1:
        return _choices(wanted, manifest_file)
    if not wanted:
        return ""
    env, args = next(iter(wanted))
    fields = [(f, v) for f, v in (("env", env), ("args", args)) if v not in ("{}", "[]")]
    if len(fields) == 1:
        (f, v), = fields
        return f"set spec.runtimeConfig.{f} in {manifest_file} to {v} (the {f} the cases run with) and commit it"
    return (f"set spec.runtimeConfig.env to {env} and spec.runtimeConfig.args to {args} in {manifest_file} "
            "(the env and args the cases run with) and commit it")


def _choices(wanted: dict[tuple[str, str], list[str]], manifest_file: Path) -> str:
    """The cases ask for different env/args: which ones, by how many cases, most asked first (the
    deployment serves one configuration; the person picks it)."""
    ranked = sorted(wanted.items(), key=lambda kv: -len(kv[1]))
    shown = "; ".join(" and ".join(f"{f} {v}" for f, v in (("env", env), ("args", args)) if v not in ("{}", "[]"))
                      + f" ({len(names)} case{'s' if len(names) > 1 else ''}: {', '.join(names)})"
                      for (env, args), names in ranked)
    used = [f for i, f in enumerate(("env", "args")) if any(k[i] not in ("{}", "[]") for k in wanted)]
    fields = " and ".join(f"spec.runtimeConfig.{f}" for f in used)
    return (f"the cases ask for {len(ranked)} different configurations ({shown}); set {fields} in "
            f"{manifest_file} to the one the deployment serves and commit it")
