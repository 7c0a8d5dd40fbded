"""Scrape the hosts' /metrics into the telemetry store (every minute, from prefect.yaml)."""

from prefect import flow

from tasks.telemetry import scrape


@flow(name="collect-telemetry", log_prints=True, flow_run_name="collect-telemetry {scrapes}x{interval_s}s")
def collect_telemetry(scrapes: int = 1, interval_s: float = 15.0) -> int:
    rows = scrape(scrapes, interval_s)
    print(f"collected {rows} samples")
    return rows
