"""A large fuzzing run of ingest: the property of tests/ingest/test_fuzz.py (every fuzzed message
stored exactly or dead-lettered, a valid message after it stored) over many more examples, in a
scratch database built by the real migrations.

Every example runs (failures are recorded, not raised); prints the cases run, what became of the
fuzzed messages, each kind of failure with its count and its smallest input, and the time.
Run `python -m benchmarks.fuzz_ingest --examples 2000` from the repository root.
"""

from __future__ import annotations

import argparse
import contextlib
import logging
import re
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import structlog
from hypothesis import HealthCheck, Phase, given, seed, settings
from hypothesis import strategies as st

from benchmarks.harness import bench_database
from tests.ingest.fuzz_check import Rig
from tests.ingest.fuzz_strategies import (
    arbitrary_bytes,
    batches,
    fuzzed_messages,
    item_messages,
    topics,
)
from tests.ingest.fuzz_values import (
    Sent,
)


@dataclass(slots=True)
class Failures:
    """Failing examples by the kind of failure, keeping the smallest input of each."""

    examples: int = 0
    by_kind: Counter[str] = field(default_factory=Counter)
    smallest: dict[str, tuple[list[Sent], str]] = field(default_factory=dict)

    def add(self, sent: list[Sent], problems: list[str]) -> None:
        self.examples += 1
        for problem in problems:
            kind = failure_kind(problem)
            self.by_kind[kind] += 1
            known = self.smallest.get(kind)
            if known is None or _size(sent) < _size(known[0]):
                self.smallest[kind] = (sent, problem)


def _size(sent: list[Sent]) -> int:
    return sum(len(s.payload) + len(s.topic) for s in sent)


def failure_kind(problem: str) -> str:
    """A problem without its values: what to group failures by."""
    if problem.startswith("neither stored nor dead-lettered"):
        topic = problem.split("'")[1] if "'" in problem else ""
        return "neither stored nor dead-lettered, on a " + topic.rsplit("/", 1)[-1] + " topic"
    match = re.match(r"(\w+) row .* matches nothing sent: \[.(\w+):", problem)
    if match:
        return f"{match[1]} stored with a wrong {match[2]}"
    match = re.match(r"(\w+) row .* matches nothing sent: \[.(v is [^,]*)", problem)
    if match:
        return f"{match[1]} stored with {match[2]}"
    if problem.startswith("commit_chunk raised"):
        return "commit_chunk raised " + problem.split("(", 1)[0].rsplit(" ", 1)[-1]
    return " ".join(problem.split()[:6])


def run_property(
    name: str,
    strategy: st.SearchStrategy[list[Sent]],
    rig: Rig,
    examples: int,
    seed_value: int,
) -> Failures:
    failures = Failures()
    count = 0

    @seed(seed_value)
    @settings(
        max_examples=examples,
        deadline=None,
        database=None,
        phases=[Phase.generate],
        suppress_health_check=list(HealthCheck),
    )
    @given(sent=strategy)
    def check(sent: list[Sent]) -> None:
        nonlocal count
        count += 1
        problems = rig.run(sent)
        if problems:
            failures.add(sent, problems)

    started = time.perf_counter()
    check()
    elapsed = time.perf_counter() - started
    print(f"  {name:<34}{count:>8,} cases{failures.examples:>7,} failing{elapsed:>8.1f} s")
    return failures


def strategies() -> dict[str, st.SearchStrategy[list[Sent]]]:
    def one(strategy: st.SearchStrategy[Sent]) -> st.SearchStrategy[list[Sent]]:
        return strategy.map(lambda sent: [sent])

    return {
        "near-valid item messages": one(item_messages()),
        "gateway batches": one(batches()),
        "arbitrary bytes on any topic": one(st.builds(Sent, topics(), arbitrary_bytes())),
        "chunks of 1-3 of all these": fuzzed_messages(),
    }


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.fuzz_ingest", description=__doc__)
    parser.add_argument("--examples", type=int, default=2000, help="examples per strategy")
    parser.add_argument("--seed", type=int, default=int(time.time()), help="hypothesis's seed")
    parser.add_argument(
        "--embedded-postgres",
        action="store_true",
        help="use a private embedded PostgreSQL even when 127.0.0.1:5432 answers",
    )
    args = parser.parse_args(argv)
    if args.examples < 1:
        parser.error("--examples must be positive")
    return args


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    # commit_chunk logs each refused chunk at error level: expected here, thousands of times.
    structlog.configure(wrapper_class=structlog.make_filtering_bound_logger(logging.CRITICAL))
    print(f"fitmon ingest fuzzing, seed {args.seed}")
    started = time.perf_counter()
    results: dict[str, Failures] = {}
    with contextlib.ExitStack() as stack:
        workdir = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="fitmon-fuzz-")))
        db_url, where = stack.enter_context(
            bench_database(workdir, embedded=args.embedded_postgres)
        )
        print(f"  database: a scratch one on {where}\n")
        rig = Rig(db_url)
        stack.callback(rig.close)
        for name, strategy in strategies().items():
            results[name] = run_property(name, strategy, rig, args.examples, args.seed)
        outcomes = rig.outcomes
    elapsed = time.perf_counter() - started
    cases = args.examples * len(results)
    failing = sum(f.examples for f in results.values())
    print(f"\n  {cases:,} cases run, {failing:,} failing, in {elapsed:.0f} s")
    print("\n  what became of the fuzzed messages and batch items:")
    for outcome, count in sorted(outcomes.items()):
        print(f"    {outcome:<40}{count:>8,}")
    merged = Failures()
    for failures in results.values():
        merged.by_kind.update(failures.by_kind)
        for kind, (sent, problem) in failures.smallest.items():
            known = merged.smallest.get(kind)
            if known is None or _size(sent) < _size(known[0]):
                merged.smallest[kind] = (sent, problem)
    print(f"\n  {len(merged.by_kind)} kind(s) of failure" + (":" if merged.by_kind else ""))
    for kind, count in merged.by_kind.most_common():
        sent, problem = merged.smallest[kind]
        print(f"\n  [{count:,}x] {kind}\n    smallest: {sent!r}\n    {problem[:600]}")
    return 1 if failing else 0


if __name__ == "__main__":
    sys.exit(main())
