"""NAB scoring on hand-computed cases."""

import math

import numpy as np
import pytest

from models.nab_eval import matched_threshold, nab_normalized, nab_raw_score, scaled_sigmoid


def test_scaled_sigmoid():
    assert scaled_sigmoid(0.0) == 0.0
    assert scaled_sigmoid(-1.0) == pytest.approx(2 / (1 + math.exp(-5)) - 1)
    assert scaled_sigmoid(3.5) == -1.0


def test_null_and_perfect_detectors():
    wins = [(10, 19), (50, 59)]
    null, c = nab_raw_score(np.zeros(100, bool), wins)
    assert null == -2.0 and c["fn"] == 2
    perfect = np.zeros(100, bool)
    perfect[[10, 50]] = True
    raw, c = nab_raw_score(perfect, wins)
    assert raw == pytest.approx(2.0) and c["tp"] == 2
    assert nab_normalized(null, 2) == 0.0 and nab_normalized(raw, 2) == pytest.approx(100.0)


def test_only_first_detection_counts_and_fp_costs():
    wins = [(10, 19)]
    a = np.zeros(100, bool)
    a[[15, 16, 17]] = True                      # position of row 15: -(19-15+1)/10 = -0.5
    raw, c = nab_raw_score(a, wins)
    assert raw == pytest.approx(scaled_sigmoid(-0.5) / scaled_sigmoid(-1.0)) and c["fp"] == 0
    a = np.zeros(100, bool)
    a[5] = True                                 # before any window: -0.11; window missed: -1
    assert nab_raw_score(a, wins)[0] == pytest.approx(-1.11)
    a = np.zeros(100, bool)
    a[[10, 21]] = True                          # FP 2 rows after: y = 2/9
    assert nab_raw_score(a, wins)[0] == pytest.approx(1.0 + 0.11 * scaled_sigmoid(2 / 9))


def test_training_part_is_ignored():
    a = np.zeros(100, bool)
    a[[3, 12]] = True
    raw, c = nab_raw_score(a, [(10, 19)], n_train=5)
    assert c["fp"] == 0 and c["tp"] == 1


def test_matched_threshold_never_exceeds_far_with_ties():
    neg = np.r_[np.zeros(90), np.full(10, 5.0)]
    t = matched_threshold(neg, 0.05)
    assert (neg >= t).mean() <= 0.05
