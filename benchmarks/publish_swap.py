"""How long partition publishing keeps a table in flux, and what a reader sees meanwhile.

Builds a table of ``--partitions`` partition folders (each ``--files`` Parquet-sized files),
stages a replacement for every one with a commit record, and times ``jobs.lake._apply`` (the
swaps and the removal of the previous folders) over ``--repeats`` rounds; a reader thread
lists every partition throughout and counts listings that found a partition missing or
holding a mix of old and new files. Prints medians; no Spark involved (Spark's write goes to
staging, outside the table, and costs what it cost before).

    .venv/bin/python benchmarks/publish_swap.py --partitions 60 --files 4 --repeats 7 [--mode delete-then-write]
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import tempfile
import threading
import time
from pathlib import Path

from jobs import lake


def build(folder: Path, partitions: list[str], files: int, tag: str, size: int) -> None:
    for partition in partitions:
        (folder / partition).mkdir(parents=True, exist_ok=True)
        for index in range(files):
            (folder / partition / f"part-{index:05d}-{tag}.parquet").write_bytes(os.urandom(size))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--partitions", type=int, default=60)
    parser.add_argument("--files", type=int, default=4)
    parser.add_argument("--bytes", type=int, default=64 * 1024, help="size of each file")
    parser.add_argument("--repeats", type=int, default=7)
    parser.add_argument(
        "--mode", choices=["exchange", "delete-then-write"], default="exchange",
        help="exchange: jobs.lake's publishing; delete-then-write: what the lake did before (for contrast)",
    )
    args = parser.parse_args()
    root = Path(tempfile.mkdtemp(prefix="publish-swap-"))
    table = root / "lake" / "posts"
    partitions = [f"dt=2026-01-{day:02d}/landing_dt=2026-03-01" for day in range(1, args.partitions + 1)]
    build(table, partitions, args.files, "round0", args.bytes)
    missing = mixed = listings = 0
    stop = threading.Event()

    def reader() -> None:
        nonlocal missing, mixed, listings
        while not stop.is_set():
            for partition in partitions:
                try:
                    names = [name for name in os.listdir(table / partition) if not name.startswith((".", "_"))]
                except FileNotFoundError:
                    names = []
                listings += 1
                tags = {name.rsplit("-", 1)[1] for name in names}
                missing += not names
                mixed += len(tags) > 1

    thread = threading.Thread(target=reader)
    thread.start()
    timings = []
    for round_number in range(1, args.repeats + 1):
        staging = root / "lake" / lake.STAGING / "posts" / "bench"
        build(staging / "data", partitions, args.files, f"round{round_number}", args.bytes)
        for partition in partitions:
            (staging / "data" / partition / f"{lake.RUN_MARKER_PREFIX}{round_number}").touch()
        (staging / lake.COMMITTED).write_text(json.dumps({"run_id": str(round_number), "staged": partitions, "removed": []}))
        started = time.perf_counter()
        if args.mode == "exchange":
            lake._apply(staging, table)
        else:
            for partition in partitions:
                shutil.rmtree(table / partition)
            for partition in partitions:
                os.rename(staging / "data" / partition, table / partition)
            shutil.rmtree(staging)
        timings.append(time.perf_counter() - started)
    stop.set()
    thread.join()
    median = statistics.median(timings)
    print(f"mode {args.mode}: partitions {args.partitions} x {args.files} files of {args.bytes} B, {args.repeats} rounds")
    print(f"publish (swap + drop previous) median {median * 1000:.1f} ms, "
          f"{median / args.partitions * 1e6:.0f} us per partition")
    print(f"reader listings {listings}: partition missing {missing}, old/new mix {mixed}")


if __name__ == "__main__":
    main()
