"""Checks a stage makes on the driver before it reads or writes any data."""

from __future__ import annotations

from pathlib import Path

from jobs.settings import Settings


class ModelUnavailableError(FileNotFoundError):
    """A model folder is missing, incomplete or corrupt; no partition was touched."""


def check_models(settings: Settings) -> dict[str, str]:
    """Load both scoring models on the driver (CPU) and return their versions.

    The executors load the same folders; a missing or corrupt file found here fails the score
    stage with one clear sentence before Spark starts a task or any partition is touched,
    instead of a worker stack trace half-way through the day. Loaded models are cached per
    process, so the local-mode workers' own loads do not pay twice.

    Raises:
        ModelUnavailableError: which model, which folder, and the loader's reason.
    """
    from models.image.inference import load_image_scorer
    from models.text.inference import load_text_scorer

    versions = {}
    for kind, folder, loader, variable in (
        ("text", settings.text_model, load_text_scorer, "EMODRIFT_TEXT_MODEL"),
        ("image", settings.image_model, load_image_scorer, "EMODRIFT_IMAGE_MODEL"),
    ):
        try:
            versions[kind] = loader(Path(folder), "cpu").version
        except Exception as error:  # noqa: BLE001 — safetensors, JSON, torch and OS errors alike
            reason = str(error).splitlines()[0][:300] if str(error) else type(error).__name__
            raise ModelUnavailableError(
                f"{kind} model at {folder} cannot be loaded ({type(error).__name__}: {reason}); "
                f"nothing was scored or written: restore the model folder or point {variable} / "
                f"--{kind}-model at a valid one"
            ) from error
    return versions
