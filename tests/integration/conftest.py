"""Services for the production-shaped tests: a Spark standalone cluster and a PostgreSQL
server on 127.0.0.1, one sample landing folder and one reference lake per test session.

These tests are slow (minutes) and start servers, so they run only when asked:
``EMODRIFT_TEST_CLUSTER=1`` (Spark standalone) and ``EMODRIFT_TEST_POSTGRES=1`` (Airflow on
PostgreSQL); `.ci/run` sets both. Without them every test here skips and says how to run it.
"""

from __future__ import annotations

import glob
import os
import pwd
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

import pandas as pd
import pytest

REPO_ROOT = Path(__file__).resolve().parents[2]
BIN = Path(sys.executable).parent
SAMPLE_START, SAMPLE_DAYS, SAMPLE_USERS, SAMPLE_SEED = "2026-01-01", 7, 10, 11


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def wait_until(condition, timeout_s: float, what: str, log: Path | None = None) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if condition():
            return
        time.sleep(1)
    tail = log.read_text(errors="replace")[-3000:] if log is not None and log.exists() else ""
    raise RuntimeError(f"{what} not ready after {timeout_s:.0f}s\n{tail}")


def port_open(port: int) -> bool:
    with socket.socket() as probe:
        return probe.connect_ex(("127.0.0.1", port)) == 0


def stop_group(process: subprocess.Popen) -> None:
    """Stop a process started with ``start_new_session`` and everything it started."""
    for sent in (signal.SIGTERM, signal.SIGKILL):
        try:
            os.killpg(process.pid, sent)
        except ProcessLookupError:
            return
        try:
            process.wait(timeout=20)
            return
        except subprocess.TimeoutExpired:
            continue


def pipeline_environment(landing: Path, lake: Path, spark_master: str = "local[2]") -> dict[str, str]:
    """The Makefile's environment for a CLI run over ``landing`` into ``lake``."""
    env = dict(os.environ)
    env.update(
        EMODRIFT_LANDING=str(landing),
        EMODRIFT_LAKE=str(lake),
        EMODRIFT_SPARK_MASTER=spark_master,
        EMODRIFT_SHUFFLE_PARTITIONS="2",
        PATH=f"{BIN}:{env.get('PATH', '')}",
        PYSPARK_PYTHON=sys.executable,
        PYSPARK_DRIVER_PYTHON=sys.executable,
        SPARK_LOCAL_IP="127.0.0.1",
        HF_HUB_OFFLINE="1",
        TRANSFORMERS_OFFLINE="1",
    )
    return env


def emodrift(env: dict[str, str], *args: str, timeout_s: int = 1800) -> str:
    result = subprocess.run([str(BIN / "emodrift"), *args], env=env, capture_output=True, text=True, timeout=timeout_s)
    assert result.returncode == 0, f"emodrift {' '.join(args)} failed:\n{result.stdout[-3000:]}\n{result.stderr[-3000:]}"
    return result.stdout


def sample_dates(count: int = SAMPLE_DAYS) -> tuple[str, str]:
    first = pd.Timestamp(SAMPLE_START)
    return SAMPLE_START, (first + pd.Timedelta(days=count - 1)).strftime("%Y-%m-%d")


# Each table with the columns that identify a row; partition columns come back as strings.
TABLE_KEYS: dict[str, list[str]] = {
    "posts": ["landing_dt", "post_id"],
    "quarantine": ["landing_dt", "source_file", "line_number"],
    "scores": ["landing_dt", "post_id"],
    "sequences": ["dt", "user_id", "day"],
    "transitions": ["dt", "user_id", "changed_at"],
}
# Model outputs may differ in the last float bits when the batches are cut differently
# (another partitioning, another number of cores); everything else must match exactly.
FLOAT_TOLERANCE = 1e-5


def read_lake_table(lake: Path, table: str, last_day: str | None = None) -> pd.DataFrame:
    """A table as plain values, sorted by its key; only partitions up to ``last_day``."""
    path = lake / table
    if not path.exists():
        return pd.DataFrame()
    frame = pd.read_parquet(path)
    for column in frame.columns:
        if isinstance(frame[column].dtype, pd.CategoricalDtype):
            frame[column] = frame[column].astype(str)
    if last_day is not None:
        partition = "landing_dt" if "landing_dt" in frame.columns else "dt"
        frame = frame[frame[partition] <= last_day]
    keys = [key for key in TABLE_KEYS[table] if key in frame.columns]
    return frame.sort_values(keys).reset_index(drop=True)


def _missing(value: object) -> bool:
    return value is None or value is pd.NaT or (isinstance(value, float) and value != value)


def assert_same_cell(expected: object, actual: object, where: str) -> None:
    if hasattr(expected, "tolist"):
        expected = expected.tolist()
    if hasattr(actual, "tolist"):
        actual = actual.tolist()
    if _missing(expected) or _missing(actual):
        assert _missing(expected) and _missing(actual), f"{where}: {expected!r} != {actual!r}"
    elif isinstance(expected, float) and isinstance(actual, float):
        assert abs(expected - actual) <= FLOAT_TOLERANCE, f"{where}: {expected} != {actual}"
    elif isinstance(expected, list) and isinstance(actual, list):
        assert len(expected) == len(actual), f"{where}: lengths {len(expected)} != {len(actual)}"
        for position, (left, right) in enumerate(zip(expected, actual)):
            assert_same_cell(left, right, f"{where}[{position}]")
    else:
        assert expected == actual, f"{where}: {expected!r} != {actual!r}"


def assert_same_lake(expected_lake: Path, actual_lake: Path, last_day: str | None = None) -> dict[str, int]:
    """Every table holds the same rows (floats within FLOAT_TOLERANCE); returns row counts."""
    counts = {}
    for table in TABLE_KEYS:
        expected = read_lake_table(expected_lake, table, last_day)
        actual = read_lake_table(actual_lake, table, last_day)
        assert sorted(expected.columns) == sorted(actual.columns), f"{table}: columns differ"
        assert len(expected) == len(actual), f"{table}: {len(expected)} rows expected, {len(actual)} found"
        for column in expected.columns:
            for row, (left, right) in enumerate(zip(expected[column], actual[column])):
                assert_same_cell(left, right, f"{table}.{column} row {row}")
        counts[table] = len(expected)
    return counts


@pytest.fixture(scope="session")
def integration_root() -> Iterator[Path]:
    # Under /tmp with open permissions: the PostgreSQL server runs as another user.
    root = Path(tempfile.mkdtemp(prefix="emodrift-integration-"))
    root.chmod(0o755)
    yield root
    shutil.rmtree(root, ignore_errors=True)


@pytest.fixture(scope="session")
def sample_landing(integration_root: Path) -> Path:
    """One sample landing folder for every test here (7 days, 10 users, planted changes)."""
    landing = integration_root / "landing"
    env = pipeline_environment(landing, integration_root / "unused-lake")
    emodrift(env, "sample", "--users", str(SAMPLE_USERS), "--days", str(SAMPLE_DAYS), "--seed", str(SAMPLE_SEED),
             "--start", SAMPLE_START)
    return landing


@pytest.fixture(scope="session")
def reference_lake(integration_root: Path, sample_landing: Path) -> Path:
    """``emodrift backfill`` over every sample day in Spark local mode: the rows to match."""
    lake = integration_root / "reference-lake"
    first, last = sample_dates()
    emodrift(pipeline_environment(sample_landing, lake), "backfill", "--start", first, "--end", last)
    return lake


@pytest.fixture(scope="session")
def spark_standalone(integration_root: Path) -> Iterator[str]:
    """A Spark standalone master and two one-core workers on 127.0.0.1; yields the master URL."""
    if os.environ.get("EMODRIFT_TEST_CLUSTER") != "1":
        pytest.skip("Spark standalone cluster test: set EMODRIFT_TEST_CLUSTER=1 to run it (.ci/run does)")
    import pyspark

    spark_class = Path(pyspark.__file__).parent / "bin" / "spark-class"
    logs = integration_root / "spark-logs"
    logs.mkdir()
    env = dict(os.environ, SPARK_LOCAL_IP="127.0.0.1", SPARK_LOG_DIR=str(logs), PYSPARK_PYTHON=sys.executable)
    port, web_port = free_port(), free_port()
    processes: list[subprocess.Popen] = []

    def start(name: str, *arguments: str) -> Path:
        log = logs / f"{name}.log"
        processes.append(subprocess.Popen(
            [str(spark_class), *arguments], env=env, stdout=log.open("w"), stderr=subprocess.STDOUT,
            start_new_session=True,
        ))
        return log

    try:
        master_log = start("master", "org.apache.spark.deploy.master.Master", "--host", "127.0.0.1",
                           "--port", str(port), "--webui-port", str(web_port))
        wait_until(lambda: port_open(port), 120, "Spark master", master_log)
        url = f"spark://127.0.0.1:{port}"
        for number in (1, 2):
            start(f"worker-{number}", "org.apache.spark.deploy.worker.Worker", url, "--host", "127.0.0.1",
                  "--cores", "1", "--memory", "2g", "--webui-port", str(free_port()),
                  "--work-dir", str(integration_root / f"worker-{number}"))

        def two_workers_alive() -> bool:
            # the master logs each registration; its web UI's JSON needs extra settings
            return master_log.read_text(errors="replace").count("Registering worker") >= 2

        wait_until(two_workers_alive, 120, "two Spark workers", master_log)
        yield url
    finally:
        for process in reversed(processes):
            stop_group(process)


def _postgres_binary(name: str) -> str:
    found = shutil.which(name) or next(iter(sorted(glob.glob(f"/usr/lib/postgresql/*/bin/{name}"), reverse=True)), None)
    if found is None:
        pytest.skip(f"PostgreSQL's {name} not found: apt-get install postgresql (.ci/run does)")
    return found


@pytest.fixture(scope="session")
def postgres_url(integration_root: Path) -> Iterator[str]:
    """A throw-away PostgreSQL server on 127.0.0.1 with database ``airflow``; yields its URL."""
    if os.environ.get("EMODRIFT_TEST_POSTGRES") != "1":
        pytest.skip("Airflow-on-PostgreSQL test: set EMODRIFT_TEST_POSTGRES=1 to run it (.ci/run does)")
    initdb, pg_ctl = _postgres_binary("initdb"), _postgres_binary("pg_ctl")
    data = integration_root / "pgdata"
    data.mkdir(mode=0o700)
    log = integration_root / "postgres.log"
    as_server_user: list[str] = []
    if os.geteuid() == 0:  # PostgreSQL refuses to run as root: use the package's system user
        owner = pwd.getpwnam("postgres")
        os.chown(data, owner.pw_uid, owner.pw_gid)
        log.touch()
        os.chown(log, owner.pw_uid, owner.pw_gid)
        as_server_user = ["runuser", "-u", "postgres", "--"]
    port = free_port()

    def run(*command: str) -> None:
        result = subprocess.run([*as_server_user, *command], capture_output=True, text=True, timeout=120)
        assert result.returncode == 0, f"{' '.join(command)} failed:\n{result.stdout}\n{result.stderr}"

    run(initdb, "-D", str(data), "-U", "airflow", "-A", "trust", "--no-instructions")
    run(pg_ctl, "-D", str(data), "-l", str(log), "-w", "-t", "60", "start",
        "-o", f"-p {port} -k {data} -c listen_addresses=127.0.0.1 -c fsync=off")
    try:
        run("psql", "-h", "127.0.0.1", "-p", str(port), "-U", "airflow", "-d", "postgres", "-c", "CREATE DATABASE airflow")
        yield f"postgresql+psycopg2://airflow@127.0.0.1:{port}/airflow"
    finally:
        subprocess.run([*as_server_user, pg_ctl, "-D", str(data), "-m", "fast", "-w", "stop"],
                       capture_output=True, timeout=120)


# Test modules cannot import each other under --import-mode=importlib: the helpers reach the
# tests as fixtures.
@pytest.fixture(scope="session")
def run_emodrift():
    """``run_emodrift(landing, lake, *args, spark_master=...)`` runs the CLI, returns stdout."""

    def run(landing: Path, lake: Path, *args: str, spark_master: str = "local[2]") -> str:
        return emodrift(pipeline_environment(landing, lake, spark_master), *args)

    return run


@pytest.fixture(scope="session")
def same_lake():
    """``same_lake(expected, actual, last_day=None)``: assert equal tables, return row counts."""
    return assert_same_lake
