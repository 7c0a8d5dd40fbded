"""Scrape the hosts' /metrics into the telemetry store (every minute, from prefect.yaml)."""

from prefect import flow

from tasks.telemetry import scrape


@flow(name="collect-telemetry", log_prints=True)
def collect_telemetry(scrapes: int = 1, interval_s: float = 15.0) -> int:
    rows = scrape(scrapes, interval_s)
    print(f"collected {rows} samples")
    return rows
