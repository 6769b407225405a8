"""Shapes, masking and checkpoint round trip of the text network."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from models.devices import resolve_device
from models.text.checkpoint import (
    TextModelConfig,
    build_text_network,
    load_text_checkpoint,
    save_text_checkpoint,
    weights_digest,
)
from models.text.tokenizer import pad_batch

CONFIG = TextModelConfig(
    vocabulary_size=50,
    embedding_dim=8,
    hidden_dim=6,
    attention_dim=5,
    labels=("anger", "disgust", "fear", "joy", "sadness", "surprise", "neutral"),
    fine_labels=tuple(f"fine_{index}" for index in range(28)),
    thresholds=(0.5,) * 7,
    fine_thresholds=(0.3,) * 28,
)


@pytest.fixture()
def network() -> torch.nn.Module:
    torch.manual_seed(0)
    return build_text_network(CONFIG).eval()


def test_forward_shapes_and_attention(network: torch.nn.Module) -> None:
    token_ids, lengths = pad_batch([[3, 4, 5], [6], [7, 8, 9, 10, 11]], padding_id=0)
    with torch.no_grad():
        label_logits, fine_logits, weights = network(token_ids, lengths)
    assert label_logits.shape == (3, 7)
    assert fine_logits is not None and fine_logits.shape == (3, 28)
    assert weights.shape == (3, 5)
    torch.testing.assert_close(weights.sum(dim=1), torch.ones(3))
    # No attention on padding.
    assert float(weights[1, 1:].abs().sum()) == 0.0
    assert float(weights[0, 3:].abs().sum()) == 0.0


def test_scores_do_not_depend_on_batch_neighbours(network: torch.nn.Module) -> None:
    alone_ids, alone_lengths = pad_batch([[3, 4, 5]], padding_id=0)
    batch_ids, batch_lengths = pad_batch([[3, 4, 5], list(range(1, 40))], padding_id=0)
    with torch.no_grad():
        alone, _, _ = network(alone_ids, alone_lengths)
        batched, _, _ = network(batch_ids, batch_lengths)
    torch.testing.assert_close(alone[0], batched[0], atol=1e-6, rtol=1e-5)


def test_no_fine_head_when_zero_fine_labels() -> None:
    config = TextModelConfig(vocabulary_size=20, embedding_dim=4, hidden_dim=3, attention_dim=2, labels=("a", "b"))
    network = build_text_network(config)
    label_logits, fine_logits, _ = network(*pad_batch([[1, 2]], padding_id=0))
    assert label_logits.shape == (1, 2) and fine_logits is None


def test_empty_sequence_is_rejected() -> None:
    with pytest.raises(ValueError, match="at least one token"):
        pad_batch([[1], []], padding_id=0)


def test_checkpoint_round_trip(network: torch.nn.Module, tmp_path: Path) -> None:
    save_text_checkpoint(network, CONFIG, tmp_path)
    loaded, config = load_text_checkpoint(tmp_path)
    assert config == CONFIG
    assert loaded.embedding.weight.dtype == torch.float32
    # The embedding is stored in float16: the loaded table equals the rounded original.
    torch.testing.assert_close(loaded.embedding.weight, network.embedding.weight.half().float())
    torch.testing.assert_close(loaded.encoder.weight_hh_l0, network.encoder.weight_hh_l0)
    assert len(weights_digest(tmp_path)) == 8


def test_stacked_layers_round_trip_and_older_folders_have_one(tmp_path: Path) -> None:
    import dataclasses
    import json

    stacked = dataclasses.replace(CONFIG, layers=2)
    torch.manual_seed(0)
    network = build_text_network(stacked).eval()
    assert network.encoder.num_layers == 2
    save_text_checkpoint(network, stacked, tmp_path)
    loaded, config = load_text_checkpoint(tmp_path)
    assert config.layers == 2
    token_ids, lengths = pad_batch([[3, 4, 5], [6]], padding_id=0)
    with torch.no_grad():
        torch.testing.assert_close(loaded(token_ids, lengths)[0], network(token_ids, lengths)[0], atol=1e-3, rtol=1e-3)
    # a config.json written before the field existed (the shipped model's) reads as one layer
    older = {key: value for key, value in json.loads(CONFIG.to_json()).items() if key != "layers"}
    assert TextModelConfig.from_json(json.dumps(older)).layers == 1
    with pytest.raises(ValueError, match="layers"):
        dataclasses.replace(CONFIG, layers=0)


def test_missing_checkpoint_says_how_to_train(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError, match="emodrift train text"):
        load_text_checkpoint(tmp_path)


def test_config_validation_names_the_field() -> None:
    with pytest.raises(ValueError, match="hidden_dim"):
        TextModelConfig(vocabulary_size=5, embedding_dim=2, hidden_dim=0, attention_dim=2, labels=("a",))
    with pytest.raises(ValueError, match="thresholds"):
        TextModelConfig(vocabulary_size=5, embedding_dim=2, hidden_dim=2, attention_dim=2, labels=("a",), thresholds=(0.1, 0.2))
    with pytest.raises(ValueError, match="unknown text model config keys"):
        TextModelConfig.from_json('{"vocabulary_size": 5, "surprise_key": 1}')


def test_resolve_device() -> None:
    assert resolve_device("cpu").type == "cpu"
    assert resolve_device("auto").type == ("cuda" if torch.cuda.is_available() else "cpu")
    with pytest.raises(ValueError, match="device"):
        resolve_device("tpu")
