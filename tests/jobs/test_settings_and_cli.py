import argparse
from pathlib import Path

import pytest

from jobs.cli import main as cli_main
from jobs.cli import resolve
from jobs.settings import Settings


def test_environment_then_flags_win():
    environment = {"EMODRIFT_LAKE": "/env/lake", "EMODRIFT_LANDING": "/env/landing", "EMODRIFT_SPARK_MASTER": "spark://h:7077"}
    parser = argparse.ArgumentParser()
    Settings.add_arguments(parser)
    settings = Settings.from_args(parser.parse_args(["--lake", "/flag/lake"]), environment)
    assert settings.lake == Path("/flag/lake")
    assert settings.landing == Path("/env/landing")
    assert settings.spark_master == "spark://h:7077"


def test_defaults():
    settings = Settings.from_env({})
    assert settings.landing == Path("./landing")
    assert settings.lake == Path("./lake")
    assert settings.spark_master == "local[*]"


def test_bad_values_name_the_setting():
    with pytest.raises(ValueError, match="score_batch_size"):
        Settings.from_env({"EMODRIFT_SCORE_BATCH_SIZE": "many"})
    with pytest.raises(ValueError, match="device"):
        Settings(device="tpu")


def test_settings_round_trip_through_argv():
    settings = Settings(lake=Path("/x/lake"), score_batch_size=64)
    parser = argparse.ArgumentParser()
    Settings.add_arguments(parser)
    assert Settings.from_args(parser.parse_args(settings.to_argv()), {}) == settings


def test_cli_resolves_two_word_commands():
    assert resolve(["train", "text", "--epochs", "1"]) == ("jobs.commands.text:train_main", ["--epochs", "1"])
    assert resolve(["ingest", "--date", "2026-01-01"])[0] == "jobs.ingest:main"
    assert resolve(["frobnicate"]) is None


def test_cli_help_and_unknown_command(capsys):
    assert cli_main(["--help"]) == 0
    assert "backfill" in capsys.readouterr().out
    assert cli_main(["frobnicate"]) == 2
    assert "unknown command" in capsys.readouterr().err
