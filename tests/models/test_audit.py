"""Bias audit: false-positive and alert rates per team; an unfairly treated team is flagged."""

import numpy as np
import pandas as pd

from models.audit import bias_audit


def test_flags_a_team_the_model_treats_unfairly(anomaly_model, split):
    holdout = split[1].copy()
    team = sorted(holdout["team"].unique())[1]
    # The team's modules got 70 % slower (a new shared dependency, say): labelled normal, but the
    # model keeps judging them against their old baseline, so their false-positive rate soars.
    sel = (holdout["team"] == team) & ~holdout["is_anomaly"]
    holdout.loc[sel, "latency_p95_ms"] *= 1.7
    r = bias_audit(holdout, model=anomaly_model)
    print("\n" + r.table[["team", "negatives", "false_positives", "fpr", "alert_rate", "flag"]].to_string())
    assert r.flagged == [team]
    assert "false-positive rate" in r.flags[team]
    row = r.table.set_index("team").loc[team]
    assert row["fpr"] > 2 * r.overall_fpr and row["flag"]
    assert r.to_dict()["flags"] == r.flags


def test_fair_alerts_are_not_flagged():
    rng = np.random.default_rng(0)
    n = 4000
    df = pd.DataFrame({"team": rng.choice(["a", "b", "c", "d"], n), "is_anomaly": rng.random(n) < 0.02})
    flagged = df["is_anomaly"].to_numpy() | (np.arange(n) % 50 == 0)  # 2 % FPR for every team
    r = bias_audit(df, flagged)
    assert r.ok and r.overall_fpr == r.table["false_positives"].sum() / r.table["negatives"].sum()


def test_difference_in_points_and_small_groups():
    df = pd.DataFrame({"team": ["a"] * 500 + ["b"] * 500 + ["tiny"] * 10, "is_anomaly": False})
    flagged = np.r_[np.arange(500) % 10 == 0, np.arange(500) % 5 == 0, np.ones(10, bool)]
    r = bias_audit(df, flagged, ratio=10, max_diff_points=4)  # 10 % vs 20 % vs overall ~15.8 %
    assert set(r.flagged) == {"a", "b"} and "points" in r.flags["b"]
    assert r.table.set_index("team").loc["tiny", "fpr"] == 1.0 and "tiny" not in r.flags  # < 50 negatives


def test_without_labels_alert_rates_are_compared():
    df = pd.DataFrame({"team": ["a"] * 300 + ["b"] * 300 + ["c"] * 300})
    flagged = np.r_[np.arange(600) % 100 == 0, np.arange(300) % 10 == 0]  # 1 %, 1 %, 10 %; overall 4 %
    r = bias_audit(df, flagged)
    assert r.flagged == ["c"] and "alert rate" in r.flags["c"]
