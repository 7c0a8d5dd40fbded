"""Serve every deployment in prefect.yaml from one process (what ``wasmops up`` starts).

prefect.yaml is the one definition: this reads its schedules, triggers and parameters and serves
the same deployments with ``prefect.serve`` (no worker needed on one machine). Set
``WASMOPS_SCHEDULE_SCALE`` (e.g. 0.1) to shorten interval schedules in tests.
"""

from __future__ import annotations

import importlib
import os
from pathlib import Path

import yaml

from wasmops.config import current

ROOT = Path(__file__).resolve().parent.parent


def _load_flow(entrypoint: str):
    path, name = entrypoint.split(":")
    module = path.removesuffix(".py").replace("/", ".")
    mod = importlib.import_module(module)
    return getattr(mod, name)


def deployments(prefect_yaml: Path = ROOT / "prefect.yaml"):
    from prefect.client.schemas.schedules import CronSchedule, IntervalSchedule
    from prefect.events import DeploymentEventTrigger

    spec = yaml.safe_load(prefect_yaml.read_text())
    scale = current().schedule_scale
    out = []
    for d in spec["deployments"]:
        fl = _load_flow(d["entrypoint"])
        schedules = []
        for sch in d.get("schedules") or []:
            if "interval" in sch:
                from datetime import timedelta

                schedules.append(IntervalSchedule(interval=timedelta(seconds=max(5.0, sch["interval"] * scale))))
            elif "cron" in sch:
                schedules.append(CronSchedule(cron=sch["cron"], timezone=sch.get("timezone", "UTC")))
        triggers = [DeploymentEventTrigger(expect=set(t["expect"]), match=t.get("match", {}),
                                           parameters=t.get("parameters"), enabled=t.get("enabled", True))
                    for t in d.get("triggers") or [] if t.get("type") == "event"]
        out.append(fl.to_deployment(name=d["name"], schedules=schedules or None, triggers=triggers or None,
                                    parameters=d.get("parameters") or {}, tags=d.get("tags") or [],
                                    description=d.get("description")))
    return out


def main() -> None:
    from prefect import serve

    os.chdir(ROOT)
    serve(*deployments(), limit=4)


if __name__ == "__main__":
    main()
