"""Fine-tuning the teacher on GoEmotions with the frozen part's outputs cached once.

The frozen embeddings and lower layers see every training comment once (their outputs go
into memory as float16, about 0.7 GB for GoEmotions train at 64 pieces); every epoch then
only runs the trained upper layers forwards and backwards, which is what makes the teacher
fit the one-hour CPU rule (measured per step before choosing the defaults; see the card).
"""

from __future__ import annotations

import dataclasses
import math
import time
from collections.abc import Sequence

import numpy as np
import torch
from torch import nn
from torch.nn.utils.rnn import pad_sequence
from tqdm import tqdm

from models.labels import LABELS
from models.text.metrics import tuned_macro_f1
from models.text.teacher import TeacherNetwork
from models.text.teacher_checkpoint import TeacherConfig, build_teacher_network
from models.text.teacher_inference import padded_with_mask, teacher_token_ids
from models.text.tokenizer import TextTokenizer
from models.text.training import GoEmotionsSplit, length_bucketed_batches


@dataclasses.dataclass(frozen=True)
class TeacherOptions:
    """Hyper-parameters of one teacher run (defaults: the shipped teacher).

    ``max_tokens`` 64 keeps more than 99 % of GoEmotions comments whole (99th percentile 38
    word pieces, median 19).
    """

    trainable_layers: int = 6
    attention_dim: int = 128
    dropout: float = 0.1
    max_tokens: int = 64
    epochs: int = 3
    batch_size: int = 32
    learning_rate: float = 1e-4
    head_learning_rate: float = 1e-3
    weight_decay: float = 0.01
    warmup_share: float = 0.06
    fine_loss_weight: float = 0.5
    seed: int = 0
    max_train_examples: int | None = None

    def __post_init__(self) -> None:
        for name in ("trainable_layers", "attention_dim", "epochs", "batch_size"):
            if getattr(self, name) <= 0:
                raise ValueError(f"{name} must be > 0, got {getattr(self, name)}")
        if self.max_tokens < 3:
            raise ValueError(f"max_tokens must be >= 3, got {self.max_tokens}")
        if not 0.0 <= self.dropout < 1.0:
            raise ValueError(f"dropout must be in [0, 1), got {self.dropout}")
        if self.learning_rate <= 0 or self.head_learning_rate <= 0:
            raise ValueError("learning rates must be > 0")
        if not 0.0 <= self.warmup_share < 1.0:
            raise ValueError(f"warmup_share must be in [0, 1), got {self.warmup_share}")
        if self.fine_loss_weight < 0:
            raise ValueError(f"fine_loss_weight must be >= 0, got {self.fine_loss_weight}")


@dataclasses.dataclass
class TeacherTrainingResult:
    """What :func:`train_teacher` returns."""

    network: TeacherNetwork
    config: TeacherConfig
    history: list[dict[str, float]]
    best_epoch: int
    training_seconds: float
    cache_seconds: float


@torch.no_grad()
def cache_lower_states(
    network: TeacherNetwork, id_lists: Sequence[Sequence[int]], *, padding_id: int, batch_size: int, device: torch.device
) -> list[torch.Tensor]:
    """The frozen part's output per text, (pieces, hidden) float16 on the CPU, input order."""
    states: list[torch.Tensor] = [torch.empty(0)] * len(id_lists)
    order = sorted(range(len(id_lists)), key=lambda index: len(id_lists[index]))
    for start in range(0, len(order), batch_size):
        batch = order[start : start + batch_size]
        token_ids, mask = padded_with_mask([id_lists[index] for index in batch], padding_id)
        hidden = network.lower(token_ids.to(device), mask.to(device)).to(torch.float16).cpu()
        for row, index in enumerate(batch):
            states[index] = hidden[row, : len(id_lists[index])].clone()
    return states


def _stack_states(states: Sequence[torch.Tensor]) -> tuple[torch.Tensor, torch.Tensor]:
    """Pad cached states into (batch, time, hidden) and the matching 0/1 mask."""
    lengths = torch.tensor([len(state) for state in states])
    mask = (torch.arange(int(lengths.max()))[None, :] < lengths[:, None]).long()
    return pad_sequence(list(states), batch_first=True), mask


@torch.no_grad()
def upper_probabilities(
    network: TeacherNetwork, states: Sequence[torch.Tensor], *, batch_size: int, device: torch.device
) -> tuple[np.ndarray, np.ndarray | None]:
    """Sigmoids of both heads from cached frozen-part states (input order)."""
    network.eval()
    order = sorted(range(len(states)), key=lambda index: len(states[index]))
    labels = np.zeros((len(states), network.label_head.out_features), dtype=np.float32)
    fine_width = network.fine_label_head.out_features if network.fine_label_head is not None else 0
    fine = np.zeros((len(states), fine_width), dtype=np.float32) if fine_width else None
    for start in range(0, len(order), batch_size):
        batch = order[start : start + batch_size]
        hidden, mask = _stack_states([states[index] for index in batch])
        label_logits, fine_logits, _ = network.upper(hidden.to(device), mask.to(device))
        labels[batch] = torch.sigmoid(label_logits).float().cpu().numpy()
        if fine is not None and fine_logits is not None:
            fine[batch] = torch.sigmoid(fine_logits).float().cpu().numpy()
    return labels, fine


def train_teacher(
    train: GoEmotionsSplit,
    dev: GoEmotionsSplit,
    tokenizer: TextTokenizer,
    encoder: nn.Module,
    base_digest: str,
    options: TeacherOptions,
    *,
    device: torch.device = torch.device("cpu"),
    progress: bool = True,
) -> TeacherTrainingResult:
    """Fine-tune the teacher's upper layers and heads; keep the epoch with the best dev Ekman macro-F1.

    AdamW with a linear warm-up and linear decay; the new pooling and heads learn at
    ``head_learning_rate``, the pretrained layers at the smaller ``learning_rate`` (they
    only need to move a little). Loss: BCE on the 7 labels plus ``fine_loss_weight`` times
    BCE on the 28.

    Args:
        train: training split.
        dev: development split (epoch choice and thresholds).
        tokenizer: the word-piece tokenizer; its ``max_tokens`` must be ``options.max_tokens - 2``.
        encoder: the base ``BertModel`` (its lower part is frozen, its upper part trained in place).
        base_digest: digest of the base weights, stored so loading can check the package.
        options: hyper-parameters.
        device: where to train.
        progress: show tqdm bars.

    Returns:
        A :class:`TeacherTrainingResult`; the network is on the CPU in eval mode and the
        config carries the dev-tuned thresholds.
    """
    if tokenizer.max_tokens != options.max_tokens - 2:
        raise ValueError(f"tokenizer.max_tokens must be {options.max_tokens - 2} (options.max_tokens minus [CLS] and [SEP])")
    torch.manual_seed(options.seed)
    rng = np.random.default_rng(options.seed)
    count = len(train.texts) if options.max_train_examples is None else min(options.max_train_examples, len(train.texts))
    targets = torch.as_tensor(train.targets[:count], dtype=torch.float32)
    fine_targets = torch.as_tensor(train.fine_targets[:count], dtype=torch.float32)
    use_fine = fine_targets.shape[1] > 0 and options.fine_loss_weight > 0

    config = TeacherConfig(
        base_digest=base_digest,
        trainable_layers=options.trainable_layers,
        attention_dim=options.attention_dim,
        labels=LABELS,
        fine_labels=train.fine_label_names if use_fine else (),
        dropout=options.dropout,
        max_tokens=options.max_tokens,
    )
    network = build_teacher_network(encoder, config).to(device)

    started = time.perf_counter()
    network.eval()
    train_states = cache_lower_states(
        network, teacher_token_ids(tokenizer, train.texts[:count]), padding_id=tokenizer.padding_id, batch_size=128, device=device
    )
    dev_states = cache_lower_states(
        network, teacher_token_ids(tokenizer, dev.texts), padding_id=tokenizer.padding_id, batch_size=128, device=device
    )
    cache_seconds = time.perf_counter() - started
    tqdm.write(f"cached the frozen part's output for {count} train and {len(dev.texts)} dev texts in {cache_seconds:.0f} s")

    new_parameters = [
        parameter
        for module in (network.pooling, network.label_head, network.fine_label_head)
        if module is not None
        for parameter in module.parameters()
    ]
    optimizer = torch.optim.AdamW(
        [
            {"params": list(network.trained_layers.parameters()), "lr": options.learning_rate},
            {"params": new_parameters, "lr": options.head_learning_rate},
        ],
        weight_decay=options.weight_decay,
    )
    lengths = np.array([len(state) for state in train_states])
    steps_per_epoch = math.ceil(count / options.batch_size)
    total_steps = steps_per_epoch * options.epochs
    warmup_steps = max(1, int(options.warmup_share * total_steps))
    schedule = torch.optim.lr_scheduler.LambdaLR(
        optimizer,
        lambda step: min((step + 1) / warmup_steps, max(0.0, (total_steps - step) / max(1, total_steps - warmup_steps))),
    )
    loss_function = nn.BCEWithLogitsLoss()

    history: list[dict[str, float]] = []
    best_f1, best_epoch, best_state = -math.inf, 0, None
    best_thresholds: np.ndarray | None = None
    best_fine_thresholds: np.ndarray | None = None
    for epoch in range(1, options.epochs + 1):
        network.frozen_train_mode(True)
        total_loss = 0.0
        batches = length_bucketed_batches(lengths, options.batch_size, rng)
        bar = tqdm(batches, desc=f"teacher epoch {epoch}/{options.epochs}", disable=not progress, leave=False)
        for step, batch in enumerate(bar, start=1):
            if not progress and step % 200 == 0:
                # a background run's log shows the pace, so a reader can extrapolate the epoch
                tqdm.write(f"epoch {epoch} step {step}/{len(batches)} at {time.perf_counter() - started:.0f} s")
            hidden, mask = _stack_states([train_states[index] for index in batch])
            label_logits, fine_logits, _ = network.upper(hidden.to(device), mask.to(device))
            loss = loss_function(label_logits, targets[batch].to(device))
            if use_fine and fine_logits is not None:
                loss = loss + options.fine_loss_weight * loss_function(fine_logits, fine_targets[batch].to(device))
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            nn.utils.clip_grad_norm_([parameter for group in optimizer.param_groups for parameter in group["params"]], 1.0)
            optimizer.step()
            schedule.step()
            total_loss += loss.item() * len(batch)
            bar.set_postfix(loss=f"{loss.item():.4f}")

        probabilities, fine_probabilities = upper_probabilities(network, dev_states, batch_size=128, device=device)
        dev_f1, thresholds = tuned_macro_f1(dev.targets, probabilities)
        record: dict[str, float] = {
            "epoch": epoch,
            "train_loss": total_loss / count,
            "dev_macro_f1": dev_f1,
            "seconds": time.perf_counter() - started,
        }
        fine_thresholds = None
        if use_fine and fine_probabilities is not None:
            record["dev_fine_macro_f1"], fine_thresholds = tuned_macro_f1(dev.fine_targets, fine_probabilities)
        history.append(record)
        tqdm.write(" ".join(f"{key}={value:.4f}" if isinstance(value, float) else f"{key}={value}" for key, value in record.items()))
        if dev_f1 > best_f1:
            best_f1, best_epoch, best_thresholds, best_fine_thresholds = dev_f1, epoch, thresholds, fine_thresholds
            best_state = {name: tensor.detach().cpu().clone() for name, tensor in network.trained_state_dict().items()}

    assert best_state is not None and best_thresholds is not None
    network.load_state_dict(best_state, strict=False)
    network.cpu().eval()
    config = dataclasses.replace(
        config,
        thresholds=tuple(float(value) for value in best_thresholds),
        fine_thresholds=tuple(float(value) for value in best_fine_thresholds) if best_fine_thresholds is not None else (),
    )
    return TeacherTrainingResult(network, config, history, best_epoch, time.perf_counter() - started, cache_seconds)
