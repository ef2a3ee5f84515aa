"""Run every fuzz target for a fixed time budget: ``python -m tests.fuzz --seconds 600``.

Targets take turns in slices of ``--slice`` inputs until the budget is spent; the
runner prints how many inputs each target ran and exits 1 when any target found a
crash (hypothesis prints the shrunk input and a reproduction blob). ``make fuzz``
runs it with ``FUZZ_SECONDS`` (600 by default) and random inputs; CI runs a short
budget with ``--seed`` so a run is reproducible (a slower machine only gets less far).
"""

from __future__ import annotations

import argparse
import logging
import sys
import time
import traceback
from collections import Counter
from typing import Any

from hypothesis import HealthCheck, Phase, given, seed, settings
from tests.fuzz.targets import TARGETS, Target

log = logging.getLogger("tidings.fuzz")


def _slice(target: Target, examples: int, counts: Counter[str], turn_seed: int | None) -> None:
    @settings(
        max_examples=examples,
        deadline=None,
        database=None,
        phases=[Phase.generate, Phase.shrink],
        suppress_health_check=list(HealthCheck),
        print_blob=True,
    )
    @given(target.inputs)
    def run(value: Any) -> None:
        counts[target.name] += 1
        target.check(value)

    (seed(turn_seed)(run) if turn_seed is not None else run)()


def main(argv: list[str] | None = None) -> int:
    """Parse arguments, fuzz until the budget is spent, report; 1 when a crash was found."""
    parser = argparse.ArgumentParser(prog="python -m tests.fuzz", description=__doc__)
    parser.add_argument("--seconds", type=float, default=600.0, help="time budget (default 600)")
    parser.add_argument("--slice", type=int, default=50, help="inputs per turn of a target")
    parser.add_argument("--only", action="append", default=[], help="run only this target")
    parser.add_argument(
        "--seed",
        type=int,
        default=None,
        help="reproducible inputs: turn N of every target uses seed+N (CI); default random",
    )
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(message)s", stream=sys.stdout)
    active = [t for t in TARGETS if not args.only or t.name in args.only]
    counts: Counter[str] = Counter()
    crashed: dict[str, str] = {}
    start = time.monotonic()
    deadline = start + args.seconds
    turn = 0
    while active and time.monotonic() < deadline:
        turn_seed = None if args.seed is None else args.seed + turn
        turn += 1
        for target in list(active):
            if time.monotonic() >= deadline:
                break
            try:
                _slice(target, args.slice, counts, turn_seed)
            except Exception:  # noqa: BLE001 - a crash is the finding; report it, go on
                crashed[target.name] = traceback.format_exc()
                active.remove(target)
                log.info("fuzz: CRASH in %s\n%s", target.name, crashed[target.name])
    elapsed = time.monotonic() - start
    total = sum(counts.values())
    seeded = "random" if args.seed is None else f"seed {args.seed}"
    log.info("fuzz: %d inputs in %.0f s (budget %.0f s, %s)", total, elapsed, args.seconds, seeded)
    for target in TARGETS:
        if not args.only or target.name in args.only:
            state = "CRASH" if target.name in crashed else "ok"
            log.info("  %-20s %8d inputs  %s", target.name, counts[target.name], state)
    return 1 if crashed else 0


if __name__ == "__main__":
    sys.exit(main())
