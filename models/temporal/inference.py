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


# Users per network call: one call per user cost ~4 ms of Python around the base forecaster's
# day loop, most of the drift job's sequences pass at 100,000 users; a bucket's users go together.
USERS_PER_CALL = 512


@torch.no_grad()
def predict_next_many(
    model: TemporalLSTM,
    sequences: list[np.ndarray],
    day_gaps: list[np.ndarray | None] | None = None,
    post_counts: list[np.ndarray | None] | None = None,
) -> list[np.ndarray]:
    """:func:`predict_next` of several users, up to :data:`USERS_PER_CALL` per network call.

    Shorter users are padded at the end with zeros (a gap of one day, one post): the network
    is causal, so padding never changes a user's own predictions.

    Returns:
        One (T_i - 1, num_labels) array per user, in the order given ((0, num_labels) for a
        one-day user).
    """
    count = len(sequences)
    day_gaps = [None] * count if day_gaps is None else list(day_gaps)
    post_counts = [None] * count if post_counts is None else list(post_counts)
    if len(day_gaps) != count or len(post_counts) != count:
        raise ValueError(f"day_gaps and post_counts must have one entry per sequence ({count})")
    parameter = next(model.parameters())
    features = [
        sequence_inputs(normalised(sequence), gaps, counts)
        for sequence, gaps, counts in zip(sequences, day_gaps, post_counts, strict=True)
    ]
    results: list[np.ndarray] = []
    for start in range(0, count, USERS_PER_CALL):
        chunk = features[start:start + USERS_PER_CALL]
        steps = max(len(rows) for rows in chunk)
        if steps == 0:
            results += [np.zeros((0, model.num_labels)) for _ in chunk]
            continue
        padded = np.zeros((len(chunk), steps, chunk[0].shape[1]), dtype=np.float32)
        for index, rows in enumerate(chunk):
            padded[index, : len(rows)] = rows
        predicted = torch.softmax(model(torch.from_numpy(padded).to(parameter.device)), dim=-1).cpu().double().numpy()
        results += [predicted[index, : len(rows)] for index, rows in enumerate(chunk)]
    return results


def predict_next(
    model: TemporalLSTM, sequence: np.ndarray, day_gaps: np.ndarray | None = None, post_counts: np.ndarray | None = None
) -> np.ndarray:
    """Predicted distributions of days 1..T-1 of one user, (T - 1, num_labels)."""
    return predict_next_many(model, [sequence], [day_gaps], [post_counts])[0]


def forecasts_and_surprises(
    model: TemporalLSTM,
    sequences: list[np.ndarray],
    day_gaps: list[np.ndarray | None] | None = None,
    post_counts: list[np.ndarray | None] | None = None,
) -> list[tuple[np.ndarray, np.ndarray]]:
    """:func:`forecast_and_surprise` of several users (one network call per
    :data:`USERS_PER_CALL` of them): what the drift job runs on a bucket of users."""
    observed = [normalised(sequence) for sequence in sequences]
    predicted = predict_next_many(model, observed, day_gaps, post_counts)
    results = []
    for days, next_days in zip(observed, predicted, strict=True):
        forecast = np.full(days.shape, np.nan)
        surprise = np.full(len(days), np.nan)
        if len(days) >= 2:
            forecast[1:] = next_days
            floored = np.maximum(next_days, PROBABILITY_FLOOR)
            target = days[1:]
            safe_target = np.maximum(target, PROBABILITY_FLOOR)
            surprise[1:] = np.sum(np.where(target > 0, target * np.log(safe_target / floored), 0.0), axis=1)
        results.append((forecast, surprise))
    return results


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
    return forecasts_and_surprises(model, [sequence], [day_gaps], [post_counts])[0]


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
