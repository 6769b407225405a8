"""Lakes for the dashboard tests: small synthetic ones (fast, known truth) and, for the browser
test, one real sample lake built by the pipeline once per test session."""

from __future__ import annotations

from pathlib import Path

import pytest

from jobs.dashboard.synthetic import SMALL, SyntheticLake, write_synthetic_lake


@pytest.fixture(scope="session")
def synthetic_lake(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A 60-user, 20-day lake whose transitions have only the base columns (an older drift stage)."""
    lake = tmp_path_factory.mktemp("synthetic") / "lake"
    write_synthetic_lake(lake, SMALL)
    return lake


@pytest.fixture(scope="session")
def analyst_lake(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The same lake, its transitions carrying the analyst columns (means, evidence ids, ids)."""
    lake = tmp_path_factory.mktemp("analyst") / "lake"
    write_synthetic_lake(lake, SyntheticLake(**{**SMALL.__dict__, "analyst_columns": True}))
    return lake


SAMPLE_START, SAMPLE_DAYS, SAMPLE_LAST = "2026-01-01", 12, "2026-01-12"


@pytest.fixture(scope="session")
def sample_lake(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """A real sample lake, built once per session by the pipeline itself (3 to 10 min on two
    cores): ``emodrift sample`` (16 users, 12 days: enough for the default detector to flag
    changes), ingest and score every day, drift and report for the last. ``EMODRIFT_TEST_SAMPLE_ROOT`` names an already built one to reuse."""
    import os
    import subprocess
    import sys

    reuse = os.environ.get("EMODRIFT_TEST_SAMPLE_ROOT")  # a folder holding landing/ and lake/ built earlier
    if reuse and (Path(reuse) / "lake" / "transitions").is_dir():
        return {"landing": Path(reuse) / "landing", "lake": Path(reuse) / "lake"}
    root = tmp_path_factory.mktemp("sample")
    landing, lake = root / "landing", root / "lake"
    binary = Path(sys.executable).parent
    env = {**os.environ, "EMODRIFT_LANDING": str(landing), "EMODRIFT_LAKE": str(lake), "EMODRIFT_SPARK_MASTER": "local[2]",
           "EMODRIFT_SHUFFLE_PARTITIONS": "2", "PYSPARK_PYTHON": sys.executable, "PYSPARK_DRIVER_PYTHON": sys.executable,
           "SPARK_LOCAL_IP": "127.0.0.1", "PATH": f"{binary}:{os.environ.get('PATH', '')}"}
    steps = [
        ["sample", "--users", "16", "--days", str(SAMPLE_DAYS), "--seed", "3", "--start", SAMPLE_START],
        ["backfill", "--start", SAMPLE_START, "--end", SAMPLE_LAST, "--stages", "ingest,check-ingest,score,check-score"],
        ["backfill", "--start", SAMPLE_LAST, "--end", SAMPLE_LAST, "--stages", "drift,report"],
    ]
    for step in steps:
        result = subprocess.run([str(binary / "emodrift"), *step], env=env, capture_output=True, text=True, timeout=1200)
        assert result.returncode == 0, f"emodrift {' '.join(step)} failed:\n{result.stdout[-3000:]}\n{result.stderr[-3000:]}"
    return {"landing": landing, "lake": lake}
