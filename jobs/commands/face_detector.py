"""``emodrift train face-detector``: distil MediaPipe's BlazeFace into the shallower detector
the scorer runs on CPUs (``models.image.detector_distillation``).

Thin edge: read the faces and the teacher, call the distillation, write the folder
(``model.safetensors``, ``config.json`` with the block layout, ``model.onnx`` for ONNX
Runtime stamped with the weights' digest, ``metrics.json`` with the training history).
"""

from __future__ import annotations

import argparse
import dataclasses
import datetime
import json
import platform
import sys
import time
from pathlib import Path

import numpy as np
import torch

from jobs.settings import DEFAULT_IMAGE_MODEL, Settings

REPO_ROOT = Path(__file__).resolve().parents[2]
DEFAULT_TEACHER = REPO_ROOT / "models" / "weights" / "face_detector"
DEFAULT_OUTPUT = REPO_ROOT / "models" / "weights" / "face_detector_distilled"


def export_detector_onnx(network, path: Path, weights_digest: str) -> None:
    """``network`` (a ``BlazeFaceBack``) as an ONNX graph (opset 17; batch, height and width
    free), stamped with the digest of the safetensors it was exported from: the scorer refuses
    a ``model.onnx`` whose stamp differs from the weights beside it."""
    import onnx

    network = network.cpu().to(memory_format=torch.contiguous_format).eval()
    torch.onnx.export(
        network, (torch.zeros(1, 1, 224, 288),), str(path), dynamo=False, opset_version=17,
        input_names=["images"], output_names=["scores", "regressions"],
        dynamic_axes={"images": {0: "batch", 2: "height", 3: "width"}, "scores": {0: "batch", 1: "anchors"},
                      "regressions": {0: "batch", 1: "anchors"}},
    )
    graph = onnx.load(str(path))
    stamp = graph.metadata_props.add()
    stamp.key, stamp.value = "weights_digest", weights_digest
    onnx.save(graph, str(path))


def main(argv: list[str] | None = None) -> int:
    """``emodrift train face-detector --data <FER npz> [--output DIR] [--photos N] [--epochs E]``."""
    from safetensors.torch import save_file

    from models.checkpoints import weights_digest
    from models.devices import resolve_device
    from models.image.detector_distillation import STUDENT_BLOCKS, DistillationSettings, distil_detector, distillation_inputs, network_outputs, pruned_detector
    from models.image.inference import ImageModelConfig, load_face_detector, read_image_config, training_split
    from models.image.training import load_face_dataset, stratified_split

    settings = Settings.from_env()
    parser = argparse.ArgumentParser(
        prog="emodrift train face-detector",
        description="distil the BlazeFace detector into a shallower one on photos of the image model's training faces",
    )
    parser.add_argument("--data", type=Path, default=settings.shared_data / "fer2013" / "train_48x48.npz",
                        help="FER2013-style npz; only the image model's training faces are pasted (its validation split stays unseen)")
    parser.add_argument("--image-model", type=Path, default=DEFAULT_IMAGE_MODEL,
                        help="image model whose recorded split and detector reading (sizes) are used")
    parser.add_argument("--teacher", type=Path, default=DEFAULT_TEACHER, help="folder of the teacher detector's model.safetensors")
    parser.add_argument("--output", type=Path, default=DEFAULT_OUTPUT)
    parser.add_argument("--photos", type=int, default=8000, help="synthetic photos (3 training windows each)")
    parser.add_argument("--epochs", type=int, default=4)
    parser.add_argument("--learning-rate", type=float, default=1e-3)
    parser.add_argument("--keep", default=",".join(str(index) for index in STUDENT_BLOCKS),
                        help="comma-separated indices of the teacher's blocks the student keeps")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--threads", type=int, default=2, help="torch CPU threads")
    parser.add_argument("--device", default="auto", choices=["auto", "cpu", "cuda"])
    args = parser.parse_args(argv)
    try:
        import onnx  # noqa: F401  (model.onnx is written at the end: fail before an hour of work, not after)
    except ImportError:
        print("emodrift train face-detector: the ONNX export needs the onnx package: pip install 'emodrift[quantize]' (onnx==1.23.2)",
              file=sys.stderr)
        return 2
    if not args.data.is_file():
        print(f"emodrift train face-detector: no FER2013 npz at {args.data} (pass --data)", file=sys.stderr)
        return 2
    split = training_split(args.image_model)
    if split is None:
        print(f"emodrift train face-detector: {args.image_model}/config.json records no training split; "
              "pass an image model trained here (--image-model) so its validation faces stay unseen", file=sys.stderr)
        return 2
    torch.set_num_threads(args.threads)
    device = resolve_device(args.device)
    started = time.perf_counter()

    image_config = read_image_config(args.image_model)
    teacher_config = ImageModelConfig(**{**dataclasses.asdict(image_config), "detector": {
        **{key: value for key, value in image_config.detector.items() if key not in ("weights", "shipped_weights")},
        "kind": "blazeface", "weights": str(args.teacher.resolve()),
    }})
    teacher = load_face_detector(teacher_config, args.image_model, args.device)
    images, labels = load_face_dataset(args.data)
    training, _ = stratified_split(labels, split[1], split[0])
    distillation = DistillationSettings(
        short_side=teacher.short_side, max_long_side=teacher.max_long_side, decode_short_side=image_config.decode_short_side
    )

    def photo_progress(done: int, total: int) -> None:
        if done % 500 == 0 or done == total:
            print(f"photos {done}/{total} ({time.perf_counter() - started:.0f} s)", flush=True)

    inputs = distillation_inputs(images[training], args.photos, np.random.default_rng(args.seed), distillation, photo_progress)

    def teacher_progress(done: int, total: int) -> None:
        if done % 4000 < 16 or done == total:
            print(f"teacher outputs {done}/{total} ({time.perf_counter() - started:.0f} s)", flush=True)

    teacher_scores, teacher_regressions = network_outputs(teacher.run_network, inputs, progress=teacher_progress)
    keep = [int(value) for value in args.keep.split(",")]
    student = pruned_detector(teacher.network.cpu(), keep)

    def epoch_progress(entry: dict) -> None:
        train_loss = "-" if entry["train_loss"] is None else f"{entry['train_loss']:.4f}"
        print(f"epoch {entry['epoch']}/{args.epochs}: train loss {train_loss}, held-out loss "
              f"{entry['held_out_loss']:.4f} ({time.perf_counter() - started:.0f} s)", flush=True)

    history = distil_detector(
        student, inputs, teacher_scores, teacher_regressions, epochs=args.epochs, learning_rate=args.learning_rate,
        seed=args.seed, device=device, progress=epoch_progress,
    )
    student = student.cpu().to(memory_format=torch.contiguous_format)
    args.output.mkdir(parents=True, exist_ok=True)
    weights_path = args.output / "model.safetensors"
    save_file({name: value.contiguous() for name, value in student.state_dict().items()}, str(weights_path),
              metadata={"format": "pt", "model": "blazeface-back-distilled"})
    weights_path.chmod(0o644)
    digest = weights_digest(weights_path, length=64)
    export_detector_onnx(student, args.output / "model.onnx", digest)
    (args.output / "config.json").write_text(json.dumps({
        "blocks": [list(block) for block in student.block_layout],
        "kept_teacher_blocks": keep,
        "teacher_weights_digest": weights_digest(args.teacher / "model.safetensors", length=64)[:16],
    }, indent=2) + "\n", encoding="utf-8")
    (args.output / "metrics.json").write_text(json.dumps({
        "created": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
        "weights_digest": digest[:16],
        "photos": args.photos, "training_inputs": len(inputs), "seed": args.seed, "epochs": args.epochs,
        "learning_rate": args.learning_rate, "image_model_split": list(split),
        "distillation": {key: value for key, value in dataclasses.asdict(distillation).items() if key != "photo_settings"},
        "history": history, "seconds": round(time.perf_counter() - started, 1),
        "machine": {"device": device.type, "threads": args.threads, "platform": platform.platform(), "torch": torch.__version__},
    }, indent=2) + "\n", encoding="utf-8")
    print(f"wrote {args.output} (weights {digest[:16]}) in {time.perf_counter() - started:.0f} s")
    return 0
