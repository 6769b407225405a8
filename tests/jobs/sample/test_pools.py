"""Ground-truth cohorts: real labelled texts and held-out faces, planted regimes of known truth."""

from __future__ import annotations

import datetime as dt
import io
import json
from collections import Counter
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from jobs.sample.generator import _regime_distribution, generate_sample, main, render_image
from jobs.sample.pools import load_face_pool, load_text_pool, render_face_photo
from models.image.training import stratified_split
from models.labels import LABEL_INDEX, LABELS

EKMAN_FILE_ORDER = ("anger", "disgust", "fear", "joy", "neutral", "sadness", "surprise")
START = dt.date(2026, 3, 1)


@pytest.fixture(scope="module")
def pool_files(tmp_path_factory) -> dict[str, Path]:
    """A tiny Ekman TSV (with two multi-label rows) and a tiny FER-style npz plus a model
    config that records its training split."""
    root = tmp_path_factory.mktemp("pools")
    (root / "labels.txt").write_text("\n".join(EKMAN_FILE_ORDER) + "\n")
    lines = []
    for file_id, name in enumerate(EKMAN_FILE_ORDER):
        lines += [f"a {name} post number {number}\t{file_id}\tc-{name}-{number}" for number in range(4)]
    lines += ["ambiguous one\t0,3\tc-multi-1", "ambiguous two\t4,5\tc-multi-2"]
    (root / "dev.tsv").write_text("\n".join(lines) + "\n")
    rng = np.random.default_rng(0)
    fer_names = np.array(["angry", "disgust", "fear", "happy", "sad", "surprise", "neutral"])
    labels = np.repeat(np.arange(7), 20)
    images = rng.integers(0, 256, size=(len(labels), 48, 48), dtype=np.uint8)
    np.savez(root / "faces.npz", images=images, labels=labels, label_names=fer_names)
    model_dir = root / "model"
    model_dir.mkdir()
    (model_dir / "config.json").write_text(json.dumps({"training": {"seed": 3, "validation_fraction": 0.25}}))
    return {"texts": root / "dev.tsv", "faces": root / "faces.npz", "model": model_dir}


def test_text_pool_keeps_single_label_rows_under_pipeline_labels(pool_files) -> None:
    pool = load_text_pool(pool_files["texts"])
    assert set(pool.texts) == set(LABELS)
    assert all(len(rows) == 4 for rows in pool.texts.values())  # multi-label rows skipped
    assert all(text.startswith(f"a {label} post") for label, rows in pool.texts.items() for _, text in rows)


def test_face_pool_holds_only_the_models_validation_faces(pool_files) -> None:
    pool = load_face_pool(pool_files["faces"], pool_files["model"])
    with np.load(pool_files["faces"]) as archive:
        images = archive["images"]
    train, validation = stratified_split(np.repeat(np.arange(7), 20), 0.25, 3)
    held_out = np.concatenate(list(pool.indices.values()))
    assert sorted(held_out.tolist()) == validation.tolist()
    assert not set(held_out.tolist()) & set(train.tolist())
    for label in LABELS:  # faces match their rows and labels (FER "happy" is joy, "sad" sadness)
        assert np.array_equal(pool.faces[label], images[pool.indices[label]])
    assert set(pool.indices["joy"].tolist()) <= set(range(60, 80))
    (pool_files["model"].parent / "untrained").mkdir(exist_ok=True)
    (pool_files["model"].parent / "untrained" / "config.json").write_text("{}")
    with pytest.raises(ValueError, match="records no training split"):
        load_face_pool(pool_files["faces"], pool_files["model"].parent / "untrained")


@pytest.fixture(scope="module")
def cohort(pool_files):
    pools = {
        "text_pool": load_text_pool(pool_files["texts"]),
        "face_pool": load_face_pool(pool_files["faces"], pool_files["model"]),
    }
    return generate_sample(60, 45, seed=5, start=START, **pools), pools


def test_ground_truth_cohort_mixes_change_counts_kinds_and_posting_rates(cohort) -> None:
    sample, _ = cohort
    counts = Counter((user.change is not None) + len(user.later_changes) for user in sample.users)
    assert set(counts) == {0, 1, 2}
    ramps = [change.ramp_days for change in sample.changes]
    assert any(ramp == 0 for ramp in ramps) and any(3 <= ramp <= 10 for ramp in ramps)
    assert all(ramp == 0 or 3 <= ramp <= 10 for ramp in ramps)
    rates = [user.posts_per_day for user in sample.users]
    assert min(rates) >= 0.3 and max(rates) <= 15.0 and max(rates) / min(rates) > 10
    for change in sample.changes:  # both sides of every change have room in the window
        assert change.changed_at >= START + dt.timedelta(days=7)
        assert change.span[1] <= START + dt.timedelta(days=45 - 7)


def test_posts_carry_real_texts_and_faces_of_their_planted_label(cohort) -> None:
    sample, pools = cohort
    texts = {comment_id: (label, text) for label, rows in pools["text_pool"].texts.items() for comment_id, text in rows}
    faces = {int(row): label for label, rows in pools["face_pool"].indices.items() for row in rows}
    with_text = [post for post in sample.posts if post.text is not None]
    with_face = [post for post in sample.posts if post.image is not None]
    assert with_text and with_face
    assert all(texts[post.text_source] == (post.intended_label, post.text) for post in with_text)
    assert all(faces[post.face_source] == post.intended_label for post in with_face)
    image_only_days = Counter(
        (post.user_id, post.created_at_utc.date()) for post in sample.posts if post.text is None
    )
    all_days = Counter((post.user_id, post.created_at_utc.date()) for post in sample.posts)
    assert any(image_only_days[key] == all_days[key] >= 2 for key in image_only_days)  # whole days of photos
    truth = sample.ground_truth()
    assert set(truth["posts"]) == {post.post_id for post in sample.posts}
    assert truth["sources"]["text_pool"].endswith("dev.tsv")


def test_regimes_switch_abruptly_or_mix_linearly_over_the_ramp(cohort) -> None:
    sample, _ = cohort
    user = next(user for user in sample.users if user.change is not None and user.change.ramp_days >= 4)
    change = user.change
    before, after = np.asarray(user.regimes[0]), np.asarray(user.regimes[1])
    day_before = change.changed_at - dt.timedelta(days=1)
    assert np.allclose(_regime_distribution(user, day_before), before)
    assert np.allclose(_regime_distribution(user, change.span[1]), after)
    middle = _regime_distribution(user, change.changed_at + dt.timedelta(days=change.ramp_days // 2))
    assert np.abs(middle - before).sum() > 0.1 and np.abs(middle - after).sum() > 0.1
    late_posts = [post for post in sample.posts if post.user_id == user.user_id and post.created_at_utc.date() > change.span[1]]
    if len(late_posts) >= 10:  # the new regime shows in the labels once the ramp is over
        dominant = Counter(post.intended_label for post in late_posts).most_common(1)[0][0]
        assert dominant == change.to_label


def test_face_photo_pastes_the_face_somewhere_in_a_bigger_picture() -> None:
    face = np.tile(np.linspace(0, 255, 48, dtype=np.uint8), (48, 1))
    photo = np.asarray(Image.open(io.BytesIO(render_face_photo(face, seed=4, image_format="PNG"))).convert("L"))
    assert min(photo.shape) >= 72 + 8
    assert render_face_photo(face, 4) == render_face_photo(face, 4)
    assert render_face_photo(face, 4) != render_face_photo(face, 5)
    # the pasted face is a horizontal ramp: somewhere a row rises steadily across >= 72 pixels
    rising = np.diff(photo.astype(int), axis=1) >= -8
    assert any(np.convolve(row, np.ones(72), "valid").max() >= 72 for row in rising)


def test_the_face_model_finds_and_mostly_reads_real_held_out_faces(shared_data: Path) -> None:
    fer = shared_data / "fer2013" / "train_48x48.npz"
    model_dir = Path(__file__).resolve().parents[3] / "models" / "weights" / "image"
    if not fer.exists():
        pytest.skip("FER data not found")
    from models.image.inference import load_image_scorer

    pool = load_face_pool(fer, model_dir)
    rng = np.random.default_rng(1)
    labels = [LABELS[index % 7] for index in range(42)]
    photos = [render_face_photo(pool.draw(label, rng)[1], seed) for seed, label in enumerate(labels)]
    scored = load_image_scorer(model_dir, "cpu").score_bytes(photos)
    found = scored["image_probs"].notna().to_numpy()
    assert found.mean() >= 0.6  # a Haar cascade misses some upscaled FER crops; most are found
    predicted = np.array([int(np.argmax(probs)) for probs in scored["image_probs"][found]])
    truth = np.array([LABEL_INDEX[label] for label in labels])[found]
    assert (predicted == truth).mean() >= 0.4  # far above 1/7 chance


def test_cli_writes_a_ground_truth_cohort_from_pools(pool_files, tmp_path: Path, capsys) -> None:
    landing = tmp_path / "landing"
    arguments = ["--users", "4", "--days", "3", "--seed", "2", "--landing", str(landing),
                 "--text-pool", str(pool_files["texts"]), "--image-model", str(pool_files["model"])]
    assert main([*arguments, "--face-pool", str(pool_files["faces"])]) == 0
    truth = json.loads((landing / "ground_truth.json").read_text())
    assert truth["sources"]["face_pool"].endswith("faces.npz") and truth["posts"]
    jpegs = list(landing.glob("dt=*/images/*.jpg"))
    assert jpegs and Image.open(jpegs[0]).size[0] >= 80
    with pytest.raises(SystemExit):
        main([*arguments, "--face-pool", str(tmp_path / "missing.npz")])
    assert "missing.npz" in capsys.readouterr().err
    spec_face = next(post.image_spec for post in generate_sample(
        4, 3, 2, text_pool=load_text_pool(pool_files["texts"]),
        face_pool=load_face_pool(pool_files["faces"], pool_files["model"])).posts if post.image_spec)
    assert render_image(spec_face)[:2] == b"\xff\xd8"  # a JPEG photo with the face
