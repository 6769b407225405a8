"""Shared fixtures: one SparkSession for the whole test session, settings over a tmp lake, and one
sample lake built by the pipeline itself for the whole test session (end-to-end, dashboard and
browser tests share it)."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
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


# the shared sample: 16 users over 12 days (enough for the default detector to flag changes)
SAMPLE_START, SAMPLE_DAYS, SAMPLE_SEED = "2026-01-01", 12, 3
SAMPLE_BEFORE_LAST, SAMPLE_LAST = "2026-01-11", "2026-01-12"
BIN = Path(sys.executable).parent


def pipeline_environment(landing: Path, lake: Path) -> dict[str, str]:
    """The environment a pipeline command runs in over ``landing`` and ``lake``."""
    env = dict(os.environ)
    env.update(
        EMODRIFT_LANDING=str(landing), EMODRIFT_LAKE=str(lake), EMODRIFT_SPARK_MASTER="local[2]", EMODRIFT_SHUFFLE_PARTITIONS="2",
        PATH=f"{BIN}:{env.get('PATH', '')}", PYSPARK_PYTHON=sys.executable, PYSPARK_DRIVER_PYTHON=sys.executable,
        AIRFLOW__CORE__LOAD_EXAMPLES="False", AIRFLOW__CORE__DAGS_FOLDER=str(REPO_ROOT / "dags"), SPARK_LOCAL_IP="127.0.0.1",
    )
    env.setdefault("AIRFLOW_HOME", str(REPO_ROOT / "airflow_home"))
    return env


def run_emodrift(env: dict[str, str], *args: str, timeout: int = 1200) -> str:
    """``emodrift ARGS`` in ``env``; fails the test with the command's output when it fails."""
    result = subprocess.run([str(BIN / "emodrift"), *args], env=env, capture_output=True, text=True, timeout=timeout)
    assert result.returncode == 0, f"emodrift {' '.join(args)} failed:\n{result.stdout[-3000:]}\n{result.stderr[-3000:]}"
    return result.stdout


@pytest.fixture(scope="session")
def sample_pipeline(tmp_path_factory: pytest.TempPathFactory) -> dict[str, object]:
    """One real sample lake for the whole test session, built once by the pipeline as an
    operator would (3 to 10 min on two cores): ``emodrift sample``, ``emodrift backfill`` over
    every day but the last, then one real nightly DAG run (``airflow dags test``) for the last.

    Read-only for the tests that share it: a test that writes copies the lake first
    (fixture :func:`sample_copy`). ``EMODRIFT_TEST_SAMPLE_ROOT`` names a folder holding
    ``landing/`` and ``lake/`` built so earlier, to reuse instead.

    Returns:
        ``{"env", "landing", "lake", "dag_output", "start", "last"}`` (``dag_output`` is
        empty when reused; ``start`` and ``last`` are the first and last sample days).
    """
    reuse = os.environ.get("EMODRIFT_TEST_SAMPLE_ROOT")
    if reuse and (Path(reuse) / "lake" / "transitions").is_dir():
        landing, lake = Path(reuse) / "landing", Path(reuse) / "lake"
        return {"env": pipeline_environment(landing, lake), "landing": landing, "lake": lake, "dag_output": "",
                "start": SAMPLE_START, "last": SAMPLE_LAST}
    root = tmp_path_factory.mktemp("sample")
    landing, lake = root / "landing", root / "lake"
    env = pipeline_environment(landing, lake)
    run_emodrift(env, "sample", "--users", "16", "--days", str(SAMPLE_DAYS), "--seed", str(SAMPLE_SEED), "--start", SAMPLE_START)
    run_emodrift(env, "backfill", "--start", SAMPLE_START, "--end", SAMPLE_BEFORE_LAST)
    dag_run = subprocess.run([str(BIN / "airflow"), "dags", "test", "emotion_drift_nightly", SAMPLE_LAST],
                             env=env, capture_output=True, text=True, timeout=1200)
    assert dag_run.returncode == 0, dag_run.stdout[-4000:] + dag_run.stderr[-4000:]
    return {"env": env, "landing": landing, "lake": lake, "dag_output": dag_run.stdout + dag_run.stderr,
            "start": SAMPLE_START, "last": SAMPLE_LAST}


@pytest.fixture()
def sample_copy(sample_pipeline: dict[str, object], tmp_path: Path) -> dict[str, object]:
    """A writable copy of the shared sample lake, for a test that writes (reruns a stage...).

    The landing folder stays shared (the pipeline only reads it), so a rerun over the copy
    ingests the very same files, image paths included.

    Returns:
        :func:`sample_pipeline`'s keys over the copy, and ``emodrift``: a function that runs
        ``emodrift ARGS`` over the copy.
    """
    lake = tmp_path / "lake"
    shutil.copytree(sample_pipeline["lake"], lake, symlinks=True)
    landing = Path(sample_pipeline["landing"])
    env = pipeline_environment(landing, lake)
    return {**sample_pipeline, "env": env, "lake": lake, "emodrift": lambda *args: run_emodrift(env, *args)}
