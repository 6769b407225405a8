"""The teacher on a tiny seeded BERT: frozen part stays frozen, a planted cue is learnt, the
checkpoint stores only the trained parts and refuses another base, and the scorer keeps the
BiLSTM scorer's columns (accurate mode). The real MiniLM is not needed here."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest
import torch

from models.labels import LABEL_INDEX, LABELS
from models.text import teacher_checkpoint
from models.text.checkpoint import ENGLISH_WORDS_FILE, TOKENIZER_FILE
from models.text.inference import TextScorer
from models.text.teacher_checkpoint import (
    TeacherConfig,
    is_teacher_folder,
    load_teacher_checkpoint,
    save_teacher_checkpoint,
)
from models.text.teacher_inference import TeacherScorer, run_teacher, teacher_token_ids
from models.text.teacher_training import TeacherOptions, train_teacher
from models.text.tokenizer import TextTokenizer
from models.text.training import GoEmotionsSplit

SHIPPED_TOKENIZER = Path(__file__).resolve().parents[3] / "models" / "weights" / "text" / TOKENIZER_FILE


def cue_split(rng: np.random.Generator, rows: int) -> GoEmotionsSplit:
    """Filler sentences with one planted cue word that sets the label (sadness, surprise, disgust)."""
    cues = {"sadness": ["heartbroken", "grieving"], "surprise": ["astonished", "unexpected"], "disgust": ["gross", "revolting"]}
    fillers = np.array(["my", "neighbour", "left", "the", "bus", "at", "noon", "with", "a", "parcel"])
    texts, targets = [], np.zeros((rows, len(LABELS)), dtype=bool)
    for row in range(rows):
        label = list(cues)[row % len(cues)]
        words = [str(word) for word in rng.choice(fillers, size=int(rng.integers(3, 8)))]
        words.insert(int(rng.integers(0, len(words) + 1)), str(rng.choice(cues[label])))
        texts.append(" ".join(words))
        targets[row, LABEL_INDEX[label]] = True
    return GoEmotionsSplit(texts, targets, targets.argmax(axis=1), np.zeros((rows, 0), dtype=bool), ())


@pytest.fixture()
def one_thread() -> Iterator[None]:
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


@pytest.fixture()
def tiny_base(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A 3-layer, 32-wide BERT saved like the package's folder, standing in for MiniLM."""
    from transformers import BertConfig, BertModel

    torch.manual_seed(0)
    config = BertConfig(
        vocab_size=30522, hidden_size=32, num_hidden_layers=3, num_attention_heads=2, intermediate_size=64,
        max_position_embeddings=64,
    )
    base_dir = tmp_path / "base"
    BertModel(config, add_pooling_layer=False).save_pretrained(str(base_dir), safe_serialization=True)
    monkeypatch.setattr(teacher_checkpoint, "base_model_dir", lambda: base_dir)
    return base_dir


@pytest.fixture()
def tokenizer() -> TextTokenizer:
    return TextTokenizer.from_file(SHIPPED_TOKENIZER, 30)


def test_options_and_config_validation_name_the_field() -> None:
    with pytest.raises(ValueError, match="max_tokens"):
        TeacherOptions(max_tokens=2)
    with pytest.raises(ValueError, match="thresholds"):
        TeacherConfig(base_digest="x", trainable_layers=1, attention_dim=4, labels=("a", "b"), thresholds=(0.5,))
    config = TeacherConfig(base_digest="x", trainable_layers=1, attention_dim=4, labels=("a",), thresholds=(0.3,))
    assert TeacherConfig.from_json(config.to_json()) == config


def test_training_learns_a_planted_cue_and_leaves_the_frozen_part_alone(
    one_thread: None, tiny_base: Path, tokenizer: TextTokenizer, tmp_path: Path
) -> None:
    encoder, digest = teacher_checkpoint.load_base_encoder()
    frozen_before = {name: value.clone() for name, value in encoder.embeddings.state_dict().items()}
    lowest_layer_before = {name: value.clone() for name, value in encoder.encoder.layer[0].state_dict().items()}
    rng = np.random.default_rng(0)
    train, dev = cue_split(rng, 240), cue_split(rng, 90)
    options = TeacherOptions(
        trainable_layers=1, attention_dim=8, max_tokens=32, epochs=6, batch_size=16, learning_rate=3e-3,
        head_learning_rate=3e-2, seed=0,
    )
    result = train_teacher(train, dev, tokenizer, encoder, digest, options, progress=False)

    outputs = run_teacher(
        result.network, teacher_token_ids(tokenizer, dev.texts), padding_id=tokenizer.padding_id, batch_size=32,
        device=torch.device("cpu"),
    )
    accuracy = float((outputs.label_probabilities.argmax(axis=1) == dev.primary).mean())
    assert accuracy > 0.9  # chance is 1/3
    assert len(result.config.thresholds) == len(LABELS) and len(result.history) == 6
    for name, value in result.network.embeddings.state_dict().items():
        assert torch.equal(value, frozen_before[name]), name
    for name, value in result.network.frozen_layers[0].state_dict().items():
        assert torch.equal(value, lowest_layer_before[name]), name

    # The checkpoint holds the trained parts only and rebuilds the same network from the base.
    model_dir = tmp_path / "teacher"
    save_teacher_checkpoint(result.network, result.config, model_dir)
    from safetensors.torch import load_file

    stored = load_file(str(model_dir / "model.safetensors"))
    assert stored and not any(name.startswith(("embeddings.", "frozen_layers.")) for name in stored)
    assert any(name.startswith("trained_layers.") for name in stored)
    reloaded, config = load_teacher_checkpoint(model_dir)
    assert config == result.config
    again = run_teacher(
        reloaded, teacher_token_ids(tokenizer, dev.texts), padding_id=tokenizer.padding_id, batch_size=7,
        device=torch.device("cpu"),
    )
    np.testing.assert_allclose(again.label_probabilities, outputs.label_probabilities, atol=1e-5)

    # Accurate mode: the usual loader hands back a TeacherScorer with the usual columns.
    (model_dir / TOKENIZER_FILE).write_bytes(SHIPPED_TOKENIZER.read_bytes())
    (model_dir / ENGLISH_WORDS_FILE).write_text("\n".join(sorted(set(" ".join(train.texts).split()))) + "\n")
    assert is_teacher_folder(model_dir)
    scorer = TextScorer.load(model_dir, device="cpu")
    assert isinstance(scorer, TeacherScorer) and scorer.version.startswith("text-minilm-teacher-v1+")
    texts = [dev.texts[0], None, dev.texts[1], "   "]
    scores = scorer.score(texts, batch_size=2)
    assert list(scores.columns) == ["text_probs", "text_status", "text_top_tokens", "text_language", "text_labels"]
    assert scores["text_status"].tolist() == ["ok", "no_text", "ok", "no_text"]
    assert sum(scores["text_probs"][0]) == pytest.approx(1.0, abs=1e-5)
    assert set(scores["text_top_tokens"][0]) <= set(dev.texts[0].split())
    assert scores["text_labels"][0] and scores["text_labels"][1] is None
    alone = scorer.score([dev.texts[1]], batch_size=1)
    np.testing.assert_allclose(alone["text_probs"][0], scores["text_probs"][2], atol=1e-5)

    # Another base encoder is refused, not silently used.
    config_path = model_dir / "config.json"
    config_path.write_text(config_path.read_text().replace(config.base_digest, "00000000"))
    with pytest.raises(ValueError, match="digest"):
        load_teacher_checkpoint(model_dir)
