"""Shared fixtures. Servers the tests need are started here on 127.0.0.1 and stopped afterwards."""

import os

os.environ.setdefault("PREFECT_SERVER_ANALYTICS_ENABLED", "false")
os.environ.setdefault("MLFLOW_DISABLE_TELEMETRY", "true")
os.environ.setdefault("DO_NOT_TRACK", "1")

from support.registry import registry  # noqa: E402,F401  (session fixture: a real docker-registry)
from support.host import host, workspace  # noqa: E402,F401
from support.prefect import prefect_api  # noqa: E402,F401
