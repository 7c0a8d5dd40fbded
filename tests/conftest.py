"""Shared fixtures. Servers the tests need are started here on 127.0.0.1 and stopped afterwards."""

import os

import pytest

os.environ.setdefault("PREFECT_SERVER_ANALYTICS_ENABLED", "false")
os.environ.setdefault("MLFLOW_DISABLE_TELEMETRY", "true")
os.environ.setdefault("DO_NOT_TRACK", "1")

from support.registry import registry  # noqa: E402,F401  (session fixture: a real docker-registry)
from support.host import host, workspace  # noqa: E402,F401
from support.prefect import prefect_api  # noqa: E402,F401

# `make test` (and so CI) runs hypothesis derandomized: the examples are a fixed function of each
# test, so a red CI run is reproducible here and a green local `make test` is the same run CI does.
# A plain `pytest` keeps exploring new random examples (and replays failures from .hypothesis/).
try:
    from hypothesis import settings as _hyp_settings

    _hyp_settings.register_profile("ci", derandomize=True, database=None, print_blob=True,
                                   deadline=None)   # a busy CI machine is not a slow test
    _hyp_settings.register_profile("explore", deadline=None)   # random examples, and no deadline either
    _hyp_settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "explore"))
except ImportError:  # hypothesis is a dev dependency
    pass


def pytest_collection_modifyitems(config, items):
    """In the parallel stage (an xdist worker), the longest files are handed out first
    (``support/file_order.py``): the run no longer ends with one worker alone on a long file."""
    if hasattr(config, "workerinput"):
        from support.file_order import longest_first, weights

        items[:] = longest_first(items, weights())


@pytest.fixture(autouse=True)
def _environment_restored():
    """Each test leaves ``os.environ`` as it found it. The CLI called in-process sets variables for its
    process (``wasmops -v`` sets WASMOPS_VERBOSE; Prefect's setup sets PREFECT_LOGGING_HANDLERS_CONSOLE_LEVEL
    and PREFECT_API_URL), and a subprocess started by any later test of that worker inherited them: a
    ``-v`` test once left a later ``wasmops release`` with no progress handler and a silent Prefect
    console, so it printed none of its steps. Session and module fixtures set up before this snapshot."""
    before = dict(os.environ)
    yield
    for k in [k for k in os.environ if k not in before]:
        del os.environ[k]
    for k, v in before.items():
        if os.environ.get(k) != v:
            os.environ[k] = v
