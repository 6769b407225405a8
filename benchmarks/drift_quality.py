"""Transition quality on a ground-truth cohort of real posts and faces, through the real pipeline.

1. ``emodrift sample --text-pool <GoEmotions dev> --face-pool <FER npz>`` writes a cohort whose
   planted regimes emit real labelled texts and held-out faces pasted into photos (users with
   0, 1 or 2 changes, abrupt and gradual, 0.3-15 posts a day, image-only days);
2. ``emodrift backfill --stages ingest,check-ingest,score,check-score,drift`` runs the real
   pipeline: every post is scored once, then the drift stage runs once per day, so every
   nightly snapshot of ``transitions`` exists as it would have on that night;
3. the snapshots are scored with :mod:`drift.evaluation`: precision, recall and F1 of the last
   snapshot (a flag counts within 3 days of a planted change's span), median detection delay
   (days from the change to the first nightly snapshot flagging it), false alarms per 100
   stable user-months; for the pipeline's defaults and two baselines (never flag; PELT on the
   daily dominant emotion, one-hot, L2 cost, penalty 3 log n, run on each snapshot's
   ``sequences``), plus an ablation with and without the temporal LSTM's surprise in the
   confidence (the default leaves it out; ``--refit-surprise`` adds the surprise of this
   code's LSTM refitted on the last snapshot, for a lake an older pipeline wrote), the pipeline's
   figures on two halves of the users (even and odd positions in the cohort: whatever a
   design choice was checked on one half, the other reports it), a null calibration (every
   user's own days shuffled, so no change is left: flags per 100 user-months, which the
   detector's 0.05 test level should keep near or under 5), and a calibration table of every
   proposal's confidence (the same detector at level 0.5, magnitude filter off) against the
   share that is true.
4. ``--design``: the detection design choices, rerun offline on every snapshot's ``sequences``
   (no surprise), each on both halves of the users: the default (days weighted by their posts)
   against every day alike and against a flat test level per segment (no spending by length).

Run: .venv/bin/python benchmarks/drift_quality.py [--users 60] [--days 35] [--seed 11]
     [--work /tmp/emodrift-drift-quality] [--reuse] [--refit-surprise] [--output results.json]
``--reuse`` skips steps 1-2 when the work folder already holds a finished run; ``--rerun-drift``
keeps the cohort and its scores and reruns only the nightly drift stage (after a drift change);
``--offline-nights`` reruns the default detection for every night without Spark (night D from
the posts landed by D), which gives the delay on a lake where only some nights' drift stage ran.
``--label-oracle`` reruns the default detection on the last window with each post's planted label
in place of its scores, clean and with 30 % of the labels redrawn at random, beside the pipeline's
per-post accuracy: how much of what the pipeline misses is per-post error, not the detector.
"""

from __future__ import annotations

import argparse
import dataclasses
import datetime as dt
import json
import os
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd

REPOSITORY = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPOSITORY))

from drift.evaluation import (  # noqa: E402
    Planted,
    calibration_table,
    detection_delays,
    match,
    pelt_change_points,
    planted_from_truth,
    snapshot_quality,
)
from drift.sequences import to_user_sequence  # noqa: E402
from drift.transitions import TransitionOptions, detect_transitions  # noqa: E402
from models.labels import LABEL_INDEX, NUM_LABELS  # noqa: E402

SHARED_DATA = Path(os.environ.get("EMODRIFT_SHARED_DATA", "/work/shared/data"))
STAGES = "ingest,check-ingest,score,check-score,drift"
CALIBRATION_EDGES = (0.0, 0.5, 0.8, 0.9, 0.95, 0.99, 1.0)


def run_pipeline(args: argparse.Namespace, landing: Path, lake: Path, stages: str = STAGES) -> float:
    """Write the cohort (unless only drift reruns) and backfill it; returns the backfill's wall seconds."""
    emodrift = str(Path(sys.executable).parent / "emodrift")
    common = ["--landing", str(landing), "--lake", str(lake), "--spark-master", args.spark_master]
    if stages == STAGES:
        subprocess.run(
            [emodrift, "sample", "--users", str(args.users), "--days", str(args.days), "--seed", str(args.seed),
             "--start", args.start.isoformat(), "--text-pool", str(args.text_pool), "--face-pool", str(args.face_pool),
             *common],
            check=True, stdout=subprocess.DEVNULL,
        )
    end = args.start + dt.timedelta(days=args.days - 1)
    started = time.perf_counter()
    subprocess.run(
        [emodrift, "backfill", "--start", args.start.isoformat(), "--end", end.isoformat(), "--stages", stages, *common],
        check=True,
    )
    return time.perf_counter() - started


def read_snapshots(lake: Path, table: str) -> pd.DataFrame:
    frame = pd.read_parquet(lake / table)
    frame["dt"] = frame["dt"].astype(str)
    return frame


def pelt_snapshots(sequences: pd.DataFrame, min_size: int) -> pd.DataFrame:
    """The PELT baseline's flags on every snapshot: one-hot daily dominant label per user."""
    rows = []
    for (snapshot, user_id), user_rows in sequences.groupby(["dt", "user_id"]):
        ordered = user_rows.sort_values("day")
        one_hot = np.eye(NUM_LABELS)[[LABEL_INDEX[label] for label in ordered["dominant_label"]]]
        penalty = 3.0 * np.log(max(len(ordered), 2))
        for index in pelt_change_points(one_hot, penalty, min_size):
            rows.append({"dt": snapshot, "user_id": user_id, "changed_at": ordered["day"].iloc[index]})
    return pd.DataFrame(rows, columns=["dt", "user_id", "changed_at"])


def redetect(latest: pd.DataFrame, options: TransitionOptions, use_surprise: bool) -> pd.DataFrame:
    """Rerun the drift stage's detection on one snapshot's ``sequences`` (surprise on or off)."""
    frames = []
    for user_id, rows in latest.groupby("user_id"):
        sequence = to_user_sequence(rows)
        surprise = rows.sort_values("day")["surprise"].to_numpy(dtype=np.float64)
        usable = use_surprise and not np.all(np.isnan(surprise))
        found = detect_transitions(sequence, surprise if usable else None, options=options)
        found.insert(0, "user_id", user_id)
        frames.append(found)
    return pd.concat(frames, ignore_index=True) if frames else pd.DataFrame(columns=["user_id", "changed_at"])


def refit_surprise(latest: pd.DataFrame, seed: int) -> pd.DataFrame:
    """The snapshot's ``surprise`` recomputed by this code's temporal model, fitted as the
    drift job fits it (every user's window, gaps and post counts; no warm start): the LSTM
    ablation then measures the current model even on a lake an older pipeline wrote."""
    import torch

    from drift.sequences import user_sequences
    from models.temporal.inference import forecasts_and_surprises
    from models.temporal.training import fit_temporal_model

    torch.set_num_threads(1)
    ordered = latest.sort_values(["user_id", "day"], ignore_index=True)
    sequences = user_sequences(ordered)
    fitted = [sequence for sequence in sequences if len(sequence) >= 2]
    model = fit_temporal_model([sequence.probs for sequence in fitted],
                               day_gaps=[sequence.day_gaps() for sequence in fitted],
                               post_counts=[sequence.post_counts for sequence in fitted], seed=seed)
    # the drift job's batched call, so the surprise matches what the job would store
    predictions = forecasts_and_surprises(model, [sequence.probs for sequence in sequences],
                                          [sequence.day_gaps() for sequence in sequences],
                                          [sequence.post_counts for sequence in sequences])
    surprise = {}
    for sequence, (_, values) in zip(sequences, predictions, strict=True):
        surprise.update({(sequence.user_id, day): value for day, value in zip(sequence.days, values)})
    refitted = ordered.copy()
    refitted["surprise"] = [surprise[(user_id, day)] for user_id, day in zip(ordered["user_id"], ordered["day"])]
    return refitted


def offline_nightly_flags(lake: Path, start: dt.date, days: int, options: TransitionOptions) -> pd.DataFrame:
    """Every night's flags recomputed without Spark, for a lake where only some nights ran:
    night D sees the posts that landed by D (as the drift job's landing-keyed aggregates do)
    and runs the default detection (no surprise) per user; ``dt`` = D."""
    from drift.sequences import build_daily_sequences, user_sequences

    scores = pd.read_parquet(lake / "scores", columns=["user_id", "created_at", "fused_probs", "landing_dt"])
    landing = scores["landing_dt"].astype(str)
    frames = []
    for offset in range(days):
        night = (start + dt.timedelta(days=offset)).isoformat()
        daily = build_daily_sequences(scores[landing <= night])
        daily = daily[daily["day"] <= night]
        for sequence in user_sequences(daily):
            found = detect_transitions(sequence, None, options=options)
            if len(found):
                frames.append(pd.DataFrame({"dt": night, "user_id": sequence.user_id, "changed_at": found["changed_at"]}))
        print(f"offline night {night}: {sum(len(frame) for frame in frames if frame['dt'].iloc[0] == night)} flags", flush=True)
    return pd.concat(frames, ignore_index=True) if frames else pd.DataFrame(columns=["dt", "user_id", "changed_at"])


# Share of posts whose label is redrawn uniformly at random in the noisy label oracle: the issue's
# reference point (a simple detector fed true labels, and those labels 30 % randomised).
ORACLE_REDRAWN_SHARE = 0.3


def window_scores(lake: Path, latest: pd.DataFrame) -> pd.DataFrame:
    """The scored posts (with a fused distribution) of the last snapshot's window, read once for the
    label oracle and the per-post accuracy."""
    scores = pd.read_parquet(lake / "scores", columns=["post_id", "user_id", "created_at", "fused_probs"])
    day = pd.to_datetime(scores["created_at"], utc=True).dt.strftime("%Y-%m-%d")
    inside = (day >= str(latest["day"].min())) & (day <= str(latest["day"].max()))
    return scores[scores["fused_probs"].notna() & inside].reset_index(drop=True)


def label_oracle_flags(
    scores: pd.DataFrame, truth: dict, options: TransitionOptions, redrawn_share: float, seed: int
) -> tuple[pd.DataFrame, float]:
    """The default detection on the window's posts (:func:`window_scores`) with each post's planted
    label in place of its fused distribution (one-hot, 0.94 on the label), a ``redrawn_share`` of
    the labels redrawn uniformly at random: how much of the pipeline's miss is per-post accuracy.
    Returns the flags and the share of those posts whose label differs from the planted one."""
    from drift.sequences import build_daily_sequences

    labels = np.array([LABEL_INDEX[truth["posts"][post_id]["label"]] for post_id in scores["post_id"]])
    rng = np.random.default_rng(seed)
    redrawn = rng.random(len(labels)) < redrawn_share
    drawn = labels.copy()
    drawn[redrawn] = rng.integers(0, NUM_LABELS, int(redrawn.sum()))
    one_hot = np.full((len(labels), NUM_LABELS), 0.01)
    one_hot[np.arange(len(labels)), drawn] = 1.0 - 0.01 * (NUM_LABELS - 1)
    daily = build_daily_sequences(scores.assign(fused_probs=list(one_hot)))
    flags = redetect(daily.assign(surprise=np.nan), options, use_surprise=False)
    return flags, float(np.mean(drawn != labels)) if len(labels) else 0.0


def fused_label_accuracy(scores: pd.DataFrame, truth: dict) -> float:
    """Share of the window's posts (:func:`window_scores`) whose fused top label is the planted one."""
    predicted = np.argmax(np.asarray(scores["fused_probs"].tolist(), dtype=np.float64), axis=1)
    planted = np.array([LABEL_INDEX[truth["posts"][post_id]["label"]] for post_id in scores["post_id"]])
    return float(np.mean(predicted == planted))


def null_false_alarms(latest: pd.DataFrame, options: TransitionOptions, rounds: int, seed: int) -> tuple[int, float]:
    """Flags on every user's own days shuffled ``rounds`` times (no change left); returns the
    flags and the user-months they were raised in (each shuffle covers the user's window)."""
    rng = np.random.default_rng(seed)
    flags = 0
    user_months = 0.0
    for _, rows in latest.groupby("user_id"):
        ordered = rows.sort_values("day").reset_index(drop=True)
        first, last = dt.date.fromisoformat(str(ordered["day"].iloc[0])), dt.date.fromisoformat(str(ordered["day"].iloc[-1]))
        for _ in range(rounds):
            shuffled = ordered.copy()
            order = rng.permutation(len(ordered))
            for column in ("post_count", "probs"):
                shuffled[column] = ordered[column].to_numpy()[order]
            flags += len(detect_transitions(to_user_sequence(shuffled), None, options=options))
            user_months += ((last - first).days + 1) / 30.0
    return flags, user_months


DESIGN_VARIANTS: dict[str, dict[str, object]] = {
    "default (days weighted by their posts, level spent by length)": {},
    "every day alike (the default until 2026-12-01)": {"weigh_days_by_posts": False},
    "flat level per segment (no spending)": {"spend_level": False},
    "same-label shifts reported too": {"require_label_change": False},
}


def redetect_snapshots(sequences: pd.DataFrame, options: TransitionOptions) -> pd.DataFrame:
    """Rerun detection (no surprise) on every snapshot's ``sequences``; flags with their ``dt``."""
    frames = []
    for snapshot, rows in sequences.groupby("dt"):
        found = redetect(rows, options, use_surprise=False)
        found.insert(0, "dt", snapshot)
        frames.append(found)
    return pd.concat(frames, ignore_index=True)


def design_table(sequences: pd.DataFrame, planted, users, days, margin, last: str) -> list[dict]:
    """Each design variant on all users and on each half (even / odd positions)."""
    rows = []
    for name, changes in DESIGN_VARIANTS.items():
        flags = redetect_snapshots(sequences, dataclasses.replace(TransitionOptions(), **changes))
        for part, members in (("all", users), ("half 0", users[0::2]), ("half 1", users[1::2])):
            chosen = flags[flags["user_id"].isin(members)]
            rows.append(summarise(f"{name} [{part}]", chosen[chosen["dt"] == last], chosen,
                                  [change for change in planted if change.user_id in members], members, days, margin))
    return rows


def found_changes(flags: pd.DataFrame, planted: list[Planted], margin_days: int) -> np.ndarray:
    """Per planted change (input order): does one of ``flags`` match it (one-to-one)."""
    found = np.zeros(len(planted), dtype=bool)
    for user_id, rows in flags.groupby("user_id"):
        indices = [index for index, change in enumerate(planted) if change.user_id == str(user_id)]
        days = [dt.date.fromisoformat(str(day)) for day in rows["changed_at"]]
        for change_index, _ in match([planted[index] for index in indices], days, margin_days):
            found[indices[change_index]] = True
    return found


def correct_flags(flags: pd.DataFrame, planted: list[Planted], margin_days: int) -> np.ndarray:
    """Per flag (row order): does it match a planted change (one-to-one, as the F1 counts)."""
    by_user: dict[str, list[Planted]] = {}
    for change in planted:
        by_user.setdefault(change.user_id, []).append(change)
    correct = np.zeros(len(flags), dtype=bool)
    for user_id, rows in flags.groupby("user_id"):
        days = [dt.date.fromisoformat(str(day)) for day in rows["changed_at"]]
        for _, flag_index in match(by_user.get(str(user_id), []), days, margin_days):
            correct[rows.index[flag_index]] = True
    return correct


def ids_of_changes(snapshots: pd.DataFrame, planted: list[Planted], margin_days: int) -> dict[int, int]:
    """Per planted change flagged in any snapshot: how many distinct ``transition_id`` matched it."""
    by_user: dict[str, list[int]] = {}
    for index, change in enumerate(planted):
        by_user.setdefault(change.user_id, []).append(index)
    ids: dict[int, set[str]] = {}
    for (_, user_id), rows in snapshots.groupby(["dt", "user_id"]):
        indices = by_user.get(str(user_id), [])
        days = [dt.date.fromisoformat(str(day)) for day in rows["changed_at"]]
        for change_index, flag_index in match([planted[index] for index in indices], days, margin_days):
            ids.setdefault(indices[change_index], set()).add(str(rows["transition_id"].iloc[flag_index]))
    return {index: len(found) for index, found in ids.items()}


def summarise(name: str, latest: pd.DataFrame, snapshots: pd.DataFrame | None, planted, users, days, margin) -> dict:
    quality = snapshot_quality(latest, planted, users, days, margin)
    result = {"setting": name, **dataclasses.asdict(quality)}
    if snapshots is not None:
        delays = [delay for delay in detection_delays(snapshots, planted, margin) if delay is not None]
        result["median_delay_days"] = float(np.median(delays)) if delays else None
        result["changes_ever_flagged"] = len(delays)
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--users", type=int, default=60)
    parser.add_argument("--days", type=int, default=35)
    parser.add_argument("--seed", type=int, default=11)
    parser.add_argument("--start", type=dt.date.fromisoformat, default=dt.date(2026, 1, 1))
    parser.add_argument("--margin-days", type=int, default=3)
    parser.add_argument("--text-pool", type=Path, default=SHARED_DATA / "goemotions" / "ekman" / "dev.tsv")
    parser.add_argument("--face-pool", type=Path, default=SHARED_DATA / "fer2013" / "train_48x48.npz")
    parser.add_argument("--spark-master", default="local[2]")
    parser.add_argument("--work", type=Path, default=Path("/tmp/emodrift-drift-quality"))
    parser.add_argument("--reuse", action="store_true", help="score an existing run in --work")
    parser.add_argument("--rerun-drift", action="store_true",
                        help="keep the cohort and its scores in --work, rerun only the nightly drift stage")
    parser.add_argument("--design", action="store_true", help="also rerun the design variants offline (minutes)")
    parser.add_argument("--refit-surprise", action="store_true",
                        help="also refit this code's temporal LSTM on the last snapshot and rerun detection with its surprise")
    parser.add_argument("--offline-nights", action="store_true",
                        help="also rerun the default detection offline for every night from the scores "
                             "(no Spark): the delay for a lake where only the last night's drift stage ran")
    parser.add_argument("--label-oracle", action="store_true",
                        help="also detect on each post's planted label, clean and with 30 %% redrawn at random, "
                             "beside the pipeline's per-post accuracy: how much of the miss is per-post error")
    parser.add_argument("--null-rounds", type=int, default=5, help="shuffles of each user's days for the null calibration")
    parser.add_argument("--output", type=Path, default=None, help="also write the results as JSON")
    args = parser.parse_args()
    landing, lake = args.work / "landing", args.work / "lake"
    backfill_seconds = None
    stages = "drift" if args.rerun_drift else STAGES
    if args.rerun_drift or not args.reuse:
        backfill_seconds = run_pipeline(args, landing, lake, stages)

    truth = json.loads((landing / "ground_truth.json").read_text())
    planted = planted_from_truth(truth)
    users = [user["user_id"] for user in truth["users"]]
    days, margin = truth["days"], args.margin_days
    transitions = read_snapshots(lake, "transitions")
    sequences = read_snapshots(lake, "sequences")
    last = max(sequences["dt"])
    latest_sequences = sequences[sequences["dt"] == last]
    options = TransitionOptions()

    results = [
        summarise("pipeline defaults (last snapshot; delay over all snapshots)",
                  transitions[transitions["dt"] == last], transitions, planted, users, days, margin),
        summarise("baseline: never flag", transitions.iloc[0:0], transitions.iloc[0:0], planted, users, days, margin),
    ]
    pelt = pelt_snapshots(sequences, options.min_size)
    results.append(summarise("baseline: PELT on daily dominant emotion (3 log n)",
                             pelt[pelt["dt"] == last], pelt, planted, users, days, margin))
    without = redetect(latest_sequences, options, use_surprise=False)
    with_lstm = redetect(latest_sequences, options, use_surprise=True)
    results.append(summarise("ablation: detection without LSTM surprise (last snapshot)", without, None,
                             planted, users, days, margin))
    results.append(summarise("ablation: detection with LSTM surprise (last snapshot, offline rerun)", with_lstm, None,
                             planted, users, days, margin))
    ablations = {"without": without, "with": with_lstm}
    if args.refit_surprise:
        refitted = ablations["with refitted"] = redetect(refit_surprise(latest_sequences, seed=0), options, use_surprise=True)
        results.append(summarise("ablation: with this code's LSTM surprise (refitted offline, last snapshot)", refitted,
                                 None, planted, users, days, margin))
    user_order = {user_id: position for position, user_id in enumerate(users)}
    for half in (0, 1):
        members = [user_id for user_id in users if user_order[user_id] % 2 == half]
        chosen = transitions[transitions["user_id"].isin(members)]
        half_planted = [change for change in planted if change.user_id in members]
        results.append(summarise(f"pipeline defaults, half {half} ({len(members)} users at {'even' if half == 0 else 'odd'} positions)",
                                 chosen[chosen["dt"] == last], chosen, half_planted, members, days, margin))
        # the LSTM ablation on each half too: is a difference more than one half's luck?
        for name, flags in ablations.items():
            results.append(summarise(f"ablation half {half}: {name} LSTM surprise", flags[flags["user_id"].isin(members)],
                                     None, half_planted, members, days, margin))
    if args.offline_nights:
        nightly = offline_nightly_flags(lake, args.start, days, options)
        results.append(summarise("pipeline's detection rerun offline on every night (delay from these)",
                                 nightly[nightly["dt"] == last], nightly, planted, users, days, margin))
    oracles: dict[str, pd.DataFrame] = {}
    if args.label_oracle:
        scored = window_scores(lake, latest_sequences)
        print(f"per-post accuracy of the pipeline's fused top label, last window: {fused_label_accuracy(scored, truth):.3f}")
        for share in (0.0, ORACLE_REDRAWN_SHARE):
            oracle, wrong = label_oracle_flags(scored, truth, options, share, args.seed)
            results.append(summarise(f"oracle: planted labels, {share:.0%} redrawn ({wrong:.1%} wrong), last window",
                                     oracle, None, planted, users, days, margin))
            oracles[f"planted labels, {share:.0%} redrawn"] = oracle
    if args.design:
        results += design_table(sequences, planted, users, days, margin, last)
    null_flags, null_user_months = null_false_alarms(latest_sequences, options, args.null_rounds, args.seed)
    proposals = redetect(latest_sequences, dataclasses.replace(options, min_confidence=0.5, min_magnitude=0.0),
                         use_surprise=options.use_surprise)
    calibration = calibration_table(proposals["confidence"].to_numpy(), correct_flags(proposals, planted, margin),
                                    CALIBRATION_EDGES)

    latest = transitions[transitions["dt"] == last]
    flagged_calibration = calibration_table(latest["confidence"].to_numpy(),
                                            correct_flags(latest.reset_index(drop=True), planted, margin), CALIBRATION_EDGES)
    post_labels = truth.get("posts", {})
    evidence = [
        post_labels[post_id]["label"] == label
        for row in latest.itertuples()
        for posts, label in ((row.evidence_before, row.from_label), (row.evidence_after, row.to_label))
        for post_id in posts
        if post_id in post_labels
    ]
    ids_per_change = ids_of_changes(transitions, planted, margin)

    ramps = [change.get("ramp_days", 0) for change in truth["changes"]]
    print(f"cohort: {len(users)} users x {days} days, {len(truth.get('posts', {}))} posts, {len(planted)} planted "
          f"changes ({sum(ramp == 0 for ramp in ramps)} abrupt, {sum(ramp > 0 for ramp in ramps)} gradual), "
          f"{sum(1 for user in truth['users'] if not user['changed'])} stable users; margin ±{margin} days")
    if backfill_seconds is not None:
        print(f"backfill ({stages}) wall: {backfill_seconds:.0f} s")
    print(f"{'setting':<72} {'flag':>5} {'P':>6} {'R':>6} {'F1':>6} {'FA/100um':>9} {'delay':>6}")
    for row in results:
        delay = row.get("median_delay_days")
        print(f"{row['setting']:<72} {row['flagged']:>5} {row['precision']:>6.3f} {row['recall']:>6.3f} "
              f"{row['f1']:>6.3f} {row['false_alarms_per_100_stable_user_months']:>9.2f} "
              f"{'' if delay is None else f'{delay:.1f}':>6}")
    found = found_changes(latest, planted, margin)
    rates = {user["user_id"]: user["posts_per_day"] for user in truth["users"]}
    groups = {
        "abrupt": [ramp == 0 for ramp in ramps], "gradual": [ramp > 0 for ramp in ramps],
        "users posting < 1 a day": [rates[change.user_id] < 1 for change in planted],
        "users posting >= 1 a day": [rates[change.user_id] >= 1 for change in planted],
        "users with 2 changes": [sum(other.user_id == change.user_id for other in planted) == 2 for change in planted],
    }
    print("recall of the last snapshot by kind: " + ", ".join(
        f"{name} {int(found[np.array(mask)].sum())}/{int(np.sum(mask))}" for name, mask in groups.items()))
    for name, flags in oracles.items():
        oracle_found = found_changes(flags, planted, margin)
        print(f"recall by kind, {name}: " + ", ".join(
            f"{kind} {int(oracle_found[np.array(mask)].sum())}/{int(np.sum(mask))}" for kind, mask in groups.items()))
    print(f"evidence posts of the last snapshot whose planted label is the side's label: "
          f"{sum(evidence)}/{len(evidence)}")
    print(f"transition rows over all {transitions['dt'].nunique()} snapshots: {len(transitions)}, distinct transition_id: "
          f"{transitions['transition_id'].nunique()}; {len(ids_per_change)} planted changes flagged in some snapshot, "
          f"{sum(count == 1 for count in ids_per_change.values())} of them under a single id across every snapshot")
    print(f"null calibration: every user's days shuffled x{args.null_rounds}: {null_flags} flags in "
          f"{null_user_months:.1f} user-months = {100 * null_flags / null_user_months:.2f} per 100 user-months")
    print("calibration of the pipeline's flags (last snapshot):")
    print(flagged_calibration.to_string(index=False, float_format=lambda value: f"{value:.3f}"))
    print("calibration (every proposal of the last snapshot at test level 0.5, magnitude filter off):")
    print(calibration.to_string(index=False, float_format=lambda value: f"{value:.3f}"))
    if args.output is not None:
        args.output.write_text(json.dumps({
            "users": len(users), "days": days, "planted": len(planted), "backfill_seconds": backfill_seconds,
            "results": results, "calibration": calibration.to_dict(orient="records"),
            "flagged_calibration": flagged_calibration.to_dict(orient="records"),
            "evidence_agreement": [sum(evidence), len(evidence)],
            "null_calibration": {"flags": null_flags, "user_months": null_user_months},
        }, indent=2, default=str) + "\n")


if __name__ == "__main__":
    main()
