"""Browser checks with Debian's Chromium driven by Playwright: the Prefect UI shows a paused release
with its approval form, a dev release's INFO logs and its release-judge chart (a PNG artifact); the
MLflow UI shows the model with its champion alias, its description and a version's data source."""

from __future__ import annotations

import shutil
import subprocess
import time

import httpx
import pytest

from support import prefect_api
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


@pytest.fixture
def page(browser):
    """A page for one test, closed after it. A page left open kept drawing while the later tests ran:
    Chromium's GPU process (software GL, at a raised priority) spent half a core on the paused run's
    page from the first test to the end of the module, ~100 s of CPU beside the rest of the suite."""
    pg = _new_page(browser)
    yield pg
    pg.close()


def _paused_run(api: str, timeout: float = 240) -> dict:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        runs = prefect_api.post(f"{api}/flow_runs/filter", json={"flow_runs": {"state": {"name": {"any_": ["Paused"]}}}},
                          timeout=30).json()
        if runs:
            return runs[0]
        time.sleep(1)
    raise AssertionError("no paused release run")


def test_prefect_ui_shows_the_paused_release_and_its_approval_form(stack, page):
    proc = subprocess.Popen([WASMOPS, "release", "examples/greet-c", "--target", "prod/greet-c",
                             "--approval-timeout", "600", "--no-ai-check"], env=stack.env, cwd=REPO,
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        run = _paused_run(stack.api)
        assert run["name"].startswith("release prod/greet-c")
        ui = _prefect_ui(stack)
        page.goto(f"{ui}/runs/flow-run/{run['id']}", wait_until="domcontentloaded")
        page.get_by_text("Paused").first.wait_for()
        page.get_by_role("button", name="Resume").first.click()
        page.get_by_text("Approve release of").first.wait_for()
        assert page.get_by_text("reason", exact=False).count() > 0
        _shot(stack, page, "prefect-approval.png")
        page.close()        # before the reject below: the open run page kept Chromium drawing all along
    finally:
        stack.wasmops("reject", run["id"], "--reason", "browser test done", check=None) if "run" in dir() else None
        proc.wait(120)


def _new_page(browser):
    """A page whose waits are bounded by events, not by a guess at the machine's speed: under CI load the
    Prefect server, busy with the release, took over 30 s (Playwright's default) to serve the UI's
    bundle, so navigation and each wait get 120 s; a page that does come up is used at once."""
    page = browser.new_page(viewport={"width": 1400, "height": 1000})
    page.set_default_timeout(120_000)
    page.set_default_navigation_timeout(120_000)
    return page


def _shot(stack, page, name: str) -> None:
    shots = stack.home / "screenshots"
    shots.mkdir(exist_ok=True)
    page.screenshot(path=str(shots / name), full_page=True)
    assert (shots / name).stat().st_size > 10_000


def _prefect_ui(stack) -> str:
    """The stack's Prefect UI, after checking that its pages read this stack's API (a server started on
    another port than 4200 still points its UI at :4200, i.e. at whatever else runs there)."""
    ui = stack.services["services"]["prefect"]["url"]
    api = httpx.get(f"{ui}/ui-settings", timeout=30).json()["api_url"]
    assert api.rstrip("/") == stack.api.rstrip("/"), f"the Prefect UI at {ui} reads {api}, not {stack.api}"
    return ui


def test_prefect_ui_shows_a_release_runs_info_logs_and_judge_chart(stack, page):
    """A dev release with the AI check (a first release: the judge holds, yet draws its chart): the run's
    Logs tab shows the steps' INFO lines; its Artifacts tab leads to the canary-vs-baseline PNG."""
    stack.wasmops("release", "examples/sum-wat", "--auto-approve", "--ai-requests", "20", timeout=600)
    runs = prefect_api.post(f"{stack.api}/flow_runs/filter", timeout=30, json={
        "flow_runs": {"name": {"like_": "release dev/sum-wat"}}, "sort": "START_TIME_DESC", "limit": 1}).json()
    assert runs, "no flow run named 'release dev/sum-wat ...'"
    run = runs[0]
    ui = _prefect_ui(stack)
    page.goto(f"{ui}/runs/flow-run/{run['id']}", wait_until="domcontentloaded")
    page.get_by_text("Logs", exact=True).first.click()
    info = page.locator(".log-row", has=page.locator(".log-level-label--info"))   # the UI's log rows
    step = info.filter(has_text="Finished in state Completed()").filter(has_text="prefect.task_runs").first
    step.wait_for()    # a task run's INFO line, as the engine logs it
    info.filter(has_text="released dev/sum-wat").first.wait_for()   # the flow's own INFO line
    _shot(stack, page, "prefect-release-logs.png")

    page.get_by_text("Artifacts", exact=True).first.click()
    page.get_by_text("release-judge-chart-sum-wat", exact=True).first.click()
    page.wait_for_url("**/artifacts/artifact/**")
    img = page.locator("img[src^='data:image/png']").first
    img.wait_for()
    page.wait_for_function("img => img.complete && img.naturalWidth > 200", arg=img.element_handle())
    page.get_by_text("dev/sum-wat: release judge", exact=False).first.wait_for()
    _shot(stack, page, "prefect-release-judge-chart.png")


def test_mlflow_ui_shows_the_champion_alias_description_and_data_source(stack, page):
    stack.wasmops("models", "train", "--synthetic", "--allow-synthetic", "--days", "22", "--modules", "4", timeout=600)
    ui = stack.services["services"]["mlflow"]["url"]
    champ = httpx.get(f"{ui}/api/2.0/mlflow/registered-models/alias", timeout=30,
                      params={"name": "wasmops-anomaly", "alias": "champion"}).json()["model_version"]
    source = {t["key"]: t["value"] for t in champ.get("tags", [])}["data.source"]
    page.goto(f"{ui}/#/models/wasmops-anomaly", wait_until="domcontentloaded")
    page.get_by_text("champion").first.wait_for()
    page.get_by_text("Anomaly model for module telemetry", exact=False).first.wait_for()
    _shot(stack, page, "mlflow-champion.png")

    page.goto(f"{ui}/#/models/wasmops-anomaly/versions/{champ['version']}", wait_until="domcontentloaded")
    row = page.locator("tr", has=page.get_by_text("data.source", exact=True)).first
    row.wait_for()
    assert source in row.inner_text(), row.inner_text()
    synthetic = page.locator("tr", has=page.get_by_text("data.synthetic", exact=True)).first.inner_text()
    assert "true" in synthetic, synthetic
    _shot(stack, page, "mlflow-version-data-source.png")
