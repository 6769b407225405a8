"""Using a fitted temporal LSTM: its inputs, next-day predictions, surprise, and its state.

The network (:class:`models.temporal.network.TemporalLSTM`) only computes; this module turns a
user's daily distributions into its inputs, reads predictions and per-day surprise out of it,
and moves its weights (safetensors on disk, plain numpy arrays for broadcasting to Spark
workers). Fitting lives in :mod:`models.temporal.training`.
"""

from __future__ import annotations

import dataclasses
import hashlib
from pathlib import Path

import numpy as np
import torch

from models.temporal.network import ARCHITECTURE, TemporalLSTM

PROBABILITY_FLOOR = 1e-6


@dataclasses.dataclass(frozen=True)
class TemporalConfig:
    """The plain numbers that rebuild a :class:`TemporalLSTM` (saved beside its weights)."""

    num_labels: int = 7
    hidden_dim: int = 16
    num_layers: int = 1
    extra_features: int = 2
    mean_floor: float = 1e-4
    architecture: str = ARCHITECTURE

    @classmethod
    def of(cls, model: TemporalLSTM) -> TemporalConfig:
        return cls(model.num_labels, model.hidden_dim, model.num_layers, model.extra_features, model.mean_floor)


class IncompatibleCheckpoint(ValueError):
    """A saved temporal model of another architecture (or without one): it cannot be loaded
    into this code's network; fit a fresh one instead."""


def sequence_inputs(
    sequence: np.ndarray,
    day_gaps: np.ndarray | None = None,
    post_counts: np.ndarray | None = None,
) -> np.ndarray:
    """Network inputs for one user: each day's distribution, log(gap to the next day) and
    log(1 + posts that day).

    A day of one post is a noisy reading of a user's mood and a day of ten a good one: the
    network's smoothing moves its level by a gain that depends on the count, and the LSTM
    reads it too.

    Args:
        sequence: (T, num_labels) daily distributions.
        day_gaps: (T,) days since the previous day with posts (``UserSequence.day_gaps``);
            None means consecutive days.
        post_counts: (T,) posts per day; None counts one post a day.

    Returns:
        (T - 1, num_labels + 2) inputs; row t predicts day t + 1.
    """
    length = sequence.shape[0]
    gaps = np.ones(length) if day_gaps is None else np.asarray(day_gaps, dtype=np.float64)
    counts = np.ones(length) if post_counts is None else np.maximum(np.asarray(post_counts, dtype=np.float64), 1.0)
    if gaps.shape != (length,) or counts.shape != (length,):
        raise ValueError(f"day_gaps and post_counts must have shape ({length},), got {gaps.shape} and {counts.shape}")
    next_gap = np.log(np.maximum(gaps[1:], 1.0))[:, None]
    return np.concatenate([sequence[:-1], next_gap, np.log1p(counts[:-1])[:, None]], axis=1).astype(np.float32)


def normalised(sequence: np.ndarray) -> np.ndarray:
    """Rows clipped at 0 and scaled to sum to 1 (a (T, num_labels) array)."""
    array = np.asarray(sequence, dtype=np.float64)
    if array.ndim != 2:
        raise ValueError(f"a sequence must have shape (T, num_labels), got {array.shape}")
    array = np.clip(array, 0.0, None)
    return array / np.maximum(array.sum(axis=1, keepdims=True), PROBABILITY_FLOOR)


@torch.no_grad()
def predict_next(
    model: TemporalLSTM, sequence: np.ndarray, day_gaps: np.ndarray | None = None, post_counts: np.ndarray | None = None
) -> np.ndarray:
    """Predicted distributions of days 1..T-1 of one user, (T - 1, num_labels)."""
    parameter = next(model.parameters())
    features = sequence_inputs(normalised(sequence), day_gaps, post_counts)
    inputs = torch.from_numpy(features).to(parameter.device)
    return torch.softmax(model(inputs[None]), dim=-1)[0].cpu().double().numpy()


def forecast_and_surprise(
    model: TemporalLSTM, sequence: np.ndarray, day_gaps: np.ndarray | None = None, post_counts: np.ndarray | None = None
) -> tuple[np.ndarray, np.ndarray]:
    """Each day's forecast from the days before it, and how unexpected the day was.

    Args:
        model: a fitted :class:`TemporalLSTM`.
        sequence: (T, num_labels) daily distributions of one user.
        day_gaps: optional (T,) gaps in days.
        post_counts: optional (T,) posts per day.

    Returns:
        ``(forecast, surprise)``: (T, num_labels) predicted distribution of each day made from
        the user's earlier days only (the network is causal), and (T,) KL(observed ||
        forecast) in nats; row / entry 0 is NaN (nothing precedes the first day). KL rather
        than cross-entropy, so a day of diffuse but expected feelings does not look surprising.
    """
    observed = normalised(sequence)
    forecast = np.full(observed.shape, np.nan)
    surprise = np.full(len(observed), np.nan)
    if len(observed) < 2:
        return forecast, surprise
    forecast[1:] = predict_next(model, observed, day_gaps, post_counts)
    predicted = np.maximum(forecast[1:], PROBABILITY_FLOOR)
    target = observed[1:]
    safe_target = np.maximum(target, PROBABILITY_FLOOR)
    surprise[1:] = np.sum(np.where(target > 0, target * np.log(safe_target / predicted), 0.0), axis=1)
    return forecast, surprise


def step_surprise(
    model: TemporalLSTM, sequence: np.ndarray, day_gaps: np.ndarray | None = None, post_counts: np.ndarray | None = None
) -> np.ndarray:
    """How unexpected each day was: the surprise of :func:`forecast_and_surprise` ((T,), NaN first)."""
    return forecast_and_surprise(model, sequence, day_gaps, post_counts)[1]


def mean_kl(predicted: np.ndarray, observed: np.ndarray) -> float:
    """Mean KL(observed || predicted) over rows of two (N, C) arrays of distributions."""
    predicted = np.maximum(predicted, PROBABILITY_FLOOR)
    predicted = predicted / predicted.sum(axis=1, keepdims=True)
    safe = np.maximum(observed, PROBABILITY_FLOOR)
    return float(np.mean(np.sum(np.where(observed > 0, observed * np.log(safe / predicted), 0.0), axis=1)))


def model_state(model: TemporalLSTM) -> dict[str, np.ndarray]:
    """The weights as CPU numpy arrays (picklable, small: what a Spark broadcast carries)."""
    return {name: tensor.detach().cpu().numpy().copy() for name, tensor in model.state_dict().items()}


def build_temporal_model(config: TemporalConfig, state: dict[str, np.ndarray], device: str = "cpu") -> TemporalLSTM:
    """Rebuild a fitted model from :func:`model_state` output, in eval mode, on ``device``."""
    if config.architecture != ARCHITECTURE:
        raise IncompatibleCheckpoint(f"weights of architecture {config.architecture!r}, this code builds {ARCHITECTURE!r}")
    model = TemporalLSTM(config.num_labels, config.hidden_dim, config.num_layers, config.extra_features, config.mean_floor)
    model.load_state_dict({name: torch.from_numpy(np.asarray(array)) for name, array in state.items()})
    return model.to(device).eval()


def model_version(model: TemporalLSTM) -> str:
    """A short stable name for fitted weights: architecture plus a hash of the parameters."""
    digest = hashlib.sha256()
    for name, array in sorted(model_state(model).items()):
        digest.update(name.encode())
        digest.update(np.ascontiguousarray(array, dtype=np.float32).tobytes())
    return f"temporal-lstm-v2-h{model.hidden_dim}-{digest.hexdigest()[:12]}"


def save_temporal_model(model: TemporalLSTM, path: Path) -> None:
    """Write weights and their config to one safetensors file."""
    from safetensors.torch import save_file

    config = TemporalConfig.of(model)
    metadata = {field.name: str(getattr(config, field.name)) for field in dataclasses.fields(config)}
    save_file({name: tensor.detach().cpu().contiguous() for name, tensor in model.state_dict().items()},
              str(path), metadata=metadata)


def load_temporal_model(path: Path, device: str = "cpu") -> TemporalLSTM:
    """Read a model written by :func:`save_temporal_model`."""
    from safetensors import safe_open

    with safe_open(str(path), framework="np") as handle:
        metadata = handle.metadata() or {}
        state = {name: handle.get_tensor(name) for name in handle.keys()}
    if metadata.get("architecture") != ARCHITECTURE:
        raise IncompatibleCheckpoint(
            f"{path} holds a temporal model of architecture {metadata.get('architecture', 'v1 (unnamed)')!r}, "
            f"this code builds {ARCHITECTURE!r}"
        )
    try:
        # Annotations are strings here (postponed evaluation), hence the name comparison.
        converters = {"int": int, "float": float, "str": str}
        config = TemporalConfig(
            **{field.name: converters[field.type](metadata[field.name]) for field in dataclasses.fields(TemporalConfig)}
        )
    except (KeyError, TypeError, ValueError) as error:
        raise IncompatibleCheckpoint(f"{path} has no temporal model config in its metadata: {metadata}") from error
    return build_temporal_model(config, state, device)
