"""Scrape the hosts' /metrics into the telemetry store (every minute, from prefect.yaml)."""

from typing import Annotated

from prefect import flow
from pydantic import Field

from tasks.telemetry import scrape


@flow(name="collect-telemetry", log_prints=True, flow_run_name="collect-telemetry {scrapes}x{interval_s}s")
def collect_telemetry(scrapes: Annotated[int, Field(ge=1)] = 1, interval_s: Annotated[float, Field(ge=0)] = 15.0) -> int:
    rows = scrape(scrapes, interval_s)
    print(f"collected {rows} samples")
    return rows
