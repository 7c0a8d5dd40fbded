"""Reading a model registry that was never created answers "no model" and leaves nothing behind: a
fresh workspace's first release asked for the cost champion in its budget gate, and that created the
MLflow schema (~2 s of CPU) only to learn there was none."""

from __future__ import annotations

import pytest

from models.registry import load_challenger, load_champion


@pytest.mark.parametrize("kind", ["anomaly", "cost"])
def test_no_store_yet_means_no_champion_and_no_challenger_and_no_file(tmp_path, kind):
    db = tmp_path / "deep" / "mlflow.db"
    uri = f"sqlite:///{db}"
    with pytest.raises(LookupError, match="no model registry"):
        load_champion(kind, tracking_uri=uri)
    assert load_challenger(kind, tracking_uri=uri) == (None, {})
    assert not db.exists() and not db.parent.exists()


def test_an_existing_empty_store_still_says_no_champion(tmp_path):
    from models.registry import ensure_store

    uri = f"sqlite:///{tmp_path / 'mlflow.db'}"
    ensure_store(uri)
    with pytest.raises(LookupError, match="no champion alias"):
        load_champion("cost", tracking_uri=uri)
