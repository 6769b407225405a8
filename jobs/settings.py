"""One settings object for every stage, read once at the edge (environment, then CLI flags).

Jobs receive a :class:`Settings` and pass plain values further down; nothing below the edge
reads the environment.
"""

from __future__ import annotations

import argparse
import dataclasses
import datetime
import os
from collections.abc import Mapping
from pathlib import Path

PACKAGE_ROOT = Path(__file__).resolve().parent.parent
DEFAULT_TEXT_MODEL = PACKAGE_ROOT / "models" / "weights" / "text"
DEFAULT_IMAGE_MODEL = PACKAGE_ROOT / "models" / "weights" / "image"


@dataclasses.dataclass(frozen=True)
class Settings:
    """Where data lives, which Spark to use and how to run the models.

    Every field has an environment variable (``EMODRIFT_<FIELD>``) and a CLI flag
    (``--<field-with-dashes>``); the flag wins over the environment, the environment over
    the default.
    """

    landing: Path = Path("./landing")
    lake: Path = Path("./lake")
    spark_master: str = "local[*]"
    text_model: Path = DEFAULT_TEXT_MODEL
    image_model: Path = DEFAULT_IMAGE_MODEL
    score_batch_size: int = 256
    drift_lookback_days: int = 60
    shared_data: Path = Path("../shared/data")
    pseudonym_salt: str = "emodrift"
    device: str = "auto"
    shuffle_partitions: int = 8
    earliest_created_at: str = "2000-01-01"
    opt_out_list: str = ""
    retention_days: int = 0

    def __post_init__(self) -> None:
        if self.score_batch_size <= 0:
            raise ValueError(f"score_batch_size must be > 0, got {self.score_batch_size}")
        if self.drift_lookback_days < 2:
            raise ValueError(f"drift_lookback_days must be >= 2, got {self.drift_lookback_days}")
        if self.device not in {"auto", "cpu", "cuda"}:
            raise ValueError(f"device must be one of auto, cpu, cuda; got {self.device!r}")
        if self.shuffle_partitions <= 0:
            raise ValueError(f"shuffle_partitions must be > 0, got {self.shuffle_partitions}")
        try:
            earliest = datetime.date.fromisoformat(self.earliest_created_at)
        except ValueError as error:
            raise ValueError(f"earliest_created_at is a YYYY-MM-DD date, got {self.earliest_created_at!r}") from error
        if earliest.year < 1900:  # Arrow/pandas nanosecond timestamps start in 1677
            raise ValueError(f"earliest_created_at must be 1900-01-01 or later, got {self.earliest_created_at}")
        if self.retention_days < 0:
            raise ValueError(f"retention_days must be >= 0 (0 keeps everything), got {self.retention_days}")

    @property
    def earliest_created_date(self) -> datetime.date:
        """``earliest_created_at`` as a date: posts stamped before it are implausible."""
        return datetime.date.fromisoformat(self.earliest_created_at)

    @property
    def opt_out_path(self) -> Path | None:
        """The file of opted-out user ids (one a line), or None when none is configured."""
        return Path(self.opt_out_list) if self.opt_out_list else None

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None, **overrides: object) -> Settings:
        """Build settings from ``EMODRIFT_*`` variables, then apply explicit overrides."""
        environ = os.environ if environ is None else environ
        values: dict[str, object] = {}
        for field in dataclasses.fields(cls):
            raw = environ.get(f"EMODRIFT_{field.name.upper()}")
            if raw is not None and raw != "":
                values[field.name] = _convert(field, raw)
        for name, value in overrides.items():
            if value is not None:
                values[name] = _convert(_field(name), value) if isinstance(value, str) else value
        return cls(**values)

    @classmethod
    def add_arguments(cls, parser: argparse.ArgumentParser) -> None:
        """Add one ``--flag`` per field; unset flags fall back to the environment."""
        group = parser.add_argument_group(
            "settings", "each flag overrides its EMODRIFT_<NAME> environment variable"
        )
        for field in dataclasses.fields(cls):
            flag = "--" + field.name.replace("_", "-")
            group.add_argument(
                flag,
                dest=f"setting_{field.name}",
                default=None,
                metavar=field.name.upper(),
                help=f"(env EMODRIFT_{field.name.upper()}, default {field.default})",
            )

    @classmethod
    def from_args(cls, args: argparse.Namespace, environ: Mapping[str, str] | None = None) -> Settings:
        """Settings from parsed arguments (see :meth:`add_arguments`) over the environment."""
        overrides = {
            field.name: getattr(args, f"setting_{field.name}", None) for field in dataclasses.fields(cls)
        }
        return cls.from_env(environ, **overrides)

    def table_path(self, table: str) -> Path:
        """Folder of one lake table, e.g. ``lake/posts``."""
        return self.lake / table

    def to_argv(self) -> list[str]:
        """The CLI flags that reproduce these settings in another process (spark-submit)."""
        argv: list[str] = []
        for field in dataclasses.fields(self):
            argv += ["--" + field.name.replace("_", "-"), str(getattr(self, field.name))]
        return argv


def _field(name: str) -> dataclasses.Field:
    for field in dataclasses.fields(Settings):
        if field.name == name:
            return field
    raise ValueError(f"unknown setting {name!r}")


def _convert(field: dataclasses.Field, raw: str) -> object:
    kind = field.type if isinstance(field.type, str) else field.type.__name__
    try:
        if kind == "int":
            return int(raw)
        if kind == "Path":
            return Path(raw)
    except ValueError as error:
        raise ValueError(
            f"setting {field.name} expects an integer, got {raw!r} "
            f"(check EMODRIFT_{field.name.upper()} or --{field.name.replace('_', '-')})"
        ) from error
    return raw
