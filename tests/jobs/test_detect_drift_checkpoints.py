"""The drift job's warm start: the last earlier checkpoint seeds the fit, one of another
architecture is refused with a line on stderr (the fit then starts fresh). No Spark needed."""

from __future__ import annotations

import datetime as dt

import torch

from jobs.detect_drift import save_checkpoint, warm_start_model
from models.temporal.inference import model_version
from models.temporal.network import TemporalLSTM


def test_warm_start_reads_the_last_earlier_checkpoint_and_refuses_an_old_architecture(tmp_settings, capsys) -> None:
    from safetensors.torch import save_file

    night = dt.date(2026, 1, 10)
    assert warm_start_model(tmp_settings, night) is None
    model = TemporalLSTM(hidden_dim=4)
    save_checkpoint(tmp_settings, night - dt.timedelta(days=2), model)
    loaded = warm_start_model(tmp_settings, night)
    assert loaded is not None and model_version(loaded) == model_version(model)
    assert warm_start_model(tmp_settings, night - dt.timedelta(days=2)) is None  # strictly before the night

    # a later checkpoint written by the first version of the network (no architecture name)
    folder = tmp_settings.lake / "temporal_checkpoints" / "dt=2026-01-09"
    folder.mkdir(parents=True)
    save_file({"head.bias": torch.zeros(7)}, str(folder / "temporal-lstm-h16-0123456789ab.safetensors"),
              metadata={"num_labels": "7", "hidden_dim": "16", "num_layers": "1", "extra_features": "1", "mean_floor": "0.01"})
    assert warm_start_model(tmp_settings, night) is None
    error = capsys.readouterr().err
    assert "not warm-starting" in error and "fresh initialisation" in error and "dt=2026-01-09" in error
