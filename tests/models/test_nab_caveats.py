"""The benchmark's caveats for figures a corpus cannot support, on slices of a real NAB series."""

from pathlib import Path

import pandas as pd
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from typer.testing import CliRunner

from models.nab_io import load_corpus, train_rows

NAME = "realTweets/Twitter_volume_GOOG.csv"


def _corpus(root: Path, part: pd.DataFrame, window: tuple[str, str]):
    (root / NAME).parent.mkdir(parents=True, exist_ok=True)
    part.to_csv(root / NAME, index=False)
    (root / "labels.json").write_text(pd.Series({NAME: [list(window)]}).to_json())
    return load_corpus(root, root / "labels.json", [])


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(first=st.integers(0, 15000), rows=st.integers(1, 400), lo=st.integers(0, 399), width=st.integers(0, 200),
       blank=st.booleans())
def test_caveats_name_what_the_figures_cannot_say(goog, tmp_path_factory, first, rows, lo, width, blank):
    from models.nab_caveats import caveats

    part = goog.iloc[first:first + rows].copy()
    if blank:
        part["value"] = ""
    ts = part["timestamp"].tolist()
    window = (ts[min(lo, len(ts) - 1)], ts[min(lo + width, len(ts) - 1)])
    (ser,) = _corpus(tmp_path_factory.mktemp("c"), part, window)
    text = " | ".join(caveats([ser], 12))
    n_train = train_rows(len(part))
    negatives = int((~ser.in_window()[n_train:]).sum())
    assert ("is a number" in text) == blank
    assert ("needs 12 rows of history" in text) == (not blank and n_train < 12)
    assert ("no threshold keeps false alarms at 2 %" in text) == (bool(ser.windows) and negatives < 50)
    assert ("pooled PR-AUC is 1 whatever the scores" in text) == (bool(ser.windows) and negatives == 0)


def test_benchmark_prints_the_caveats(goog, tmp_path):
    from wasmops.cli import app

    part = goog.iloc[5000:5010]
    _corpus(tmp_path, part, (part["timestamp"].iloc[0], part["timestamp"].iloc[-1]))
    r = CliRunner().invoke(app, ["models", "benchmark", str(tmp_path), "--labels", str(tmp_path / "labels.json")])
    assert r.exit_code == 0, r.output
    err = " ".join(r.stderr.split())
    assert f"{NAME}: 10 rows, 1 of them training" in err and "pooled PR-AUC is 1 whatever the scores" in err
