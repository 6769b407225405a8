"""Write ``model.int8.onnx`` beside each emotion network of the shipped image ensemble.

Run once, by hand, whenever the networks' weights change; the pipeline only reads the files:

  .venv/bin/pip install -e ".[quantize]"   # onnx==1.23.2: export and quantization tooling; scoring needs onnxruntime
  .venv/bin/python scripts/quantize_face_classifiers.py [--model-dir models/weights/image]
      [--data ../shared/data/fer2013/train_48x48.npz] [--calibration-faces 1024]

For the primary checkpoint and every member its config names, the network is exported to ONNX
(input ``faces``: standardised (N, 1, crop, crop) floats; outputs ``probabilities`` after the
softmax and ``features``), then quantized statically to 8 bits (ONNX Runtime's QDQ format:
weights int8 per output channel, activations uint8 with ranges from min/max calibration). The
calibration faces are TRAINING faces of the checkpoint's recorded split (never its validation
faces, which the benchmarks report on), seen through the same test-time views the scorer uses.
On a CPU with 8-bit dot-product instructions (AVX-512 VNNI / AVX-VNNI) ONNX Runtime runs the
int8 graph about three times as fast as the float one and four times as fast as PyTorch
(benchmarks/RESULTS.md); the scorer uses these graphs on CPUs only, PyTorch on GPUs.

Each file is stamped (metadata ``weights_digest``) with the digest of the weights it was made
from; the scorer refuses a graph whose stamp differs. The script prints, per network, how its
int8 output agrees with PyTorch's on training faces that were not used for calibration.
"""

from __future__ import annotations

import argparse
import copy
import sys
import tempfile
from pathlib import Path

import numpy as np
import torch

REPO_ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO_ROOT))

from models.checkpoints import weights_digest  # noqa: E402
from models.image.inference import (  # noqa: E402
    INT8_CLASSIFIER_FILE,
    WEIGHTS_FILE,
    ImageModelConfig,
    classifier_inputs,
    load_image_ensemble,
    training_split,
)
from models.image.network import FaceEmotionCNN  # noqa: E402
from models.image.training import load_face_dataset, stratified_split  # noqa: E402


class _ProbabilitiesAndFeatures(torch.nn.Module):
    """The exported graph: softmax probabilities and penultimate features in one pass."""

    def __init__(self, network: FaceEmotionCNN) -> None:
        super().__init__()
        self.network = network

    def forward(self, faces: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        logits, features = self.network.forward_with_features(faces)
        return torch.softmax(logits, dim=1), features


def quantize_network(
    network: FaceEmotionCNN, config: ImageModelConfig, calibration_faces: np.ndarray, output: Path, digest: str
) -> None:
    """Export ``network`` to ONNX, quantize it to int8 with ``calibration_faces`` and write ``output``."""
    import onnx
    from onnxruntime.quantization import CalibrationDataReader, CalibrationMethod, QuantFormat, QuantType, quantize_static
    from onnxruntime.quantization.shape_inference import quant_pre_process

    # export a float, contiguous, eval-mode copy (export would otherwise flip the scorer's
    # network back to training mode when it restores the wrapper's mode)
    wrapper = _ProbabilitiesAndFeatures(copy.deepcopy(network).float().cpu().to(memory_format=torch.contiguous_format)).eval()
    batches = [
        classifier_inputs(calibration_faces[start : start + 64], config)
        for start in range(0, len(calibration_faces), 64)
    ]

    class Reader(CalibrationDataReader):
        def __init__(self) -> None:
            self.remaining = iter(batches)

        def get_next(self) -> dict[str, np.ndarray] | None:
            batch = next(self.remaining, None)
            return None if batch is None else {"faces": batch}

    with tempfile.TemporaryDirectory() as folder:
        exported, prepared = Path(folder) / "float.onnx", Path(folder) / "prepared.onnx"
        torch.onnx.export(
            wrapper, (torch.zeros(2, 1, config.crop_size, config.crop_size),), str(exported), dynamo=False,
            opset_version=17, input_names=["faces"], output_names=["probabilities", "features"],
            dynamic_axes={"faces": {0: "faces"}, "probabilities": {0: "faces"}, "features": {0: "faces"}},
        )
        quant_pre_process(str(exported), str(prepared), skip_symbolic_shape=True)
        # the global pool and the layers after it stay float: 8-bit probabilities
        # would move in steps of 1/255 and no longer sum to one, and the head costs nothing
        head = [node.name for node in onnx.load(str(prepared)).graph.node if node.op_type in {"GlobalAveragePool", "Flatten", "Gemm", "MatMul", "BatchNormalization", "Softmax"} or "projection" in node.name or "classifier" in node.name]
        quantize_static(
            str(prepared), str(output), Reader(), quant_format=QuantFormat.QDQ, per_channel=True,
            activation_type=QuantType.QUInt8, weight_type=QuantType.QInt8, calibrate_method=CalibrationMethod.MinMax,
            nodes_to_exclude=head,
        )
    graph = onnx.load(str(output))
    for key, value in {
        "weights_digest": digest,
        "calibration": f"{len(calibration_faces)} FER2013 training faces, min/max, the scorer's test-time views",
    }.items():
        entry = graph.metadata_props.add()
        entry.key, entry.value = key, value
    onnx.save(graph, str(output))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model-dir", type=Path, default=REPO_ROOT / "models" / "weights" / "image")
    parser.add_argument("--data", type=Path, default=REPO_ROOT.parent / "shared" / "data" / "fer2013" / "train_48x48.npz")
    parser.add_argument("--calibration-faces", type=int, default=1024)
    parser.add_argument("--check-faces", type=int, default=2048, help="other training faces to compare int8 with PyTorch on")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)
    torch.set_num_threads(1)

    import onnxruntime

    split = training_split(args.model_dir)
    if split is None:
        raise SystemExit(f"{args.model_dir}/config.json records no training split: cannot tell training faces apart")
    images, labels = load_face_dataset(args.data)
    training, _ = stratified_split(labels, split[1], split[0])
    chosen = np.random.default_rng(args.seed).permutation(training)
    calibration = images[chosen[: args.calibration_faces]]
    check = images[chosen[args.calibration_faces : args.calibration_faces + args.check_faces]]

    loaded, version = load_image_ensemble(args.model_dir, device="cpu")
    config = loaded[0][1]
    folders = [args.model_dir, *(args.model_dir / member for member in config.members)]
    print(f"{version} (before): {len(folders)} networks; calibration on {len(calibration)} training faces")
    for folder, (network, network_config) in zip(folders, loaded):
        output = folder / INT8_CLASSIFIER_FILE
        quantize_network(network, network_config, calibration, output, weights_digest(folder / WEIGHTS_FILE, length=64))
        session = onnxruntime.InferenceSession(str(output), providers=["CPUExecutionProvider"])
        inputs = classifier_inputs(check, network_config)
        quantized = session.run(["probabilities"], {"faces": inputs})[0]
        with torch.inference_mode():
            reference = torch.softmax(network(torch.from_numpy(inputs)), dim=1).numpy()
        print(
            f"{output.relative_to(REPO_ROOT) if output.is_relative_to(REPO_ROOT) else output}: {output.stat().st_size / 1024:.0f} KiB; "
            f"on {len(check)} other training faces x {len(inputs) // len(check)} views: top label agrees "
            f"{np.mean(quantized.argmax(1) == reference.argmax(1)):.4f}, mean |probability difference| "
            f"{np.abs(quantized - reference).mean():.4f} (max {np.abs(quantized - reference).max():.3f})"
        )
    print(f"scorer version on CPUs now: {load_image_ensemble(args.model_dir, device='cpu')[1]}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
