"""Shared fixtures: one SparkSession for the whole test session, settings over a tmp lake."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest

from jobs.settings import Settings

REPO_ROOT = Path(__file__).resolve().parent.parent
SHARED_DATA = Path(os.environ.get("EMODRIFT_SHARED_DATA", REPO_ROOT.parent / "shared" / "data"))


@pytest.fixture(scope="session")
def spark() -> Iterator[object]:
    """A local[2] SparkSession shared by every Spark test (starting one costs ~10 s)."""
    from jobs.spark import build_session

    session = build_session(Settings(spark_master="local[2]", shuffle_partitions=2), "emodrift-tests")
    yield session
    session.stop()


@pytest.fixture()
def tmp_settings(tmp_path: Path) -> Settings:
    """Settings whose landing folder and lake live in a fresh temporary folder."""
    return Settings(
        landing=tmp_path / "landing",
        lake=tmp_path / "lake",
        spark_master="local[2]",
        shuffle_partitions=2,
    )


@pytest.fixture(scope="session")
def shared_data() -> Path:
    """The shared training data folder; tests needing it skip when it is absent."""
    if not SHARED_DATA.is_dir():
        pytest.skip(f"shared data not found at {SHARED_DATA} (set EMODRIFT_SHARED_DATA)")
    return SHARED_DATA


def pytest_configure(config: pytest.Config) -> None:
    """Keep Airflow's metadata inside the project (the Makefile sets the same values)."""
    os.environ.setdefault("AIRFLOW_HOME", str(REPO_ROOT / "airflow_home"))
    os.environ.setdefault("AIRFLOW__CORE__LOAD_EXAMPLES", "False")
    os.environ.setdefault("AIRFLOW__CORE__DAGS_FOLDER", str(REPO_ROOT / "dags"))
    os.environ.setdefault("SPARK_LOCAL_IP", "127.0.0.1")
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
