"""Fitting the temporal LSTM over a cohort, scoring per-day surprise, and moving its weights.

The network (:class:`models.temporal.network.TemporalLSTM`) only computes; this module owns
the training loop, the loss, the surprise metric and the state (safetensors on disk, plain
numpy arrays for broadcasting to Spark workers).
"""

from __future__ import annotations

import dataclasses
import hashlib
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

from models.temporal.network import TemporalLSTM

PROBABILITY_FLOOR = 1e-6


@dataclasses.dataclass(frozen=True)
class TemporalConfig:
    """The plain numbers that rebuild a :class:`TemporalLSTM` (saved beside its weights)."""

    num_labels: int = 7
    hidden_dim: int = 16
    num_layers: int = 1
    extra_features: int = 1
    mean_floor: float = 0.01

    @classmethod
    def of(cls, model: TemporalLSTM) -> TemporalConfig:
        return cls(model.num_labels, model.hidden_dim, model.num_layers, model.extra_features, model.mean_floor)


def sequence_inputs(sequence: np.ndarray, day_gaps: np.ndarray | None = None) -> np.ndarray:
    """Network inputs for one user: each day's distribution, the mean of the days so far and
    log(gap to the next day).

    Args:
        sequence: (T, num_labels) daily distributions.
        day_gaps: (T,) days since the previous day with posts (``UserSequence.day_gaps``);
            None means consecutive days.

    Returns:
        (T - 1, 2 * num_labels + 1) inputs; row t predicts day t + 1.
    """
    length = sequence.shape[0]
    gaps = np.ones(length) if day_gaps is None else np.asarray(day_gaps, dtype=np.float64)
    if gaps.shape != (length,):
        raise ValueError(f"day_gaps must have shape ({length},), got {gaps.shape}")
    next_gap = np.log(np.maximum(gaps[1:], 1.0))[:, None]
    history_mean = np.cumsum(sequence, axis=0)[:-1] / np.arange(1, length)[:, None]
    return np.concatenate([sequence[:-1], history_mean, next_gap], axis=1).astype(np.float32)


def _normalised(sequence: np.ndarray) -> np.ndarray:
    array = np.asarray(sequence, dtype=np.float64)
    if array.ndim != 2:
        raise ValueError(f"a sequence must have shape (T, num_labels), got {array.shape}")
    array = np.clip(array, 0.0, None)
    return array / np.maximum(array.sum(axis=1, keepdims=True), PROBABILITY_FLOOR)


def _pad_batch(
    sequences: Sequence[np.ndarray], gaps: Sequence[np.ndarray | None], device: str
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Stack users into (inputs (B, L, F), targets (B, L, C), mask (B, L)), padded at the end."""
    steps = max(len(sequence) - 1 for sequence in sequences)
    labels = sequences[0].shape[1]
    inputs = np.zeros((len(sequences), steps, 2 * labels + 1), dtype=np.float32)
    targets = np.zeros((len(sequences), steps, labels), dtype=np.float32)
    mask = np.zeros((len(sequences), steps), dtype=np.float32)
    for row, (sequence, day_gaps) in enumerate(zip(sequences, gaps)):
        length = len(sequence) - 1
        inputs[row, :length] = sequence_inputs(sequence, day_gaps)
        targets[row, :length] = sequence[1:]
        mask[row, :length] = 1.0
    return torch.from_numpy(inputs).to(device), torch.from_numpy(targets).to(device), torch.from_numpy(mask).to(device)


def soft_cross_entropy(logits: torch.Tensor, targets: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """Mean cross-entropy of predicted vs observed distributions over the unmasked steps.

    Shapes: logits, targets (B, L, C); mask (B, L). Cross-entropy and KL differ by the
    targets' entropy, a constant for the model, so minimising one minimises the other.
    """
    per_step = -(targets * F.log_softmax(logits, dim=-1)).sum(dim=-1)
    return (per_step * mask).sum() / mask.sum().clamp(min=1.0)


def fit_temporal_model(
    sequences: list[np.ndarray],
    *,
    day_gaps: list[np.ndarray] | None = None,
    hidden_dim: int = 16,
    epochs: int = 40,
    learning_rate: float = 0.02,
    batch_size: int = 256,
    max_users: int = 2000,
    max_length: int = 60,
    seed: int = 0,
    device: str = "cpu",
    num_threads: int = 1,
) -> TemporalLSTM:
    """Fit the LSTM to predict each next day's distribution over a cohort of users.

    Deterministic for a given input and seed on CPU: ``torch.manual_seed(seed)``, a fixed
    thread count and a seeded order of minibatches. Big cohorts are capped: at most
    ``max_users`` users, drawn with a seeded generator (so pass sequences in a stable order,
    e.g. sorted by user), and each user's last ``max_length`` days.

    Args:
        sequences: one (T_i, num_labels) array of daily distributions per user; users with
            fewer than 2 days teach nothing and are skipped.
        day_gaps: optional per-user (T_i,) gaps in days (see :func:`sequence_inputs`).
        hidden_dim: LSTM hidden size.
        epochs: passes over the (capped) cohort.
        learning_rate: Adam step size.
        batch_size: users per optimisation step.
        max_users: cap on users used for fitting.
        max_length: cap on days per user used for fitting (the most recent are kept).
        seed: seeds initialisation, user sampling and batch order.
        device: ``"cpu"`` or ``"cuda"``; the caller decides (see ``Settings.device``).
        num_threads: torch CPU threads while fitting (restored afterwards).

    Returns:
        The fitted model in eval mode, on ``device``.

    Raises:
        ValueError: no user has 2 or more days, or arguments out of range.
    """
    for name, value in (("hidden_dim", hidden_dim), ("epochs", epochs), ("batch_size", batch_size),
                        ("max_users", max_users), ("num_threads", num_threads)):
        if value < 1:
            raise ValueError(f"{name} must be >= 1, got {value}")
    if max_length < 2:
        raise ValueError(f"max_length must be >= 2, got {max_length}")
    if day_gaps is not None and len(day_gaps) != len(sequences):
        raise ValueError(f"day_gaps has {len(day_gaps)} entries for {len(sequences)} sequences")
    gaps_list: list[np.ndarray | None] = list(day_gaps) if day_gaps is not None else [None] * len(sequences)
    usable = [
        (_normalised(sequence)[-max_length:], None if gaps is None else np.asarray(gaps)[-max_length:])
        for sequence, gaps in zip(sequences, gaps_list)
        if len(sequence) >= 2
    ]
    if not usable:
        raise ValueError("no sequence has 2 or more days: nothing to learn the dynamics from")
    rng = np.random.default_rng(seed)
    if len(usable) > max_users:
        chosen = np.sort(rng.choice(len(usable), size=max_users, replace=False))
        usable = [usable[index] for index in chosen]

    previous_threads = torch.get_num_threads()
    torch.set_num_threads(num_threads)
    try:
        torch.manual_seed(seed)
        labels = usable[0][0].shape[1]
        model = TemporalLSTM(num_labels=labels, hidden_dim=hidden_dim, extra_features=1).to(device)
        optimizer = torch.optim.Adam(model.parameters(), lr=learning_rate)
        # Padding is built once: sort by length so each batch pads little.
        order = sorted(range(len(usable)), key=lambda index: len(usable[index][0]))
        batches = [
            _pad_batch([usable[i][0] for i in order[start:start + batch_size]],
                       [usable[i][1] for i in order[start:start + batch_size]], device)
            for start in range(0, len(order), batch_size)
        ]
        model.train()
        for _ in range(epochs):
            for batch_index in rng.permutation(len(batches)):
                inputs, targets, mask = batches[batch_index]
                optimizer.zero_grad()
                loss = soft_cross_entropy(model(inputs), targets, mask)
                loss.backward()
                optimizer.step()
        model.eval()
    finally:
        torch.set_num_threads(previous_threads)
    return model


@torch.no_grad()
def predict_next(model: TemporalLSTM, sequence: np.ndarray, day_gaps: np.ndarray | None = None) -> np.ndarray:
    """Predicted distributions of days 1..T-1 of one user, (T - 1, num_labels)."""
    parameter = next(model.parameters())
    inputs = torch.from_numpy(sequence_inputs(_normalised(sequence), day_gaps)).to(parameter.device)
    return torch.softmax(model(inputs[None]), dim=-1)[0].cpu().double().numpy()


def step_surprise(model: TemporalLSTM, sequence: np.ndarray, day_gaps: np.ndarray | None = None) -> np.ndarray:
    """How unexpected each day was: KL(observed || predicted) in nats, NaN for the first day.

    Args:
        model: a fitted :class:`TemporalLSTM`.
        sequence: (T, num_labels) daily distributions of one user.
        day_gaps: optional (T,) gaps in days.

    Returns:
        (T,) float64; entry 0 is NaN (nothing precedes it). KL rather than cross-entropy, so a
        day of diffuse but expected feelings does not look surprising.
    """
    observed = _normalised(sequence)
    surprise = np.full(len(observed), np.nan)
    if len(observed) < 2:
        return surprise
    predicted = np.maximum(predict_next(model, observed, day_gaps), PROBABILITY_FLOOR)
    target = observed[1:]
    safe_target = np.maximum(target, PROBABILITY_FLOOR)
    surprise[1:] = np.sum(np.where(target > 0, target * np.log(safe_target / predicted), 0.0), axis=1)
    return surprise


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
    model = TemporalLSTM(config.num_labels, config.hidden_dim, config.num_layers, config.extra_features, config.mean_floor)
    model.load_state_dict({name: torch.from_numpy(np.asarray(array)) for name, array in state.items()})
    return model.to(device).eval()


def model_version(model: TemporalLSTM) -> str:
    """A short stable name for fitted weights: architecture plus a hash of the parameters."""
    digest = hashlib.sha256()
    for name, array in sorted(model_state(model).items()):
        digest.update(name.encode())
        digest.update(np.ascontiguousarray(array, dtype=np.float32).tobytes())
    return f"temporal-lstm-h{model.hidden_dim}-{digest.hexdigest()[:12]}"


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
    try:
        # Annotations are strings here (postponed evaluation), hence the name comparison.
        converters = {"int": int, "float": float}
        config = TemporalConfig(
            **{field.name: converters[field.type](metadata[field.name]) for field in dataclasses.fields(TemporalConfig)}
        )
    except (KeyError, TypeError, ValueError) as error:
        raise ValueError(f"{path} has no temporal model config in its metadata: {metadata}") from error
    return build_temporal_model(config, state, device)
