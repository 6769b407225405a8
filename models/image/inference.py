"""Score images for emotion: decode -> detect faces -> classify each face -> combine by area.

``ImageScorer`` is what the Spark score job calls once per pandas batch; ``load_image_scorer``
caches one scorer per (model folder, device) in this imported module so each Python worker
loads the weights once. The checkpoint format is a folder with ``model.safetensors`` (the
state dict) and ``config.json`` (architecture ints, preprocessing, labels).
"""

from __future__ import annotations

import copy
import dataclasses
import hashlib
import json
import os
import tempfile
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import pandas as pd
import torch
from safetensors.torch import load_file, save_file

from models.image.blazeface import BLOCKS, BlazeFaceBack, BlazeFaceDetector
from models.image.faces import FaceDetector, combine_by_area, crop_faces
from models.image.decode import decode_image
from models.image.network import FACE_SIZE, FaceEmotionCNN
from models.checkpoints import weights_digest
from models.devices import resolve_device
from models.image.training import predict_probabilities, view_count, view_inputs
from models.labels import LABELS

WEIGHTS_FILE = "model.safetensors"
ONNX_FILE = "model.onnx"  # the face detector's network exported for ONNX Runtime (CPU)
# An emotion network quantized to 8 bits for ONNX Runtime (scripts/quantize_face_classifiers.py):
# the scorer's CPU path when every network of the ensemble has one, about 3x its float speed.
INT8_CLASSIFIER_FILE = "model.int8.onnx"
CONFIG_FILE = "config.json"
MODEL_NAME = "image-cnn-v1"
# MediaPipe's BlazeFace converted to safetensors (scripts/convert_blazeface.py): shipped with
# the code like OpenCV's cascades, so a checkpoint saved anywhere finds it.
DEFAULT_DETECTOR_DIR = Path(__file__).resolve().parents[1] / "weights" / "face_detector"


@dataclasses.dataclass(frozen=True)
class ImageModelConfig:
    """What, besides the weights, is needed to rebuild and feed the network."""

    network: dict[str, int | float]
    crop_size: int
    pixel_mean: float
    pixel_std: float
    labels: tuple[str, ...] = LABELS
    face_size: int = FACE_SIZE
    # Pixels of the four diagonal test-time crop shifts (0: centre and mirror only); see
    # ``models.image.training.predict_probabilities``.
    test_time_shift: int = 0
    # How many of the four diagonal shifts are scored (4, or 2: up-left and down-right, whose
    # mirrored views stand in for the other two; 6 views instead of 10 with the same accuracy).
    test_time_diagonals: int = 4
    # On the int8 (CPU) path, score each face's centre crop and its mirror with every network
    # first, and the other views only for faces whose ensemble top-two margin is below this
    # (None: every view for every face). Picked on two halves of the validation split: from a
    # margin of 0.30 the top label equals the all-views label on every face of either half, and
    # about 35 % of faces need the other views (benchmarks/RESULTS.md, "adaptive views").
    full_views_margin: float | None = None
    # Checkpoint folders (relative to this one) whose probabilities are averaged with this
    # network's at scoring time. Features always come from this (the primary) network, so
    # ``image_features`` keep one meaning and one size whatever the ensemble.
    members: tuple[str, ...] = ()
    # How photos are read before the network sees faces (``FaceDetector`` arguments, and the
    # short side JPEGs are decoded at; see ``models.image.decode.decode_image``). Empty / None:
    # the detector's defaults on a full-size decode, as the first checkpoints were scored.
    # ``{"kind": "blazeface", ...}`` picks the BlazeFace network instead (the other keys are
    # ``BlazeFaceDetector`` arguments, and optionally ``weights``: a folder relative to this one,
    # or ``shipped_weights``: the name of a detector folder shipped in ``models/weights``,
    # instead of MediaPipe's ``models/weights/face_detector``).
    detector: dict = dataclasses.field(default_factory=dict)
    decode_short_side: int | None = None
    # Histogram-equalise detected crops (the first checkpoints' scoring); FER's own faces are not.
    equalize_crops: bool = True

    def to_json(self) -> dict:
        return {**dataclasses.asdict(self), "labels": list(self.labels), "members": list(self.members)}

    def photo_reading(self) -> dict:
        """How this checkpoint reads photos (detector settings, decode size, equalisation): the
        fields that change scores besides the weights (a copy, safe to put in another config)."""
        return copy.deepcopy(
            {"detector": self.detector, "decode_short_side": self.decode_short_side, "equalize_crops": self.equalize_crops}
        )

    @classmethod
    def from_json(cls, values: dict) -> ImageModelConfig:
        known = {field.name for field in dataclasses.fields(cls)}
        kept = {key: value for key, value in values.items() if key in known}
        return cls(**{**kept, "labels": tuple(values["labels"]), "members": tuple(values.get("members", ()))})


def classifier_inputs(faces: np.ndarray, config: ImageModelConfig) -> np.ndarray:
    """Every test-time view of (N, 48, 48) uint8 faces as ``config``'s network takes them
    ((views * N, 1, crop, crop) float32, view-major; see ``models.image.training.view_inputs``)."""
    return view_inputs(
        faces, crop_size=config.crop_size, pixel_mean=config.pixel_mean, pixel_std=config.pixel_std,
        test_time_shift=config.test_time_shift, diagonals=config.test_time_diagonals,
    )


def read_image_config(model_dir: Path) -> ImageModelConfig:
    """The :class:`ImageModelConfig` of the checkpoint in ``model_dir``."""
    return ImageModelConfig.from_json(json.loads((Path(model_dir) / CONFIG_FILE).read_text(encoding="utf-8")))


def save_image_network(
    network: FaceEmotionCNN, config: ImageModelConfig, model_dir: Path, extra_config: dict | None = None
) -> None:
    """Write ``model.safetensors`` and ``config.json`` into ``model_dir`` atomically (rename)."""
    model_dir.mkdir(parents=True, exist_ok=True)
    state = {name: tensor.detach().cpu().contiguous() for name, tensor in network.state_dict().items()}
    # Write beside the target then rename: a scorer loading concurrently never sees half a file.
    with tempfile.NamedTemporaryFile(dir=model_dir, suffix=".tmp", delete=False) as handle:
        temporary_weights = Path(handle.name)
    save_file(state, str(temporary_weights), metadata={"format": "pt", "model": MODEL_NAME})
    temporary_weights.chmod(0o644)  # NamedTemporaryFile creates 0600; others' jobs read these
    os.replace(temporary_weights, model_dir / WEIGHTS_FILE)
    _write_text_atomically(model_dir / CONFIG_FILE, json.dumps({**config.to_json(), **(extra_config or {})}, indent=2))


def _write_text_atomically(path: Path, text: str) -> None:
    with tempfile.NamedTemporaryFile("w", dir=path.parent, suffix=".tmp", delete=False, encoding="utf-8") as handle:
        handle.write(text)
        temporary = Path(handle.name)
    temporary.chmod(0o644)
    os.replace(temporary, path)


def load_image_network(model_dir: Path, device: str = "auto") -> tuple[FaceEmotionCNN, ImageModelConfig, str]:
    """Rebuild the network from a checkpoint folder.

    Returns:
        (network in eval mode on the chosen device, its config, version string
        ``image-cnn-v1+<first 8 hex of the weights' sha256>``, suffixed ``-shift<k>`` when the
        config asks for test-time shifts and ``-read<6 hex>`` when it reads photos other than
        the first checkpoints did: same weights, different scores, different version).
    """
    network, config, digest = _load_checkpoint(Path(model_dir), device)
    # the PyTorch network's own reading: int8 graphs are the scorer's (load_image_ensemble)
    return network, config, _version([digest], [config], _detector_digest(config, Path(model_dir)))


def load_image_ensemble(
    model_dir: Path, device: str = "auto"
) -> tuple[list[tuple[FaceEmotionCNN, ImageModelConfig]], str]:
    """The primary checkpoint in ``model_dir`` and the members its config names.

    Returns:
        ([(network, config), ...] with the primary first, version). Without members the
        version is :func:`load_image_network`'s; with n members it is
        ``image-cnn-v1+<8 hex over every member's weights digest>-shift<k>-x<n + 1>``. Where
        the networks will run as int8 graphs (:func:`int8_classifier_paths`), the graphs'
        digest is part of the ``-read`` suffix: their scores differ slightly from PyTorch's.
    """
    model_dir = Path(model_dir)
    network, config, digest = _load_checkpoint(model_dir, device)
    loaded, digests = [(network, config)], [digest]
    for member in config.members:
        member_dir = model_dir / member
        member_network, member_config, member_digest = _load_checkpoint(member_dir, device)
        if member_config.members:
            raise ValueError(f"ensemble member {member_dir} names members of its own; list them all in {model_dir}")
        if member_config.face_size != config.face_size:
            raise ValueError(f"ensemble member {member_dir} takes {member_config.face_size}-pixel faces, not {config.face_size}")
        loaded.append((member_network, member_config))
        digests.append(member_digest)
    graphs = int8_classifier_paths(model_dir, config, device)
    return loaded, _version(
        digests, [loaded_config for _, loaded_config in loaded], _detector_digest(config, model_dir), _files_digest(graphs)
    )


def int8_classifier_paths(model_dir: Path, config: ImageModelConfig, device: str = "auto") -> list[Path] | None:
    """The int8 graphs of the primary network and of each member, in ensemble order, when
    the scorer will run them: on a CPU, with onnxruntime installed, and every network having
    one (a partial set is not used: the ensemble's scores would be neither reading). None
    otherwise (GPUs run the PyTorch networks)."""
    if resolve_device(device).type != "cpu":
        return None
    try:
        import onnxruntime  # noqa: F401
    except ImportError:
        return None
    paths = [Path(model_dir) / INT8_CLASSIFIER_FILE] + [Path(model_dir) / member / INT8_CLASSIFIER_FILE for member in config.members]
    return paths if all(path.is_file() for path in paths) else None


def _files_digest(paths: Sequence[Path] | None) -> str | None:
    """SHA-256 over the files' bytes, in order (None for no files)."""
    if not paths:
        return None
    digest = hashlib.sha256()
    for path in paths:
        digest.update(hashlib.sha256(path.read_bytes()).digest())
    return digest.hexdigest()


def _detector_weights(config: ImageModelConfig, model_dir: Path | None) -> Path:
    """The detector's safetensors file: ``weights`` relative to ``model_dir``, else the folder
    ``shipped_weights`` names among the detectors shipped with the code (``models/weights``;
    a checkpoint trained anywhere copies the name and still finds it), else MediaPipe's."""
    if "weights" in config.detector and model_dir is None:
        raise ValueError("the detector's weights folder is relative to the model's: load the scorer with ImageScorer.load")
    if "weights" in config.detector:
        folder = Path(model_dir) / config.detector["weights"]
    elif "shipped_weights" in config.detector:
        name = str(config.detector["shipped_weights"])
        if Path(name).name != name or name in ("", ".", ".."):
            raise ValueError(f"shipped_weights names a folder in {DEFAULT_DETECTOR_DIR.parent}, got {name!r}")
        folder = DEFAULT_DETECTOR_DIR.parent / name
    else:
        folder = DEFAULT_DETECTOR_DIR
    return (folder / WEIGHTS_FILE).resolve()


def _detector_digest(config: ImageModelConfig, model_dir: Path) -> str | None:
    """Digest of the detector weights the config names (None for the weightless Haar cascade)."""
    if config.detector.get("kind", "haar") != "blazeface":
        return None
    weights_path = _detector_weights(config, model_dir)
    return weights_digest(weights_path, length=64) if weights_path.is_file() else None


def training_split(model_dir: Path) -> tuple[int, float] | None:
    """(seed, validation fraction) the checkpoint in ``model_dir`` was trained with, or None
    when its config records no training run: which faces it never saw."""
    training = json.loads((Path(model_dir) / CONFIG_FILE).read_text(encoding="utf-8")).get("training")
    return (training["seed"], training["validation_fraction"]) if training else None


def _load_checkpoint(model_dir: Path, device: str) -> tuple[FaceEmotionCNN, ImageModelConfig, str]:
    """(network in eval mode, config, full hex digest of the weights) for one checkpoint folder."""
    weights_path, config_path = model_dir / WEIGHTS_FILE, model_dir / CONFIG_FILE
    if not weights_path.is_file() or not config_path.is_file():
        raise FileNotFoundError(
            f"no image model in {model_dir}: expected {WEIGHTS_FILE} and {CONFIG_FILE} "
            "(train one with `emodrift train image --data <fer2013 npz>`)"
        )
    config = read_image_config(model_dir)
    if tuple(config.labels) != LABELS:
        raise ValueError(f"{config_path} labels {config.labels} differ from the pipeline's {LABELS}")
    network = FaceEmotionCNN(**config.network)
    network.load_state_dict(load_file(str(weights_path)))
    torch_device = resolve_device(device)
    network.to(torch_device).to(memory_format=torch.channels_last).eval()
    return network, config, weights_digest(weights_path, length=64)


def load_face_detector(
    config: ImageModelConfig, model_dir: Path | None, device: str = "auto"
) -> FaceDetector | BlazeFaceDetector:
    """The detector ``config.detector`` names.

    ``kind`` ``haar`` (the default) is OpenCV's cascade; ``blazeface`` loads
    ``model.safetensors`` of :func:`_detector_weights` into :class:`BlazeFaceBack` (with the
    block layout of the ``config.json`` beside it, if any: a distilled detector) on ``device``
    and, on a CPU, the same network's ``model.onnx`` beside it into ONNX Runtime (about twice as
    fast there; on as many threads as torch uses).
    """
    settings = dict(config.detector)
    kind = settings.pop("kind", "haar")
    if kind == "haar":
        return FaceDetector(**settings)
    if kind != "blazeface":
        raise ValueError(f"unknown face detector kind {kind!r}; expected 'haar' or 'blazeface'")
    weights_path = _detector_weights(config, model_dir)
    settings.pop("weights", None)
    settings.pop("shipped_weights", None)
    if not weights_path.is_file():
        raise FileNotFoundError(f"no face detector weights at {weights_path} (made by scripts/convert_blazeface.py)")
    # a distilled detector's folder names its block layout (config.json); MediaPipe's has none
    layout_path = weights_path.with_name(CONFIG_FILE)
    blocks = json.loads(layout_path.read_text(encoding="utf-8"))["blocks"] if layout_path.is_file() else BLOCKS
    network = BlazeFaceBack(blocks)
    network.load_state_dict(load_file(str(weights_path)))
    torch_device = resolve_device(device)
    network.to(torch_device).to(memory_format=torch.channels_last).eval()
    onnx_path = weights_path.with_name(ONNX_FILE)
    session = _onnx_session(onnx_path, weights_path) if torch_device.type == "cpu" and onnx_path.is_file() else None
    # a GPU wants many photos per pass; a CPU core is fastest on one (activations stay in cache)
    batch_size = settings.pop("batch_size", 64 if torch_device.type == "cuda" else 1)
    return BlazeFaceDetector(network, **settings, onnx_session=session, batch_size=batch_size)


def _onnx_session(path: Path, weights_path: Path):
    """An ONNX Runtime CPU session for ``path`` on torch's thread count (sequential execution,
    every graph optimisation); None without onnxruntime.

    Raises:
        ValueError: the graph was exported from other weights than ``weights_path`` (its
            ``weights_digest`` stamp differs): scores would silently not be the version's.
    """
    try:
        import onnxruntime
    except ImportError:
        return None
    options = onnxruntime.SessionOptions()
    options.intra_op_num_threads = torch.get_num_threads()
    options.inter_op_num_threads = 1
    options.execution_mode = onnxruntime.ExecutionMode.ORT_SEQUENTIAL
    options.graph_optimization_level = onnxruntime.GraphOptimizationLevel.ORT_ENABLE_ALL
    options.log_severity_level = 3  # warnings about unused initialisers are noise here
    session = onnxruntime.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])
    stamp = session.get_modelmeta().custom_metadata_map.get("weights_digest")
    if stamp != weights_digest(weights_path, length=64):
        raise ValueError(
            f"{path} was not exported from {weights_path}: rerun the script that wrote it "
            "(scripts/convert_blazeface.py, scripts/quantize_face_classifiers.py)"
        )
    return session


def _version(
    digests: list[str], configs: list[ImageModelConfig], detector_digest: str | None = None, int8_digest: str | None = None
) -> str:
    """One network: its weights' digest; several: a digest over theirs, plus ``-x<count>``.
    ``-shift<k>`` (k values joined by ``/``) names the test-time shifts when any is used;
    ``-read<hex>`` how photos are read (detector settings and weights, decode size) and, when
    the networks run as int8 graphs, which graphs."""
    # k pixels on every diagonal: "k"; on two diagonals only: "kd2" (older checkpoints: all four)
    shifts = sorted({
        f"{config.test_time_shift}" + (f"d{config.test_time_diagonals}" if config.test_time_shift and config.test_time_diagonals != 4 else "")
        for config in configs
    })
    shift_suffix = "-shift" + "/".join(shifts) if shifts != ["0"] else ""
    # How photos are read (decode size, detector, equalisation) changes the scores as much as
    # the weights do; checkpoints that keep the first reading keep their old versions.
    reading = configs[0].photo_reading()
    if detector_digest is not None:
        reading["detector_weights"] = detector_digest[:16]
    if int8_digest is not None:
        reading["int8_classifiers"] = int8_digest[:16]
        if configs[0].full_views_margin is not None:  # the int8 path's adaptive views
            reading["full_views_margin"] = configs[0].full_views_margin
    default_reading = {"detector": {}, "decode_short_side": None, "equalize_crops": True}
    reading_suffix = "" if reading == default_reading else (
        "-read" + hashlib.sha256(json.dumps(reading, sort_keys=True).encode()).hexdigest()[:6]
    )
    if len(digests) == 1:
        return f"{MODEL_NAME}+{digests[0][:8]}{shift_suffix}{reading_suffix}"
    combined = hashlib.sha256("|".join(digests).encode()).hexdigest()[:8]
    return f"{MODEL_NAME}+{combined}{shift_suffix}-x{len(digests)}{reading_suffix}"


class ImageScorer:
    """Decode, detect, classify and combine, one image at a time, faces batched for the CNN.

    Build it with :meth:`load` (or the cached :func:`load_image_scorer`).
    """

    def __init__(
        self,
        network: FaceEmotionCNN,
        config: ImageModelConfig,
        version: str,
        device: torch.device,
        members: Sequence[tuple[FaceEmotionCNN, ImageModelConfig]] = (),
        detector: FaceDetector | BlazeFaceDetector | None = None,
        int8_sessions: Sequence | None = None,
    ) -> None:
        self.network = network
        self.config = config
        self.version = version
        self.device = device
        self.members = list(members)
        self.detector = detector if detector is not None else load_face_detector(config, None, torch.device(device).type)
        # ONNX Runtime sessions of the int8 graphs, one per network in ensemble order (the
        # CPU path); None: the PyTorch networks score the faces
        self.int8_sessions = list(int8_sessions) if int8_sessions is not None else None
        if self.int8_sessions is not None and len(self.int8_sessions) != 1 + len(self.members):
            raise ValueError(f"{len(self.int8_sessions)} int8 graphs for {1 + len(self.members)} networks")

    @classmethod
    def load(cls, model_dir: Path, device: str = "auto") -> ImageScorer:
        """Load the checkpoint in ``model_dir`` (and its ensemble members); ``device`` is
        ``auto`` | ``cpu`` | ``cuda``."""
        loaded, version = load_image_ensemble(model_dir, device)
        (network, config), members = loaded[0], loaded[1:]
        detector = load_face_detector(config, Path(model_dir), device)
        graphs = int8_classifier_paths(Path(model_dir), config, device)
        folders = [Path(model_dir)] + [Path(model_dir) / member for member in config.members]
        sessions = None if graphs is None else [_onnx_session(graph, folder / WEIGHTS_FILE) for graph, folder in zip(graphs, folders)]
        return cls(network, config, version, next(network.parameters()).device, members, detector, sessions)

    @property
    def feature_dim(self) -> int:
        return int(self.network.classifier.in_features)

    def classify_faces(self, faces: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Classify face crops directly (no detection). With ensemble members, the probabilities
        are the mean of every network's (each with its own crop, standardisation and test-time
        views); the features are the primary network's.

        Args:
            faces: (N, 48, 48) uint8 grayscale faces, histogram-equalised like the detector's.

        Returns:
            probabilities (N, 7) in ``LABELS`` order, features (N, feature_dim), float32.
        """
        faces = np.asarray(faces)
        if faces.ndim != 3 or faces.shape[1:] != (self.config.face_size, self.config.face_size):
            raise ValueError(f"faces must be (N, {self.config.face_size}, {self.config.face_size}), got {faces.shape}")
        faces = faces.astype(np.uint8, copy=False)
        if self.int8_sessions is not None:
            return self._classify_int8(faces)
        all_probabilities, features = [], None
        for network, config in [(self.network, self.config), *self.members]:
            probabilities, network_features = predict_probabilities(
                network,
                faces,
                crop_size=config.crop_size,
                pixel_mean=config.pixel_mean,
                pixel_std=config.pixel_std,
                device=self.device,
                test_time_shift=config.test_time_shift,
                test_time_diagonals=config.test_time_diagonals,
                # a GPU wants every crop of the chunk in few large passes; a CPU core gains
                # nothing past a few hundred and only spends memory
                batch_size=4096 if self.device.type == "cuda" else 256,
            )
            all_probabilities.append(probabilities)
            features = network_features if features is None else features
        return np.mean(all_probabilities, axis=0).astype(np.float32), features

    def _classify_int8(self, faces: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """:meth:`classify_faces` through the int8 graphs: the same views, averaged the same way;
        with ``full_views_margin``, the views past the centre crop and its mirror only for the
        faces the ensemble is unsure of."""
        configs = [self.config] + [config for _, config in self.members]
        probabilities = np.zeros((len(faces), len(self.config.labels)), np.float64)
        features = np.zeros((len(faces), self.feature_dim), np.float32)
        view_counts = [view_count(config.test_time_shift, diagonals=config.test_time_diagonals) for config in configs]
        # about 512 crops per pass: as fast on a CPU core as larger passes, and ONNX Runtime's
        # arena (kept for the process's life) stays small
        faces_per_pass = max(1, 512 // max(view_counts))
        margin = self.config.full_views_margin
        for start in range(0, len(faces), faces_per_pass):
            chunk = faces[start : start + faces_per_pass]
            count = len(chunk)
            # view-major inputs, one array per network: (views, N, 1, crop, crop)
            inputs = [classifier_inputs(chunk, config).reshape(views, count, *(1, config.crop_size, config.crop_size))
                      for config, views in zip(configs, view_counts)]

            def run(index: int, view_indices: list[int], face_indices: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
                """Sums over ``view_indices`` of network ``index``'s probabilities and features."""
                selected = inputs[index][view_indices][:, face_indices]
                batch = np.ascontiguousarray(selected.reshape(-1, *selected.shape[2:]))
                outputs, outputs_features = self.int8_sessions[index].run(["probabilities", "features"], {"faces": batch})
                shape = (len(view_indices), len(face_indices))
                return outputs.reshape(*shape, -1).sum(axis=0), outputs_features.reshape(*shape, -1).sum(axis=0)

            # every view, or (adaptive) the centre crop and its mirror first: view-major, the
            # mirrored views follow the unmirrored ones (a network without mirrored views has
            # one view first, not the centre crop twice)
            first = [list(range(views)) if margin is None else sorted({0, views // 2}) for views in view_counts]
            sums = [run(index, first[index], np.arange(count)) for index in range(len(configs))]
            means = [[total / len(first[index]), network_features / len(first[index])]
                     for index, (total, network_features) in enumerate(sums)]
            if margin is not None:
                top_two = np.sort(sum(mean for mean, _ in means) / len(configs), axis=1)[:, -2:]
                unsure = np.flatnonzero(top_two[:, 1] - top_two[:, 0] < margin)
                for index, views in enumerate(view_counts):
                    rest = [view for view in range(views) if view not in first[index]]
                    if unsure.size and rest:
                        total, network_features = run(index, rest, unsure)
                        means[index][0][unsure] = (sums[index][0][unsure] + total) / views
                        means[index][1][unsure] = (sums[index][1][unsure] + network_features) / views
            chunk_probabilities = sum(mean for mean, _ in means)
            chunk_features = means[0][1]
            probabilities[start : start + count] = chunk_probabilities / len(configs)
            features[start : start + count] = chunk_features  # the primary network's, as in the PyTorch path
        return probabilities.astype(np.float32), features

    def score_bytes(self, images: Sequence[bytes | None], batch_size: int = 128) -> pd.DataFrame:
        """Score encoded images (PNG/JPEG/GIF/... bytes; ``None`` for a post without image).

        Never raises for a bad image: its ``image_status`` names the problem and its
        probabilities are null. No face found -> ``no_face``, null probabilities, never a guess.

        Args:
            images: encoded image files, one per post.
            batch_size: how many images are decoded before their faces go through the CNN.

        Returns:
            One row per input, same order, columns ``image_probs`` (list of 7 floats or None),
            ``image_status``, ``face_count``, ``face_boxes`` (list of [x, y, w, h]),
            ``image_features`` (list of floats or None).
        """
        if batch_size < 1:
            raise ValueError(f"batch_size must be >= 1, got {batch_size}")
        rows: list[dict] = []
        for start in range(0, len(images), batch_size):
            rows.extend(self._score_chunk(list(images[start : start + batch_size])))
        return pd.DataFrame(
            rows, columns=["image_probs", "image_status", "face_count", "face_boxes", "image_features"]
        ).astype({"face_count": "int64"})

    def _score_chunk(self, images: list[bytes | None]) -> list[dict]:
        rows: list[dict] = []
        face_crops: list[np.ndarray] = []
        owners: list[int] = []
        # Decoded photos are held only for one detector pass (one photo on a CPU, a batch on a
        # GPU); their face crops are kept for the classifier, which sees the whole chunk at once.
        step = getattr(self.detector, "batch_size", 1)
        for start in range(0, len(images), step):
            decoded_images = {}
            for position in range(start, min(start + step, len(images))):
                decoded = decode_image(images[position], min_short_side=self.config.decode_short_side)
                rows.append({"image_probs": None, "image_status": decoded.status, "face_count": 0, "face_boxes": [], "image_features": None})
                if decoded.gray is not None:
                    decoded_images[position] = decoded
            found = self._detect([decoded.gray for decoded in decoded_images.values()])
            for (position, decoded), boxes in zip(decoded_images.items(), found):
                row = rows[position]
                if isinstance(boxes, Exception):  # one odd image must not fail the batch
                    row["image_status"] = f"detect_error:{type(boxes).__name__}"
                    continue
                # boxes in the file's pixels, whatever size the decoder produced
                row["face_boxes"] = [[int(round(value / decoded.scale)) for value in box] for box in boxes]
                row["face_count"] = len(boxes)
                if not boxes:
                    row["image_status"] = "no_face"
                    continue
                face_crops.append(crop_faces(decoded.gray, boxes, FACE_SIZE, equalize=self.config.equalize_crops))
                owners.append(position)
        if not face_crops:
            return rows
        probabilities, features = self.classify_faces(np.concatenate(face_crops))
        offset = 0
        for position, crops in zip(owners, face_crops):
            row = rows[position]
            count = len(crops)
            row["image_probs"] = combine_by_area(probabilities[offset : offset + count], row["face_boxes"]).tolist()
            row["image_features"] = combine_by_area(features[offset : offset + count], row["face_boxes"]).tolist()
            offset += count
        return rows

    def _detect(self, grays: list[np.ndarray]) -> list[list | Exception]:
        """Boxes per image (many per detector pass where the detector batches); an image whose
        detection raises gets its exception instead, and only it is retried alone."""
        if not grays:
            return []
        if hasattr(self.detector, "detect_many"):
            try:
                return list(self.detector.detect_many(grays))
            except Exception:  # noqa: BLE001 — find the odd image: the others still get boxes
                pass
        found: list[list | Exception] = []
        for gray in grays:
            try:
                found.append(self.detector.detect(gray))
            except Exception as error:  # noqa: BLE001 — one odd image must not fail the batch
                found.append(error)
        return found


_SCORERS: dict[tuple[str, str], ImageScorer] = {}


def load_image_scorer(model_dir: Path, device: str = "auto") -> ImageScorer:
    """The process's :class:`ImageScorer` for ``(model_dir, device)``, loaded on first use."""
    key = (str(Path(model_dir).resolve()), device)
    if key not in _SCORERS:
        _SCORERS[key] = ImageScorer.load(Path(model_dir), device)
    return _SCORERS[key]
