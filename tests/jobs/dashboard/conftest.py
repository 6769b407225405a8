"""Lakes for the dashboard tests: small synthetic ones (fast, known truth). The browser test uses
the session's shared real sample lake (``sample_pipeline`` in tests/conftest.py)."""

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
