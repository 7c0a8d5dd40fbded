"""Browser checks with Debian's Chromium driven by Playwright: the Prefect UI shows a paused release
with its approval form, and the MLflow UI shows the model with its champion alias."""

from __future__ import annotations

import shutil
import subprocess
import time

import httpx
import pytest

from support.host import REPO, WASMOPS

CHROMIUM_ARGS = ["--headless=new", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                 "--disable-background-networking", "--disable-component-update", "--disable-sync"]


@pytest.fixture(scope="module")
def browser():
    exe = shutil.which("chromium")
    if not exe:
        pytest.fail("chromium missing: `make test` installs the Debian package `chromium`")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        b = p.chromium.launch(executable_path=exe, args=CHROMIUM_ARGS)
        yield b
        b.close()


def _paused_run(api: str, timeout: float = 240) -> dict:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        runs = httpx.post(f"{api}/flow_runs/filter", json={"flow_runs": {"state": {"name": {"any_": ["Paused"]}}}},
                          timeout=30).json()
        if runs:
            return runs[0]
        time.sleep(1)
    raise AssertionError("no paused release run")


def test_prefect_ui_shows_the_paused_release_and_its_approval_form(stack, browser):
    proc = subprocess.Popen([WASMOPS, "release", "examples/greet-c", "--target", "prod/greet-c",
                             "--approval-timeout", "600", "--no-ai-check"], env=stack.env, cwd=REPO,
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        run = _paused_run(stack.api)
        assert run["name"].startswith("release prod/greet-c")
        ui = stack.services["services"]["prefect"]["url"]
        page = browser.new_page(viewport={"width": 1400, "height": 1000})
        page.goto(f"{ui}/runs/flow-run/{run['id']}", wait_until="networkidle")
        page.get_by_text("Paused").first.wait_for(timeout=60_000)
        page.get_by_role("button", name="Resume").first.click()
        page.get_by_text("Approve release of").first.wait_for(timeout=60_000)
        assert page.get_by_text("reason", exact=False).count() > 0
        shots = stack.home / "screenshots"
        shots.mkdir(exist_ok=True)
        page.screenshot(path=str(shots / "prefect-approval.png"), full_page=True)
        assert (shots / "prefect-approval.png").stat().st_size > 10_000
    finally:
        stack.wasmops("reject", run["id"], "--reason", "browser test done", check=None) if "run" in dir() else None
        proc.wait(120)


def test_mlflow_ui_shows_the_champion_alias(stack, browser):
    stack.wasmops("models", "train", "--synthetic", "--allow-synthetic", "--days", "22", "--modules", "4", timeout=600)
    ui = stack.services["services"]["mlflow"]["url"]
    page = browser.new_page(viewport={"width": 1400, "height": 1000})
    page.goto(f"{ui}/#/models/wasmops-anomaly", wait_until="networkidle")
    page.get_by_text("champion").first.wait_for(timeout=60_000)
    shots = stack.home / "screenshots"
    shots.mkdir(exist_ok=True)
    page.screenshot(path=str(shots / "mlflow-champion.png"), full_page=True)
    assert (shots / "mlflow-champion.png").stat().st_size > 10_000
