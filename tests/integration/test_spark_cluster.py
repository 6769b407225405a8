"""The same code on a real Spark cluster: `emodrift backfill` against a standalone master
with two workers writes the rows local mode writes."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pytest

pytestmark = [pytest.mark.slow, pytest.mark.spark, pytest.mark.cluster]

FIRST_DAY, CLUSTER_DAYS = "2026-01-01", 3


def test_backfill_on_a_standalone_cluster_matches_local_mode(
    spark_standalone: str, sample_landing: Path, reference_lake: Path, integration_root: Path, run_emodrift, same_lake
) -> None:
    lake = integration_root / "cluster-lake"
    last = (dt.date.fromisoformat(FIRST_DAY) + dt.timedelta(days=CLUSTER_DAYS - 1)).isoformat()
    output = run_emodrift(sample_landing, lake, "backfill", "--start", FIRST_DAY, "--end", last,
                          spark_master=spark_standalone)
    assert f"backfill {FIRST_DAY}..{last}: {CLUSTER_DAYS} day(s)" in output
    # Days are processed in order and each as-of snapshot reads only earlier days, so the
    # first three days of the seven-day reference run are what a three-day run must write.
    counts = same_lake(reference_lake, lake, last_day=last)
    assert counts["posts"] > 0 and counts["scores"] == counts["posts"]
    assert counts["sequences"] > 0
