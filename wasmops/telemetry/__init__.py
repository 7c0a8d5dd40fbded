"""Telemetry: samples of every module version on the host, for the models and FinOps.

    >>> from wasmops.telemetry import Collector, Store, scrape_host
    >>> from wasmops.host.client import HostClient
    >>> hc = HostClient.from_workspace()               # the workspace's host (``wasmops host``)

With that host running (the store is ``<home>/telemetry.db``)::

    >>> col = Collector(Store.open(), source=hc.url)                   # doctest: +SKIP
    >>> scrape_host(hc, col)                      # the first scrape only records the counters  # doctest: +SKIP
    []
    >>> rows = scrape_host(hc, col)               # then one row per live (namespace, module, digest)  # doctest: +SKIP
    >>> [(r["module"], r["invocations"]) for r in rows]                  # doctest: +SKIP
    [('sum-wat', 100)]

* :mod:`.schema`   the sample columns and dtypes (``COLUMNS``, ``DTYPES``, ``to_frame``, ``coerce``)
* :mod:`.scrape`   ``/metrics`` → window samples (``Collector``); ``PrometheusQuery`` for a Prometheus server
* :mod:`.store`    the SQLite store ``<home>/telemetry.db`` (``Store``)
* :mod:`.synth`    synthetic samples with labelled anomalies (``synthesize``)
* :mod:`.load`     real traffic through the host (``generate_load``)
* :mod:`.validate` the Great Expectations suite ``expectations/telemetry.json`` (``validate``)
"""

from .load import generate_load
from .schema import COLUMNS, DTYPES, KEY, LABEL_DTYPES, coerce, empty, to_frame
from .scrape import Collector, PrometheusQuery, histogram_quantile, parse_metrics, scrape_host
from .store import Store
from .synth import ANOMALY_KINDS, inject_release_regression, synthesize, synthesize_to_now
from .validate import ValidationOutcome, validate

__all__ = ["ANOMALY_KINDS", "COLUMNS", "DTYPES", "KEY", "LABEL_DTYPES", "Collector", "PrometheusQuery", "Store",
           "ValidationOutcome", "coerce", "empty", "generate_load", "histogram_quantile", "inject_release_regression",
           "parse_metrics", "scrape_host", "synthesize", "synthesize_to_now", "to_frame", "validate"]
