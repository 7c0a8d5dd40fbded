"""Data-quality checks on telemetry samples with Great Expectations, before anyone trusts them.

    >>> from wasmops.telemetry import synthesize, validate
    >>> out = validate(synthesize(), freshness_minutes=None)   # GX: seconds, so not run here  # doctest: +SKIP
    >>> out.success, out.result_id[:7]                                # doctest: +SKIP
    (True, 'sha256:')
    >>> print(out.to_markdown().splitlines()[0])                      # doctest: +SKIP
    ## ✅ telemetry passed 61/61 checks

The suite lives in the repository as JSON (``expectations/telemetry.json``): a list of
``{"type": "expect_...", "kwargs": {...}, "meta": {"description": ...}}``. Values of the form
``{"$PARAMETER": name}`` are filled in at run time: ``min_rows``, ``freshness_min_ts``
(now − ``freshness_minutes``) and ``future_max_ts`` (now + ``schema.CLOCK_SKEW``, 5 min: a sample
dated later is from the future and fails, with or without the freshness check). Expectations with ``meta.freshness`` are dropped when freshness
is off (training on historic or synthetic data); those with ``meta.optional`` are dropped when
their column is absent (the synthetic label columns). Freshness is checked for the window (its
newest row) and, with ``per_module_freshness`` (``score``), per module: :func:`validate` adds
``series_newest_ts`` (each row's module's newest ts) and the suite expects it within the limit,
so a module whose telemetry stopped while others are fresh is held, naming its last row's time
(:mod:`.series_held`).

GX 1.x runs in an ephemeral context (pandas datasource → dataframe asset → whole-dataframe
batch definition → ``ValidationDefinition.run(batch_parameters={"dataframe": df})``). Importing
``great_expectations`` takes seconds, so it happens inside :func:`validate` only. The report is
our own Markdown, rendered from the result (Data Docs pull CDN assets and a tracking pixel).
"""

from __future__ import annotations

import hashlib
import json
import os
import time
import uuid
import warnings
from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd

from . import schema
from .rows_named import name_failed_rows
from .series_held import attribute, name_stale, with_series_newest

_REPO_SUITE = Path(__file__).resolve().parents[2] / "expectations" / "telemetry.json"
# In a checkout the suite is the repo's file; an installed wheel carries a copy under wasmops/_seed.
SUITE_PATH = _REPO_SUITE if _REPO_SUITE.exists() else Path(__file__).resolve().parents[1] / "_seed" / "expectations" / "telemetry.json"

#: The GX ``type_`` each schema dtype is checked with. GX compares ``dtype.type``: tz-aware
#: datetimes are ``Timestamp`` (naive ones fail); pandas 3 ``str`` columns are ``str``.
GX_TYPES = {"datetime64[ns, UTC]": "Timestamp", "int64": "int64", "float64": "float64", "str": "str",
            "bool": "bool"}


def schema_expectations() -> list[dict]:
    """The column and type expectations implied by :mod:`.schema` (the JSON suite must contain them)."""
    out = [{"type": "expect_table_columns_to_match_set",
            "kwargs": {"column_set": list(schema.COLUMNS), "exact_match": False}}]
    for col, dtype in {**schema.DTYPES, **schema.LABEL_DTYPES}.items():
        out.append({"type": "expect_column_values_to_be_of_type", "kwargs": {"column": col, "type_": GX_TYPES[dtype]}})
    return out


def load_suite(path: str | Path | None = None) -> dict:
    return json.loads(Path(path or SUITE_PATH).read_text())


@dataclass
class ValidationOutcome:
    """What the checks found. ``result`` is GX's result document (JSON-able); ``result_id`` is
    ``sha256:`` of its canonical JSON, so a decision record can name exactly this run."""

    success: bool
    result_id: str
    stats: dict
    failed: list[dict]
    checks: list[dict] = field(default_factory=list)
    result: dict = field(default_factory=dict, repr=False)
    freshness_minutes: float | None = None     # the limit checked (None: off)
    now: pd.Timestamp | None = None            # the clock the checks ran against
    newest: pd.Timestamp | None = None         # the newest sample checked (None: no rows)
    held_series: dict = field(default_factory=dict)   # "ns/module" -> its failed checks, its rows named
    rejected: frozenset = field(default_factory=frozenset, repr=False)   # index labels of the attributed rows

    @property
    def window_failed(self) -> list[dict]:
        """The failed checks no row of one series explains (columns, types, row count, freshness...):
        they hold every module."""
        return [f for f in self.failed if not f.get("attributed")]

    @property
    def window_ok(self) -> bool:
        """Passed, or failed only on rows attributed to series (:attr:`held_series`): the other series
        are judged."""
        return self.success or (bool(self.held_series) and not self.window_failed)

    def failed_for(self, subject: str) -> list[dict]:
        """The failed checks that concern ``ns/module``: the window's, and those of its own rows."""
        return self.window_failed + list(self.held_series.get(subject, []))

    def failed_checks(self) -> set[tuple[str, str | None]]:
        """``{(expectation type, column or None)}`` of the failed checks."""
        return {(f["type"], f["column"]) for f in self.failed}

    def to_markdown(self) -> str:
        s = self.stats
        head = (f"✅ telemetry passed {s['successful']}/{s['evaluated']} checks" if self.success else
                f"❌ telemetry failed {s['evaluated'] - s['successful']} of {s['evaluated']} checks")
        lines = [f"## {head}",
                 "", f"{s['rows']:,} rows × {s['columns']} columns; validated in {s['duration_s']:.2f} s; "
                 f"result `{self.result_id[:19]}`", ""]
        if self.held_series and self.window_ok:
            lines += ["Only these modules' own rows failed; they are held and every other module is judged: "
                      + ", ".join(f"`{k}`" for k in sorted(self.held_series)), ""]
        params = ", ".join(f"{k} = `{v}`" for k, v in s.get("parameters", {}).items())
        if params:
            lines += [f"Parameters: {params}", ""]
        lines += ["| | check | column | expected | observed |", "|---|---|---|---|---|"]
        for c in sorted(self.checks, key=lambda c: c["success"]):
            lines.append("| {} | {} | {} | {} | {} |".format(
                "✓" if c["success"] else "✗", _cell(c["type"].removeprefix("expect_")), _cell(c["column"] or "—"),
                _cell(c["expected"]), _cell(c["observed"] + (f"; rows: {c['rows']}" if c.get("rows") else ""))))
        return "\n".join(lines) + "\n"


def _cell(v) -> str:
    return str(v).replace("|", "\\|").replace("\n", " ")


def _camel(snake: str) -> str:
    return "".join(p.capitalize() for p in snake.split("_"))


def _expected_text(e: dict) -> str:
    if e.get("meta", {}).get("description"):
        return e["meta"]["description"]
    kw = {k: v for k, v in e["kwargs"].items() if k not in ("column", "result_format")}
    return ", ".join(f"{k}={json.dumps(v, default=str)}" for k, v in kw.items()) or e["type"]


def _observed_text(r: dict) -> str:
    if r.get("exception"):
        return f"error: {r['exception']}"
    res = r.get("result") or {}
    if "observed_value" in res:
        ov = res["observed_value"]
        if isinstance(ov, list) and len(ov) > 6:
            ov = f"{len(ov)} columns"
        miss = (res.get("details") or {}).get("mismatched")
        return f"{ov}" + (f" (mismatched: {miss})" if miss else "")
    if "unexpected_count" in res:
        n, total = res.get("unexpected_count") or 0, res.get("element_count") or 0
        text = f"{n:,} of {total:,} unexpected"
        sample = res.get("partial_unexpected_list") or []
        if n and sample:
            text += f", e.g. {[str(v) for v in sample[:5]]}"
        if res.get("missing_count"):
            text += f"; {res['missing_count']:,} null"
        return text
    return json.dumps(res, default=str)[:200]


def validate(df: pd.DataFrame, *, suite: str | Path | dict | None = None, min_rows: int = 1,
             freshness_minutes: float | None = 30, now=None, result_format: str = "COMPLETE",
             per_module_freshness: bool = False) -> ValidationOutcome:
    """Run the telemetry suite on ``df``. ``freshness_minutes=None`` turns the freshness check off;
    ``per_module_freshness`` checks each module's newest row too (``score``: a module whose telemetry
    stopped is held, naming its last row, while the others are judged).
    ``COMPLETE``: every rejected row is listed, so a failure is attributed to its series
    (:mod:`.series_held`; the full lists are then dropped from the result)."""
    t0 = time.perf_counter()
    doc = suite if isinstance(suite, dict) else load_suite(suite)
    now = pd.Timestamp.now(tz="UTC") if now is None else pd.Timestamp(now)
    params = _parameters(min_rows, freshness_minutes, now)
    if freshness_minutes is not None and per_module_freshness:   # one module whose telemetry stopped is held
        df = with_series_newest(df)
    exps = [e for e in doc["expectations"]
            if not (e.get("meta", {}).get("freshness") and freshness_minutes is None)
            and not (e.get("meta", {}).get("optional") and e["kwargs"].get("column") not in df.columns)]
    result = _run_gx(df, doc.get("name", "telemetry"), exps, params, result_format)
    checks = _checks(result, exps)
    name_failed_rows(df, checks)
    rejected: set = set()
    held = attribute(df, checks, rejected)
    name_stale(df, held, params.get("freshness_min_ts"), now if now.tzinfo else now.tz_localize("UTC"))
    failed = [{k: c[k] for k in ("type", "column", "kwargs", "expected", "observed", "rows", "attributed") if k in c}
              for c in checks if not c["success"]]
    gs = result.get("statistics", {})
    stats = {"evaluated": gs.get("evaluated_expectations", len(checks)),
             "successful": gs.get("successful_expectations", len(checks) - len(failed)),
             "unsuccessful": gs.get("unsuccessful_expectations", len(failed)),
             "success_percent": gs.get("success_percent"), "rows": int(len(df)), "columns": int(df.shape[1]),
             "duration_s": time.perf_counter() - t0, "suite": doc.get("name", "telemetry"),
             "run_time": (result.get("meta", {}).get("run_id") or {}).get("run_time"),
             "parameters": {k: str(v) for k, v in params.items()}}
    rid = "sha256:" + hashlib.sha256(json.dumps(result, sort_keys=True, default=str).encode()).hexdigest()
    newest = pd.Timestamp(df["ts"].max()) if len(df) and "ts" in df.columns and df["ts"].notna().any() else None
    return ValidationOutcome(success=bool(result["success"]), result_id=rid, stats=stats, failed=failed,
                             checks=checks, result=result, freshness_minutes=freshness_minutes,
                             now=now if now.tzinfo else now.tz_localize("UTC"),
                             newest=newest, held_series=held, rejected=frozenset(rejected))


def _parameters(min_rows: int, freshness_minutes: float | None, now) -> dict:
    """The suite's run-time parameters: row minimum, the clock-skew bound and, if on, freshness."""
    now_ts = pd.Timestamp.now(tz="UTC") if now is None else pd.Timestamp(now)
    now_ts = now_ts.tz_localize("UTC") if now_ts.tzinfo is None else now_ts.tz_convert("UTC")
    params: dict = {"min_rows": int(min_rows), "future_max_ts": (now_ts + schema.CLOCK_SKEW).as_unit("ns")}
    if freshness_minutes is not None:
        params["freshness_min_ts"] = (now_ts - pd.Timedelta(minutes=freshness_minutes)).as_unit("ns")
    return params


def _run_gx(df: pd.DataFrame, name: str, exps: list[dict], params: dict, result_format: str) -> dict:
    """One GX 1.x validation run of ``exps`` over ``df`` in an ephemeral context; its JSON result."""
    os.environ.setdefault("GX_ANALYTICS_ENABLED", "false")
    import great_expectations as gx
    import great_expectations.expectations as gxe
    from great_expectations.data_context.types.base import ProgressBarsConfig

    ctx = gx.get_context(mode="ephemeral")
    ctx.variables.progress_bars = ProgressBarsConfig(globally=False)
    tag = uuid.uuid4().hex[:8]
    batch_def = (ctx.data_sources.add_pandas(f"telemetry-{tag}").add_dataframe_asset("samples")
                 .add_batch_definition_whole_dataframe("all"))
    gx_suite = gx.ExpectationSuite(name=name)
    with warnings.catch_warnings():
        # peak_memory <= 1.01 × memory_limit compares two columns, which GX 1.x's Condition objects
        # cannot express; the pandas string row_condition still works (deprecated, removed in GX 2).
        warnings.filterwarnings("ignore", message=".*(condition_parser|row_condition).*", category=DeprecationWarning)
        for e in exps:
            cls = getattr(gxe, _camel(e["type"]), None)
            if cls is None:
                raise ValueError(f"unknown expectation type {e['type']!r} in the telemetry suite")
            gx_suite.add_expectation(cls(**e["kwargs"], meta=e.get("meta") or None))
        gx_suite = ctx.suites.add(gx_suite)
        vd = ctx.validation_definitions.add(gx.ValidationDefinition(name=f"telemetry-{tag}", data=batch_def,
                                                                    suite=gx_suite))
        res = vd.run(batch_parameters={"dataframe": df}, expectation_parameters=params,
                     result_format=result_format)
    return json.loads(json.dumps(res.to_json_dict(), default=str))


def _checks(result: dict, exps: list[dict]) -> list[dict]:
    """One row per expectation result: what was expected and observed, in words, by column."""
    by_sig = {}
    for e in exps:
        by_sig.setdefault(_sig(e["type"], e["kwargs"]), e)
    checks = []
    for r in result["results"]:
        cfg = r["expectation_config"]
        kwargs = cfg.get("kwargs", {})
        src = by_sig.get(_sig(cfg["type"], kwargs), {"type": cfg["type"], "kwargs": kwargs, "meta": cfg.get("meta") or {}})
        exc = (r.get("exception_info") or {})
        exc_msg = exc.get("exception_message") if exc.get("raised_exception") else None
        check = {"type": cfg["type"], "column": kwargs.get("column"), "success": bool(r["success"]),
                 "kwargs": dict(src["kwargs"]),
                 "expected": _expected_text(src), "observed": _observed_text({**r, "exception": exc_msg}),
                 "result": r.get("result") or {}}
        if not check["column"] and "column_list" in kwargs:
            check["column"] = ", ".join(kwargs["column_list"])
        elif not check["column"] and "column_A" in kwargs:
            check["column"] = f"{kwargs['column_A']}, {kwargs['column_B']}"
        checks.append(check)
    return checks


def _sig(type_: str, kwargs: dict) -> str:
    keep = {k: v for k, v in kwargs.items() if k in ("column", "column_list", "column_A", "column_B", "type_",
                                                     "row_condition", "column_set")}
    return type_ + json.dumps(keep, sort_keys=True, default=str)
