"""The sample generator: deterministic, realistic, and its planted counts reconcile with the contract."""

from __future__ import annotations

import datetime as dt
import hashlib
import io
import json
from collections import Counter
from pathlib import Path

import jsonschema
import numpy as np
import pytest
from PIL import Image

from jobs.contract import Post, Reason, validate_line
from jobs.sample.generator import MALFORMED_KINDS, generate_sample, main, render_image, write_sample
from jobs.sample.texts import compose_post, sentence_bank
from models.labels import LABELS

SCHEMA_PATH = Path(__file__).resolve().parents[3] / "jobs" / "schemas" / "post.schema.json"
START = dt.date(2026, 3, 1)


@pytest.fixture(scope="module")
def sample():
    return generate_sample(users=40, days=10, seed=7, start=START)


@pytest.fixture(scope="module")
def schema_validator() -> jsonschema.Draft202012Validator:
    schema = json.loads(SCHEMA_PATH.read_text())
    jsonschema.Draft202012Validator.check_schema(schema)
    return jsonschema.Draft202012Validator(schema)


def _tree_digest(root: Path) -> dict[str, str]:
    return {
        str(path.relative_to(root)): hashlib.sha256(path.read_bytes()).hexdigest()
        for path in sorted(root.rglob("*"))
        if path.is_file()
    }


def test_same_seed_writes_the_same_bytes_and_another_seed_does_not(tmp_path: Path) -> None:
    first, second, other = tmp_path / "a", tmp_path / "b", tmp_path / "c"
    write_sample(generate_sample(6, 5, seed=3, start=START), first, progress=lambda line: None)
    write_sample(generate_sample(6, 5, seed=3, start=START), second, progress=lambda line: None)
    write_sample(generate_sample(6, 5, seed=4, start=START), other, progress=lambda line: None)
    digest = _tree_digest(first)
    assert digest == _tree_digest(second)
    assert digest != _tree_digest(other)
    assert "ground_truth.json" in digest and f"dt={START}/posts.jsonl" in digest


def test_every_planted_count_reconciles_with_the_contract(sample, tmp_path: Path) -> None:
    """Run the real contract over every line and every image path: the counts must match."""
    write_sample(sample, tmp_path, progress=lambda line: None)
    truth = json.loads((tmp_path / "ground_truth.json").read_text())
    assert [day["landing_dt"] for day in truth["landing_days"]] == [
        (START + dt.timedelta(days=offset)).isoformat() for offset in range(10)
    ]
    seen_kinds: set[str] = set()
    for day in truth["landing_days"]:
        folder = tmp_path / f"dt={day['landing_dt']}"
        lines = (folder / "posts.jsonl").read_text(encoding="utf-8").splitlines()
        reasons: Counter[str] = Counter()
        accepted: set[str] = set()
        duplicates = 0
        for line in lines:
            result = validate_line(line)
            if isinstance(result, Post) and result.image and not (folder / result.image).is_file():
                reasons[Reason.IMAGE_MISSING] += 1
            elif isinstance(result, Post):
                if result.post_id in accepted:
                    duplicates += 1
                accepted.add(result.post_id)
            else:
                reasons[result.reason] += 1
        assert day["read"] == len(lines)
        assert day["accepted"] == len(accepted)
        assert day["duplicates"] == duplicates >= 1
        assert day["quarantined"] == sum(reasons.values())
        assert day["quarantine_reasons"] == dict(reasons)
        seen_kinds |= set(reasons)
    assert seen_kinds == set(MALFORMED_KINDS)
    assert set(MALFORMED_KINDS) <= set(Reason.ALL)


def test_schema_accepts_valid_posts_and_rejects_the_malformed_ones(sample, schema_validator) -> None:
    for post in sample.posts[:200]:
        errors = [error.message for error in schema_validator.iter_errors(post.record())]
        assert not errors, (post.record(), errors)
    rejected_by_schema: Counter[str] = Counter()
    for day in sample.landing_days:
        for line in day.lines:
            result = validate_line(line)
            if isinstance(result, Post):
                continue
            if result.reason == Reason.BAD_JSON:
                continue  # not JSON: nothing for a schema to judge
            assert not schema_validator.is_valid(json.loads(line)), (result.reason, line)
            rejected_by_schema[result.reason] += 1
    assert set(rejected_by_schema) == set(MALFORMED_KINDS) - {Reason.BAD_JSON, Reason.IMAGE_MISSING}
    empty_post = {"post_id": "a", "user_id": "b", "created_at": "2026-01-01T00:00:00Z", "text": None, "image": None}
    assert not schema_validator.is_valid(empty_post)
    assert schema_validator.is_valid({**empty_post, "image": "images/a.png", "extra": 1})


def test_posting_rhythm_offsets_and_late_arrivals_look_real(sample) -> None:
    per_user_day = Counter((post.user_id, post.created_at_utc.date()) for post in sample.posts)
    assert max(per_user_day.values()) <= 4
    assert len(per_user_day) < len(sample.users) * sample.days  # some days without posts
    local_dates = [dt.datetime.fromisoformat(post.created_at).date() for post in sample.posts]
    assert sum(local != post.created_at_utc.date() for local, post in zip(local_dates, sample.posts)) > 20
    offsets = {dt.datetime.fromisoformat(post.created_at).utcoffset() for post in sample.posts}
    assert dt.timedelta(hours=-5) in offsets and dt.timedelta(hours=2) in offsets
    late = [post for post in sample.posts if post.landing_dt != post.created_at_utc.date()]
    assert late and all(post.landing_dt - post.created_at_utc.date() == dt.timedelta(days=1) for post in late)
    for post in sample.posts:
        assert dt.datetime.fromisoformat(post.created_at) == post.created_at_utc
    modalities = Counter((post.text is not None, post.image is not None) for post in sample.posts)
    assert set(modalities) == {(True, False), (True, True), (False, True)}
    assert modalities[(False, True)] < modalities[(True, True)] < modalities[(True, False)]


def test_planted_changes_show_in_the_posts_labels(sample) -> None:
    changes = {change.user_id: change for change in sample.changes}
    assert len(changes) == 20  # half of 40 users
    for user in sample.users:
        posts = [post for post in sample.posts if post.user_id == user.user_id]
        change = changes.get(user.user_id)
        if change is None:
            labels = Counter(post.intended_label for post in posts)
            assert labels.most_common(1)[0][0] == user.baseline_label
            continue
        assert START < change.changed_at < START + dt.timedelta(days=10)
        assert change.from_label != change.to_label and 0.5 < change.strength <= 1.0
        before = Counter(post.intended_label for post in posts if post.created_at_utc.date() < change.changed_at)
        after = Counter(post.intended_label for post in posts if post.created_at_utc.date() >= change.changed_at)
        if sum(before.values()) >= 6 and sum(after.values()) >= 6:
            assert before[change.from_label] / sum(before.values()) > 0.4
            assert after[change.to_label] / sum(after.values()) > 0.4
    # pooled over users and phases, the dominant label carries the planned 70-80 % of posts
    baseline = {user.user_id: user.baseline_label for user in sample.users}

    def planned_dominant(post) -> str:
        change = changes.get(post.user_id)
        if change is not None and post.created_at_utc.date() >= change.changed_at:
            return change.to_label
        return baseline[post.user_id]

    hits = sum(post.intended_label == planned_dominant(post) for post in sample.posts)
    assert 0.68 < hits / len(sample.posts) < 0.82


def test_images_are_decodable_varied_and_faceless_pictures(sample, tmp_path: Path) -> None:
    specs = [spec for day in sample.landing_days for _, spec in day.images]
    assert {spec.image_format for spec in specs} == {"PNG", "JPEG"}
    for spec in specs[:25]:
        image = Image.open(io.BytesIO(render_image(spec)))
        assert image.format == spec.image_format
        assert image.size == (spec.width, spec.height)
        assert 64 <= min(image.size) and max(image.size) <= 320
    assert render_image(specs[0]) == render_image(specs[0])


def test_text_bank_is_large_distinct_per_label_and_decorated() -> None:
    banks = {label: set(sentence_bank(label)) for label in LABELS}
    for label, bank in banks.items():
        assert len(bank) >= 40, label
        for other, other_bank in banks.items():
            assert other == label or not bank & other_bank
    rng = np.random.default_rng(0)
    texts = [compose_post("joy", rng) for _ in range(300)]
    assert any("@" in text for text in texts) and any("#" in text for text in texts)
    assert any("http" in text for text in texts)
    assert any(text not in banks["joy"] for text in texts)
    with pytest.raises(ValueError, match="label must be one of"):
        sentence_bank("bored")


def test_text_bank_is_not_copied_from_goemotions(shared_data: Path) -> None:
    goemotions = set()
    for split in ("train", "dev"):
        path = shared_data / "goemotions" / "ekman" / f"{split}.tsv"
        if path.exists():
            goemotions |= {line.split("\t")[0].strip().lower() for line in path.read_text(encoding="utf-8").splitlines()}
    if not goemotions:
        pytest.skip("GoEmotions TSVs not found")
    ours = {sentence.lower() for label in LABELS for sentence in sentence_bank(label)}
    assert not ours & goemotions


def test_cli_writes_landing_folders_and_rejects_bad_arguments(tmp_path: Path, capsys) -> None:
    landing = tmp_path / "landing"
    assert main(["--users", "3", "--days", "2", "--seed", "1", "--start", "2026-02-01", "--landing", str(landing)]) == 0
    output = capsys.readouterr().out
    assert "dt=2026-02-01" in output and "dt=2026-02-02" in output
    truth = json.loads((landing / "ground_truth.json").read_text())
    assert len(truth["users"]) == 3 and truth["changes"] == []  # two days leave no room for a change
    with pytest.raises(SystemExit):
        main(["--users", "0", "--landing", str(landing)])
    assert "users must be >= 1" in capsys.readouterr().err
