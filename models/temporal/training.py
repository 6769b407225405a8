"""Fitting the temporal LSTM over a cohort: batching, loss and the training loop.

Inputs, predictions, surprise and the model's state live in :mod:`models.temporal.inference`.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import torch
import torch.nn.functional as F

from models.temporal.inference import TemporalConfig, normalised, sequence_inputs
from models.temporal.network import TemporalLSTM


def _pad_batch(
    sequences: Sequence[np.ndarray],
    gaps: Sequence[np.ndarray | None],
    counts: Sequence[np.ndarray | None],
    device: str,
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Stack users into (inputs (B, L, F), targets (B, L, C), mask (B, L)), padded at the end."""
    steps = max(len(sequence) - 1 for sequence in sequences)
    labels = sequences[0].shape[1]
    inputs = np.zeros((len(sequences), steps, labels + 2), dtype=np.float32)
    targets = np.zeros((len(sequences), steps, labels), dtype=np.float32)
    mask = np.zeros((len(sequences), steps), dtype=np.float32)
    for row, (sequence, day_gaps, post_counts) in enumerate(zip(sequences, gaps, counts)):
        length = len(sequence) - 1
        inputs[row, :length] = sequence_inputs(sequence, day_gaps, post_counts)
        targets[row, :length] = sequence[1:]
        mask[row, :length] = 1.0
    return torch.from_numpy(inputs).to(device), torch.from_numpy(targets).to(device), torch.from_numpy(mask).to(device)


MIN_USERS_TO_VALIDATE = 10
MIN_STEPS_PER_EPOCH = 8


def _batches(rows: list[tuple[np.ndarray, np.ndarray | None, np.ndarray | None]], batch_size: int,
             device: str) -> list[tuple[torch.Tensor, torch.Tensor, torch.Tensor]]:
    """Padded minibatches, built once; users sorted by length so each batch pads little."""
    order = sorted(range(len(rows)), key=lambda index: len(rows[index][0]))
    batches = []
    for start in range(0, len(order), batch_size):
        chosen = [rows[index] for index in order[start:start + batch_size]]
        batches.append(_pad_batch([row[0] for row in chosen], [row[1] for row in chosen], [row[2] for row in chosen], device))
    return batches


@torch.no_grad()
def _user_losses(model: TemporalLSTM, batches: list[tuple[torch.Tensor, torch.Tensor, torch.Tensor]]) -> tuple[np.ndarray, np.ndarray]:
    """Per user of ``batches``: summed cross-entropy over their days, and their days (model in eval mode after)."""
    model.eval()
    sums, days = [], []
    for inputs, targets, mask in batches:
        per_step = -(targets * F.log_softmax(model(inputs), dim=-1)).sum(dim=-1)
        sums.append((per_step * mask).sum(dim=1).double().cpu().numpy())
        days.append(mask.sum(dim=1).double().cpu().numpy())
    return np.concatenate(sums), np.concatenate(days)


def _pooled_loss(model: TemporalLSTM, batches: list[tuple[torch.Tensor, torch.Tensor, torch.Tensor]]) -> float:
    """Mean cross-entropy per day over all days of ``batches``."""
    sums, days = _user_losses(model, batches)
    return float(sums.sum() / max(days.sum(), 1.0))


def _keep_correction_if_it_helps(model: TemporalLSTM, held_batches: list[tuple[torch.Tensor, torch.Tensor, torch.Tensor]]) -> bool:
    """Zero the correction's head unless it lowers the held-out users' loss by more than two
    standard errors (users as the unit); returns whether the correction was kept.

    The epoch picked on held-out users is an optimistic pick; on the ground-truth cohorts a
    correction kept on that alone was slightly worse than the base on new users
    (benchmarks/RESULTS.md), so it has to clear its noise to stay.
    """
    corrected, days = _user_losses(model, held_batches)
    head = {name: tensor.detach().clone() for name, tensor in model.head.state_dict().items()}
    with torch.no_grad():
        model.head.weight.zero_()
        model.head.bias.zero_()
    plain, _ = _user_losses(model, held_batches)
    gains = plain - corrected  # per user, positive where the correction helped
    spread = float(np.std(gains, ddof=1)) * np.sqrt(len(gains)) if len(gains) > 1 else np.inf
    if gains.sum() > 2.0 * spread:
        model.head.load_state_dict(head)
        return True
    return False


def soft_cross_entropy(logits: torch.Tensor, targets: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """Mean cross-entropy of predicted vs observed distributions over the unmasked steps.

    Shapes: logits, targets (B, L, C); mask (B, L). Cross-entropy and KL differ by the
    targets' entropy, a constant for the model, so minimising one minimises the other.
    """
    per_step = -(targets * F.log_softmax(logits, dim=-1)).sum(dim=-1)
    return (per_step * mask).sum() / mask.sum().clamp(min=1.0)


def warm_startable(initial: TemporalLSTM, model: TemporalLSTM) -> bool:
    """Whether ``initial``'s weights fit ``model`` (same config, parameter names and shapes)."""
    if TemporalConfig.of(initial) != TemporalConfig.of(model):
        return False
    wanted = {name: tuple(tensor.shape) for name, tensor in model.state_dict().items()}
    return wanted == {name: tuple(tensor.shape) for name, tensor in initial.state_dict().items()}


def _descend(
    model: TemporalLSTM,
    trainable: list[torch.nn.Parameter],
    batches: list[tuple[torch.Tensor, torch.Tensor, torch.Tensor]],
    held_batches: list[tuple[torch.Tensor, torch.Tensor, torch.Tensor]],
    rng: np.random.Generator,
    *,
    epochs: int,
    patience: int,
    learning_rate: float,
    weight_decay: float,
) -> None:
    """Adam on ``trainable`` over seeded-order minibatches; with held-out batches, the model
    ends at the epoch (the starting weights included) of the lowest held-out loss."""
    optimizer = torch.optim.Adam(trainable, lr=learning_rate, weight_decay=weight_decay)
    best_loss = _pooled_loss(model, held_batches) if held_batches else np.inf
    best_state = {name: tensor.detach().clone() for name, tensor in model.state_dict().items()}
    stale = 0
    for _ in range(epochs):
        model.train()
        for batch_index in rng.permutation(len(batches)):
            inputs, targets, mask = batches[batch_index]
            optimizer.zero_grad()
            soft_cross_entropy(model(inputs), targets, mask).backward()
            optimizer.step()
        if not held_batches:
            continue
        held_loss = _pooled_loss(model, held_batches)
        if held_loss < best_loss - 1e-6:
            best_loss, stale = held_loss, 0
            best_state = {name: tensor.detach().clone() for name, tensor in model.state_dict().items()}
        else:
            stale += 1
            if stale >= patience:
                break
    if held_batches:
        model.load_state_dict(best_state)


def fit_temporal_model(
    sequences: list[np.ndarray],
    *,
    day_gaps: list[np.ndarray] | None = None,
    post_counts: list[np.ndarray] | None = None,
    hidden_dim: int = 16,
    epochs: int = 40,
    learning_rate: float = 0.02,
    batch_size: int = 256,
    max_users: int = 2000,
    max_length: int = 60,
    seed: int = 0,
    device: str = "cpu",
    num_threads: int = 1,
    initial: TemporalLSTM | None = None,
    validation_share: float = 0.2,
    patience: int = 8,
    weight_decay: float = 0.0,
    correction: bool = True,
    require_clear_gain: bool = True,
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
        post_counts: optional per-user (T_i,) posts per day (None: one post a day): the
            base weighs each day by them and the LSTM reads them.
        hidden_dim: LSTM hidden size.
        epochs: passes over the (capped) cohort.
        learning_rate: Adam step size.
        batch_size: users per optimisation step (smaller for a cohort that would give fewer
            than 8 steps an epoch).
        max_users: cap on users used for fitting.
        max_length: cap on days per user used for fitting (the most recent are kept).
        seed: seeds initialisation, user sampling and batch order.
        device: ``"cpu"`` or ``"cuda"``; the caller decides (see ``Settings.device``).
        num_threads: torch CPU threads while fitting (restored afterwards).
        initial: a fitted model to start from (warm start: last night's weights, so a night
            refines yesterday's dynamics instead of relearning them); it is not modified. Used
            only when its configuration matches (``hidden_dim``, features); otherwise the fit
            starts from a seeded initialisation, which forecasts the base alone.
        validation_share: share of the users (when there are 10 or more) kept out of the
            gradient steps to pick the epoch whose weights are returned, the starting ones
            included; 0 returns the last epoch's.
        patience: epochs without a better held-out loss before the fit stops.
        weight_decay: Adam's L2 penalty.
        correction: False fits the base alone (the LSTM and its zero head frozen): the
            ablation ``benchmarks/temporal_forecast.py`` reports. True fits the LSTM's
            correction after the base and keeps it only when it lowers the held-out fitting
            users' loss by more than two standard errors (else its head is zeroed: the model
            forecasts the base).
        require_clear_gain: False keeps the correction of the best held-out epoch without
            that test (the benchmark's "correction always kept" line).

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
    if not 0.0 <= validation_share < 1.0 or patience < 1 or weight_decay < 0:
        raise ValueError(f"need 0 <= validation_share < 1, patience >= 1, weight_decay >= 0; got "
                         f"{validation_share}, {patience}, {weight_decay}")
    for name, values in (("day_gaps", day_gaps), ("post_counts", post_counts)):
        if values is not None and len(values) != len(sequences):
            raise ValueError(f"{name} has {len(values)} entries for {len(sequences)} sequences")
    gaps_list: list[np.ndarray | None] = list(day_gaps) if day_gaps is not None else [None] * len(sequences)
    counts_list: list[np.ndarray | None] = list(post_counts) if post_counts is not None else [None] * len(sequences)

    def recent(values: np.ndarray | None) -> np.ndarray | None:
        return None if values is None else np.asarray(values)[-max_length:]

    usable = [
        (normalised(sequence)[-max_length:], recent(gaps), recent(counts))
        for sequence, gaps, counts in zip(sequences, gaps_list, counts_list)
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
        model = TemporalLSTM(num_labels=labels, hidden_dim=hidden_dim).to(device)
        if initial is not None and warm_startable(initial, model):
            model.load_state_dict({name: tensor.detach().clone() for name, tensor in initial.state_dict().items()})
        # Users held out of the gradient steps pick the epoch to keep (the starting weights
        # included): on a small cohort the correction can overfit, and then the fit returns
        # what generalised best, at worst the base it started from.
        held_count = int(round(validation_share * len(usable))) if len(usable) >= MIN_USERS_TO_VALIDATE else 0
        shuffled = rng.permutation(len(usable))
        held = [usable[index] for index in np.sort(shuffled[:held_count])]
        fitting = [usable[index] for index in np.sort(shuffled[held_count:])]
        # a small cohort still gets several steps an epoch: its ten base numbers need them
        batches = _batches(fitting, min(batch_size, -(-len(fitting) // MIN_STEPS_PER_EPOCH)), device)
        held_batches = _batches(held, batch_size, device) if held else []
        # Two stages: the base first (the LSTM and its zero head frozen), then the correction
        # on top of the fitted base (frozen in turn). Fitted jointly, the correction's early
        # noise stopped the fit before the base had converged, and it lost to the base alone.
        correction_parameters = [*model.lstm.parameters(), *model.head.parameters()]
        correction_ids = {id(parameter) for parameter in correction_parameters}
        base_parameters = [parameter for parameter in model.parameters() if id(parameter) not in correction_ids]
        stages = [base_parameters, correction_parameters] if correction else [base_parameters]
        for trainable in stages:
            for parameter in model.parameters():
                parameter.requires_grad_(any(parameter is chosen for chosen in trainable))
            _descend(model, trainable, batches, held_batches, rng,
                     epochs=epochs, patience=patience, learning_rate=learning_rate, weight_decay=weight_decay)
        for parameter in model.parameters():
            parameter.requires_grad_(True)
        if correction and held_batches and require_clear_gain:
            _keep_correction_if_it_helps(model, held_batches)
        model.eval()
    finally:
        torch.set_num_threads(previous_threads)
    return model


