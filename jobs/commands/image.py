"""Command-line tools for the face emotion CNN: ``emodrift train image``, ``eval image``, ``score-images``.

Thin edges: parse arguments, read files, call ``models.image.training`` /
``models.image.inference``, write results.
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
import pandas as pd
import torch

from jobs.settings import DEFAULT_IMAGE_MODEL, Settings
from models.labels import LABELS

IMAGE_SUFFIXES = {".png", ".jpg", ".jpeg", ".gif", ".bmp", ".webp", ".tif", ".tiff", ".ppm", ".pgm"}


# --------------------------------------------------------------------------- train


def train_main(argv: list[str] | None = None) -> int:
    """``emodrift train image --data <npz> [--output DIR] [--epochs N] [--seed S]``."""
    from models.image.inference import ImageModelConfig, read_image_config, save_image_network
    from models.devices import resolve_device
    from models.image.training import OPTIMIZERS, TrainingConfig, load_face_dataset, train_face_classifier

    defaults = TrainingConfig()
    parser = argparse.ArgumentParser(prog="emodrift train image", description="train the face emotion CNN on FER2013")
    parser.add_argument("--data", type=Path, required=True, help="FER2013-style npz (images, labels, label_names)")
    parser.add_argument("--output", type=Path, default=DEFAULT_IMAGE_MODEL, help="checkpoint folder to write")
    parser.add_argument("--epochs", type=int, default=defaults.epochs)
    parser.add_argument("--seed", type=int, default=defaults.seed)
    parser.add_argument("--batch-size", type=int, default=defaults.batch_size)
    parser.add_argument("--base-width", type=int, default=defaults.base_width)
    parser.add_argument("--optimizer", choices=list(OPTIMIZERS), default=defaults.optimizer)
    parser.add_argument("--learning-rate", type=float, default=None, help="one-cycle peak (default: adamw 0.003, sgd 0.1)")
    parser.add_argument("--weight-decay", type=float, default=None, help="default: adamw 0.05 (decoupled), sgd 0.0005 (L2)")
    parser.add_argument("--patience", type=int, default=defaults.patience)
    parser.add_argument("--crop-size", type=int, default=defaults.crop_size, help="side of the random training crop of the 48x48 faces")
    parser.add_argument(
        "--random-erasing", type=float, default=defaults.random_erasing,
        help="share of training faces with one rectangle replaced by noise (0 disables)",
    )
    parser.add_argument(
        "--test-time-shift", type=int, default=2,
        help="pixels of the four diagonal crop shifts averaged at scoring time (0: centre and mirror only)",
    )
    parser.add_argument(
        "--teacher", type=Path, action="append", default=[], metavar="MODEL_DIR",
        help="distil from this checkpoint (repeat to average several); it must share this run's split",
    )
    parser.add_argument(
        "--distillation-weight", type=float, default=None,
        help="share of the teachers' prediction in each target (default 0.5 with --teacher)",
    )
    parser.add_argument(
        "--max-shift", type=float, default=defaults.max_shift,
        help="random shift of training faces, share of their side (detector-style boxes; 0 disables)",
    )
    parser.add_argument("--max-scale-change", type=float, default=defaults.max_scale_change)
    parser.add_argument("--init-from", type=Path, default=None, metavar="MODEL_DIR",
                        help="fine-tune: start from this checkpoint's weights (same architecture)")
    parser.add_argument("--limit", type=int, default=None, help="train on the first N images only (smoke runs)")
    parser.add_argument("--time-limit-minutes", type=float, default=None)
    parser.add_argument("--threads", type=int, default=1, help="torch CPU threads (shared machines: keep 1)")
    parser.add_argument("--device", default="auto", choices=["auto", "cpu", "cuda"])
    parser.add_argument("--no-progress", action="store_true")
    args = parser.parse_args(argv)
    if not 0 <= args.test_time_shift <= (48 - args.crop_size) // 2:
        parser.error(f"--test-time-shift must be in [0, {(48 - args.crop_size) // 2}] for --crop-size {args.crop_size}")

    torch.set_num_threads(args.threads)
    config = dataclasses.replace(
        defaults,
        epochs=args.epochs,
        seed=args.seed,
        batch_size=args.batch_size,
        base_width=args.base_width,
        optimizer=args.optimizer,
        learning_rate=args.learning_rate,
        weight_decay=args.weight_decay,
        patience=args.patience,
        crop_size=args.crop_size,
        random_erasing=args.random_erasing,
        max_shift=args.max_shift,
        max_scale_change=args.max_scale_change,
        distillation_weight=(0.5 if args.teacher else 0.0) if args.distillation_weight is None else args.distillation_weight,
        time_limit_minutes=args.time_limit_minutes,
    )
    if args.teacher and config.distillation_weight == 0:
        parser.error("--teacher needs a --distillation-weight above 0")
    if config.distillation_weight > 0 and not args.teacher:
        parser.error("--distillation-weight needs at least one --teacher")
    images, labels = load_face_dataset(args.data)
    if args.limit is not None:
        images, labels = images[: args.limit], labels[: args.limit]
    print(f"training on {len(labels)} images from {args.data}; config {dataclasses.asdict(config)}", flush=True)
    teacher_probabilities, teachers = None, []
    if args.teacher:
        teacher_probabilities, teachers = teacher_predictions(args.teacher, images, config, args.device)

    def write_checkpoint(result, validation_metrics: dict, final: bool = False) -> None:
        model_config = ImageModelConfig(
            network=config.network_arguments(), crop_size=config.crop_size,
            pixel_mean=result.pixel_mean, pixel_std=result.pixel_std, test_time_shift=args.test_time_shift,
            # New checkpoints read photos as the shipped model does (not the dataclass's
            # first-checkpoint Haar defaults), so a retrained network is scored as measured.
            **read_image_config(DEFAULT_IMAGE_MODEL).photo_reading(),
        )
        extra = {"training": dataclasses.asdict(config)} | ({"teachers": teachers} if teachers else {})
        save_image_network(result.network, model_config, args.output, extra)
        card = model_card(
            result=result, config=config, data_path=args.data, labels=labels, metrics=validation_metrics,
            final=final, device=str(resolve_device(args.device)), threads=args.threads, teachers=teachers,
            test_time_shift=args.test_time_shift,
        )
        (args.output / "MODEL_CARD.md").write_text(card, encoding="utf-8")
        (args.output / "metrics.json").write_text(
            json.dumps({"validation": validation_metrics, "history": result.history}, indent=2), encoding="utf-8"
        )

    initial_state = None
    if args.init_from is not None:
        from models.image.inference import load_image_network

        initial_state = load_image_network(args.init_from, "cpu")[0].state_dict()
    result = train_face_classifier(
        images, labels, config, device=args.device, on_improvement=write_checkpoint, progress=not args.no_progress,
        teacher_probabilities=teacher_probabilities, initial_state=initial_state,
    )
    from models.image.training import classification_metrics, predict_probabilities

    device = resolve_device(args.device)
    validation_images = images[result.validation_indices]
    started = time.perf_counter()
    probabilities, _ = predict_probabilities(
        result.network.to(device).to(memory_format=torch.channels_last), validation_images,
        crop_size=config.crop_size, pixel_mean=result.pixel_mean, pixel_std=result.pixel_std, device=device,
        test_time_shift=args.test_time_shift,
    )
    inference_seconds = time.perf_counter() - started
    metrics = classification_metrics(labels[result.validation_indices], probabilities)
    metrics["inference_images_per_second"] = len(validation_images) / inference_seconds
    metrics["test_time_shift"] = args.test_time_shift
    best = result.history[result.best_epoch - 1]
    metrics["centre_and_mirror"] = {"accuracy": best["validation_accuracy"], "macro_f1": best["validation_macro_f1"]}
    result.network.cpu()
    write_checkpoint(result, metrics, final=True)
    print(json.dumps({key: metrics[key] for key in ("accuracy", "macro_f1", "macro_roc_auc")}), flush=True)
    return 0


def teacher_predictions(teacher_dirs: list[Path], images: np.ndarray, config, device: str) -> tuple[np.ndarray, list[dict]]:
    """Average the teachers' (flip-averaged) probabilities over every face, after checking that
    each teacher held out the same validation faces this run will measure on.

    Returns:
        (N, len(LABELS)) averaged probabilities, and one record per teacher for the model card.
    """
    from models.image.inference import load_image_network, training_split
    from models.image.training import predict_probabilities

    all_probabilities, records = [], []
    for teacher_dir in teacher_dirs:
        network, teacher_config, version = load_image_network(teacher_dir, device)
        split = training_split(teacher_dir)
        if split != (config.seed, config.validation_fraction):
            raise SystemExit(
                f"teacher {teacher_dir} was trained with split seed/fraction {split}, this run uses "
                f"{(config.seed, config.validation_fraction)}: it has seen this run's validation faces. "
                "Distil only from teachers trained with the same --seed."
            )
        print(f"teacher {teacher_dir} ({version}): predicting {len(images)} faces", flush=True)
        probabilities, _ = predict_probabilities(
            network, images, crop_size=teacher_config.crop_size, pixel_mean=teacher_config.pixel_mean,
            pixel_std=teacher_config.pixel_std, device=next(network.parameters()).device,
        )
        all_probabilities.append(probabilities)
        records.append({"path": str(teacher_dir), "version": version})
    return np.mean(all_probabilities, axis=0), records


OPTIMIZER_NAMES = {"adamw": "AdamW", "sgd": "SGD with Nesterov momentum"}


def model_card(
    *, result, config, data_path: Path, labels: np.ndarray, metrics: dict, final: bool, device: str, threads: int,
    teachers: list[dict] | None = None, test_time_shift: int = 0,
) -> str:
    """The MODEL_CARD.md text: data, split rule, every measured metric, cost."""
    parameters = sum(parameter.numel() for parameter in result.network.parameters())
    counts = np.bincount(labels, minlength=len(LABELS))
    rows = "\n".join(
        f"| {name} | {values['precision']:.3f} | {values['recall']:.3f} | {values['f1']:.3f} | "
        f"{values['roc_auc'] if values['roc_auc'] is None else format(values['roc_auc'], '.3f')} | {values['support']} |"
        for name, values in metrics["per_class"].items()
    )
    history = "\n".join(
        f"| {int(record['epoch'])} | {record['train_loss']:.4f} | {record['validation_accuracy']:.4f} | "
        f"{record['validation_macro_f1']:.4f} | {record['epoch_seconds']:.0f} |"
        for record in result.history
    )
    state = "final" if final else f"IN PROGRESS (best so far, after epoch {result.epochs_run} of {config.epochs})"
    inference = metrics.get("inference_images_per_second")
    views = "the face and its mirror" if test_time_shift == 0 else (
        f"10 views: the centre crop and four crops shifted {test_time_shift} px diagonally, each with its mirror"
    )
    inference_line = f"- Inference (crops, {views}): {inference:.0f} images/s\n" if inference else ""
    metrics_views = (
        "scored like the pipeline scores" if metrics.get("test_time_shift", 0) == test_time_shift
        else "centre crop and mirror; the final metrics use every test-time view"
    )
    centre = metrics.get("centre_and_mirror")
    if centre and test_time_shift:
        inference_line += (
            f"- Centre crop and mirror only (the per-epoch selection metric): accuracy {centre['accuracy']:.4f}, "
            f"macro-F1 {centre['macro_f1']:.4f}.\n"
        )
    teacher_flags = "".join(f" --teacher {teacher['path']}" for teacher in teachers or [])
    if teachers:
        teacher_flags += f" --distillation-weight {config.distillation_weight}"
    teachers_line = (
        f"- Knowledge distillation: targets mix the label ({1 - config.distillation_weight:.0%}) with the averaged\n"
        f"  flip-averaged prediction ({config.distillation_weight:.0%}) of {len(teachers)} teacher network(s) trained on the\n"
        f"  same split: {', '.join(teacher['version'] for teacher in teachers)}.\n"
        if teachers else ""
    )
    erasing_text = (
        f", random erasing of one 2-25% rectangle in {config.random_erasing:.0%} of faces" if config.random_erasing else ""
    )
    return f"""# Face emotion CNN (image-cnn-v1) — model card

Status: **{state}**. Written {datetime.datetime.now(datetime.timezone.utc).strftime('%Y-%m-%d %H:%M UTC')}.

## What it does
Classifies a 48x48 grayscale face crop into the pipeline labels
`{', '.join(LABELS)}`. Faces come from the BlazeFace detector (`models/image/blazeface.py`); several
faces in a picture are combined by face area; no face gives a null prediction.

## Data
- Training data: FER2013 training images (`{data_path.name}`, {len(labels)} images, 48x48 grayscale),
  Goodfellow et al. 2013. FER labels mapped by name: angry->anger, happy->joy, sad->sadness,
  the rest unchanged.
- Class counts: {', '.join(f'{name} {int(count)}' for name, count in zip(LABELS, counts))}.
- Validation split (model selection, early stopping, every metric below): stratified
  {config.validation_fraction:.0%} of the training file. Rule: labels mapped to LABELS order; one
  `np.random.default_rng({config.seed})`; for each class in LABELS order take
  `rng.permutation(np.flatnonzero(labels == c))` and put its first `round(count * {config.validation_fraction})`
  indices in validation (`models.image.training.stratified_split`). {len(result.validation_indices)} validation,
  {len(result.train_indices)} training images.
- The official FER2013 test split was not used or looked at; its accuracy is not measured here.
  The project's target is >= 67% there; validation accuracy here is the only estimate of it.

## Model
- Architecture: VGG-style CNN, 4 stages (widths {config.base_width}, {config.base_width * 2}, {config.base_width * 4}, {config.base_width * 8};
  {config.first_stage_convolutions}+{config.later_stage_convolutions}+{config.later_stage_convolutions}+{config.later_stage_convolutions} 3x3 conv+BatchNorm+ReLU, max-pool), global average pool,
  linear {config.feature_dim}-d projection (the `image_features`), dropout {config.dropout}, linear classifier.
- Parameters: {parameters:,}.
- Input: centre {config.crop_size}x{config.crop_size} crop of the 48x48 face, standardised with the training
  pixel mean {result.pixel_mean:.4f} and std {result.pixel_std:.4f}; prediction averages {views}.

## Training
- Seed {config.seed}; {OPTIMIZER_NAMES[config.optimizer]} (peak lr {config.learning_rate}, weight decay {config.weight_decay}), one-cycle schedule over
  {config.epochs} epochs, batch {config.batch_size}, label smoothing {config.label_smoothing}.
- Augmentation: random rotation (±{config.max_rotation_degrees}°), scale (±{config.max_scale_change:.0%}), random
  {config.crop_size}x{config.crop_size} crop, horizontal flip, brightness/contrast jitter{erasing_text}.
- Class imbalance: cross-entropy weighted by (1/count)^{config.class_weight_power}, normalised to mean 1.
{teachers_line}- Early stopping: best validation accuracy kept, stop after {config.patience} epochs without improvement.
- Ran {result.epochs_run} epochs, best epoch {result.best_epoch}; wall time {result.training_seconds / 60:.1f} min
  on {device} ({threads} torch thread(s), {platform.processor() or platform.machine()}); training throughput
  {result.training_images_per_second:.0f} images/s.

## Validation metrics (best epoch, {metrics_views})
- Accuracy: **{metrics['accuracy']:.4f}**; macro-F1: **{metrics['macro_f1']:.4f}**; macro one-vs-rest ROC-AUC:
  {metrics['macro_roc_auc'] if metrics['macro_roc_auc'] is None else format(metrics['macro_roc_auc'], '.4f')}.
{inference_line}
| class | precision | recall | F1 | ROC-AUC | support |
|---|---|---|---|---|---|
{rows}

Confusion matrix (rows true, columns predicted, LABELS order): `{metrics['confusion_matrix']}`

## Epochs
| epoch | train loss | val accuracy | val macro-F1 | seconds |
|---|---|---|---|---|
{history}

## Limits
- FER2013 is low-resolution, mostly frontal, web-scraped faces; expect lower accuracy on
  profile faces, children, and faces the detector crops differently.
- Reproduce: `emodrift train image --data ../shared/data/fer2013/train_48x48.npz --seed {config.seed} --epochs {config.epochs} --base-width {config.base_width} --crop-size {config.crop_size} --patience {config.patience} --optimizer {config.optimizer} --learning-rate {config.learning_rate} --weight-decay {config.weight_decay} --random-erasing {config.random_erasing} --test-time-shift {test_time_shift}{teacher_flags}`.
"""


# --------------------------------------------------------------------------- eval


def eval_main(argv: list[str] | None = None) -> int:
    """``emodrift eval image --data <npz | class folders> [--model-dir] [--confusion-png]``: JSON metrics."""
    from models.image.inference import ImageScorer, training_split
    from models.image.training import classification_metrics, stratified_split

    parser = argparse.ArgumentParser(prog="emodrift eval image", description="evaluate the face CNN on face crops")
    parser.add_argument("--data", type=Path, required=True, help="npz (images, labels, label_names) or a folder with one sub-folder per class")
    parser.add_argument("--model-dir", type=Path, default=DEFAULT_IMAGE_MODEL)
    parser.add_argument("--confusion-png", type=Path, default=None)
    parser.add_argument(
        "--split", choices=["all", "validation"], default="all",
        help="validation: only the faces the checkpoint held out (its training seed and fraction; "
        "--data must be the npz it trained on)",
    )
    parser.add_argument(
        "--test-time-shift", type=int, default=None, help="override the checkpoint's test-time crop shift (0: centre and mirror)"
    )
    parser.add_argument("--device", default="auto", choices=["auto", "cpu", "cuda"])
    parser.add_argument("--threads", type=int, default=1)
    args = parser.parse_args(argv)
    torch.set_num_threads(args.threads)

    try:
        faces, labels = load_evaluation_faces(args.data)
    except (FileNotFoundError, ValueError) as error:
        print(f"emodrift eval image: {error}", file=sys.stderr)
        return 2
    try:
        scorer = ImageScorer.load(args.model_dir, args.device)
    except (FileNotFoundError, ValueError) as error:
        print(f"emodrift eval image: {error}", file=sys.stderr)
        return 2
    if args.test_time_shift is not None:
        largest_crop = max(config.crop_size for config in [scorer.config, *(config for _, config in scorer.members)])
        margin = (scorer.config.face_size - largest_crop) // 2
        if not 0 <= args.test_time_shift <= margin:
            parser.error(f"--test-time-shift must be in [0, {margin}] for this model's {largest_crop}-pixel crop")
        scorer.config = dataclasses.replace(scorer.config, test_time_shift=args.test_time_shift)
        scorer.members = [
            (network, dataclasses.replace(config, test_time_shift=args.test_time_shift)) for network, config in scorer.members
        ]
        # The version names what the checkpoint scores; say that these numbers were not that.
        scorer.version += f" with test-time shift overridden to {args.test_time_shift}"
    if args.split == "validation":
        splits = set()
        for checkpoint in [args.model_dir, *(args.model_dir / member for member in scorer.config.members)]:
            split = training_split(checkpoint)
            if split is None:
                print(f"emodrift eval image: {checkpoint}/config.json records no training split", file=sys.stderr)
                return 2
            splits.add(split)
        if len(splits) > 1:
            print(f"emodrift eval image: the ensemble's networks held out different faces {sorted(splits)}; "
                  "no validation split is unseen by all of them", file=sys.stderr)
            return 2
        seed, fraction = splits.pop()
        _, validation_indices = stratified_split(labels, fraction, seed)
        faces, labels = faces[validation_indices], labels[validation_indices]
    probabilities, _ = scorer.classify_faces(faces)
    metrics = classification_metrics(labels, probabilities)
    metrics["model_version"] = scorer.version
    metrics["data"] = str(args.data)
    metrics["split"] = args.split
    metrics["test_time_shift"] = scorer.config.test_time_shift
    metrics["networks"] = 1 + len(scorer.members)
    if args.confusion_png is not None:
        write_confusion_png(np.asarray(metrics["confusion_matrix"]), list(LABELS), args.confusion_png)
        metrics["confusion_png"] = str(args.confusion_png)
    print(json.dumps(metrics, indent=2))
    return 0


def load_evaluation_faces(path: Path) -> tuple[np.ndarray, np.ndarray]:
    """Faces (N, 48, 48) uint8 and LABELS indices from an npz or a folder of class sub-folders.

    Folder images may be any size or colour: each is decoded to grayscale, resized to 48x48
    and histogram-equalised, like a detected face (no detection: the image is the face).
    """
    from models.image.faces import crop_faces
    from models.image.decode import decode_image
    from models.image.training import FER_TO_PIPELINE, load_face_dataset
    from models.labels import LABEL_INDEX

    if path.is_file():
        return load_face_dataset(path)
    if not path.is_dir():
        raise FileNotFoundError(f"--data {path} is neither an npz file nor a folder")
    faces: list[np.ndarray] = []
    labels: list[int] = []
    for class_dir in sorted(child for child in path.iterdir() if child.is_dir()):
        name = FER_TO_PIPELINE.get(class_dir.name.lower())
        if name is None:
            raise ValueError(f"folder {class_dir.name!r} is not an emotion; expected one of {sorted(FER_TO_PIPELINE)}")
        for file in sorted(class_dir.iterdir()):
            if not file.is_file():
                continue
            decoded = decode_image(file.read_bytes())
            if decoded.gray is None:
                print(f"skipping {file}: {decoded.status}", file=sys.stderr)
                continue
            height, width = decoded.gray.shape
            faces.append(crop_faces(decoded.gray, [(0, 0, width, height)], 48)[0])
            labels.append(LABEL_INDEX[name])
    if not faces:
        raise ValueError(f"no readable images under {path}/<class>/")
    return np.stack(faces), np.asarray(labels, dtype=np.int64)


def write_confusion_png(confusion: np.ndarray, labels: list[str], path: Path, cell: int = 64) -> None:
    """Draw a row-normalised confusion matrix heat map with counts as a PNG (PIL only)."""
    from PIL import Image, ImageDraw

    margin = 90
    size = margin + cell * len(labels)
    image = Image.new("RGB", (size + 10, size + 10), "white")
    draw = ImageDraw.Draw(image)
    totals = confusion.sum(axis=1, keepdims=True)
    shares = np.divide(confusion, np.maximum(totals, 1))
    for row, name in enumerate(labels):
        draw.text((4, margin + row * cell + cell // 2 - 6), name, fill="black")
        draw.text((margin + row * cell + 4, margin - 20), name[:8], fill="black")
        for column in range(len(labels)):
            shade = int(255 * (1 - shares[row, column]))
            x0, y0 = margin + column * cell, margin + row * cell
            draw.rectangle([x0, y0, x0 + cell - 1, y0 + cell - 1], fill=(shade, shade, 255), outline="gray")
            draw.text((x0 + 6, y0 + cell // 2 - 6), str(int(confusion[row, column])), fill="black" if shade > 110 else "white")
    draw.text((4, 4), "rows: true, columns: predicted", fill="black")
    path.parent.mkdir(parents=True, exist_ok=True)
    image.save(path, format="PNG")


# --------------------------------------------------------------------------- score


def score_main(argv: list[str] | None = None) -> int:
    """``emodrift score-images --input <folder | posts JSONL> --output <parquet>``."""
    from models.image.inference import load_image_scorer

    parser = argparse.ArgumentParser(prog="emodrift score-images", description="score images into parquet")
    parser.add_argument("--input", type=Path, required=True, help="folder of images, or JSONL of posts with image_path")
    parser.add_argument("--output", type=Path, required=True, help="parquet file to write")
    parser.add_argument("--threads", type=int, default=1)
    Settings.add_arguments(parser)
    args = parser.parse_args(argv)
    settings = Settings.from_args(args)
    torch.set_num_threads(args.threads)

    try:
        items = list_score_inputs(args.input)
    except (FileNotFoundError, ValueError) as error:
        print(f"emodrift score-images: {error}", file=sys.stderr)
        return 2
    scorer = load_image_scorer(settings.image_model, settings.device)
    contents = [read_image_bytes(path) for path in items["path"]]
    scores = scorer.score_bytes(
        [None if content is UNREADABLE else content for content in contents], batch_size=settings.score_batch_size
    )
    unreadable = np.array([content is UNREADABLE for content in contents], dtype=bool)
    scores.loc[unreadable, "image_status"] = "unreadable"
    result = pd.concat([items.reset_index(drop=True), scores], axis=1)
    result["image_model_version"] = scorer.version
    args.output.parent.mkdir(parents=True, exist_ok=True)
    result.to_parquet(args.output, index=False)
    print(json.dumps({"rows": len(result), "status_counts": result["image_status"].value_counts().to_dict(), "output": str(args.output)}))
    return 0


def list_score_inputs(path: Path) -> pd.DataFrame:
    """Rows (post_id, path) to score: every image file of a folder, or each line of a posts JSONL.

    A JSONL line needs ``post_id`` and ``image_path`` (a local path or ``file://`` URI, or
    null for a post without image).
    """
    if path.is_dir():
        files = sorted(file for file in path.rglob("*") if file.is_file() and file.suffix.lower() in IMAGE_SUFFIXES)
        return pd.DataFrame({"post_id": [str(file.relative_to(path)) for file in files], "path": [str(file) for file in files]})
    if not path.is_file():
        raise FileNotFoundError(f"--input {path} is neither a folder nor a JSONL file")
    rows = []
    with path.open(encoding="utf-8") as handle:
        for number, line in enumerate(handle, start=1):
            if not line.strip():
                continue
            try:
                post = json.loads(line)
                rows.append({"post_id": str(post["post_id"]), "path": post.get("image_path")})
            except (json.JSONDecodeError, KeyError, TypeError) as error:
                raise ValueError(f"{path}:{number}: not a post with post_id ({error})") from error
    return pd.DataFrame(rows, columns=["post_id", "path"])


UNREADABLE = object()  # marks a path that names an image the filesystem could not give us


def read_image_bytes(location: str | None) -> bytes | None | object:
    """The file's bytes; ``None`` for a post without image; :data:`UNREADABLE` when missing/unreadable."""
    if location is None or (isinstance(location, float) and np.isnan(location)):
        return None
    local = Path(location.removeprefix("file://")) if location.startswith("file://") else Path(location)
    try:
        return local.read_bytes()
    except OSError:
        return UNREADABLE
