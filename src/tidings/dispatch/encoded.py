"""The encoded path: a chunk of candidates decided into ledger rows and JSON lines.

When the sink takes whole chunks of JSON lines (:class:`~tidings.JsonLinesSink`),
the per-user work of a chunk ends where it is done, in a worker process when there
are some: a bulletin's profiles are decoded from the store's rows there (a
campaign's named recipients arrive screened, as on the record path), and what
comes back is what the dispatching process stores and writes as it is (the outcome rows of
the ledger, the sink's lines, the chunk's counts). The dispatching process then
only claims caps, writes the ledger in one transaction per chunk and forwards
the lines. The records are the ones :func:`~tidings.dispatch.render.decide`
makes on the other path: one rule for each, in eligibility, render and caps.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any, NamedTuple

from .._json import dumps_floatless
from ..models.records import Record, Skip, Summary, encode_line
from ..storage.ledger import OutcomeRow, outcome_row
from .caps import Wanted
from .eligibility import Entry, Person
from .plan import DispatchPlan
from .render import Ready, decide

__all__ = ["Encoded", "decide_chunk", "decide_rows", "settle_encoded"]


class Encoded(NamedTuple):
    """A chunk decided and encoded: one outcome row and one line (or None) per candidate.

    ``summary`` counts the records already final; the deliveries still waiting for
    their cap claims (``wanted``, at ``positions``) are counted when settled.
    """

    identities: list[str]
    rows: list[OutcomeRow]
    lines: list[str | None]
    summary: Summary
    positions: list[int]
    wanted: list[Wanted]


def decide_rows(
    plan: DispatchPlan, rows: Sequence[Sequence[Any]], capped: frozenset[str], *, skips: bool
) -> Encoded:
    """Decide a chunk of store rows (see :meth:`Person.from_row`) and encode the outcomes.

    ``capped`` holds the users the targeting-cap pass left out; ``skips`` says
    whether the sink writes skip lines (else their line is None).
    """
    entries = [Entry(Person.from_row(row), None, row[0] in capped) for row in rows]
    return _encode(plan, decide(plan, entries, encode=False), skips=skips)


def decide_chunk(
    plan: DispatchPlan,
    entries: list[Entry],
    order: list[str],
    screened: Mapping[str, Record],
    *,
    skips: bool,
) -> Encoded:
    """Decide a screened chunk of candidates (a campaign's) and encode its outcomes in ``order``.

    ``screened`` holds the records the screening decided already (unknown
    identities, the audience filters); ``entries`` the rest. The outcomes come
    in ``order`` (the candidates' order), as on the record path.
    """
    decided: dict[str, Record | Ready] = dict(screened)
    for verdict in decide(plan, entries, encode=False):
        decided[verdict.identity if isinstance(verdict, Skip) else verdict.delivery.identity] = (
            verdict
        )
    verdicts = [decided[identity] for identity in order if identity in decided]
    return _encode(plan, verdicts, skips=skips)


def _encode(plan: DispatchPlan, verdicts: Sequence[Record | Ready], *, skips: bool) -> Encoded:
    """The outcome rows and lines of a chunk's verdicts (deliveries wanting claims noted)."""
    at, key = plan.now.isoformat(), plan.dispatch_key
    claims = plan.claims
    # Push and email payloads hold text, None and ints only: no float to look for.
    floatless = plan.message.channel != "webhook"
    encoded = Encoded([], [], [], Summary(), [], [])
    identities, out_rows, lines, summary = (
        encoded.identities,
        encoded.rows,
        encoded.lines,
        encoded.summary,
    )
    for verdict in verdicts:
        if isinstance(verdict, Skip):
            identities.append(verdict.identity)
            out_rows.append(outcome_row(verdict, key, at, plan.version))
            lines.append(encode_line(verdict) if skips else None)
            summary.add(verdict)
            continue
        assert isinstance(verdict, Ready)  # noqa: S101 - screening decides skips only
        delivery = verdict.delivery
        if claims:
            encoded.positions.append(len(out_rows))
            encoded.wanted.append(
                Wanted(delivery.identity, delivery.idempotency_key, verdict.day, verdict.week)
            )
        else:
            summary.add(delivery)
        identities.append(delivery.identity)
        out_rows.append(outcome_row(delivery, key, at, plan.version))
        lines.append(dumps_floatless(delivery.to_dict()) if floatless else encode_line(delivery))
    return encoded


def settle_encoded(
    plan: DispatchPlan, encoded: Encoded, refused: dict[str, Skip], *, skips: bool
) -> None:
    """Apply the cap claims' answers to an encoded chunk (in place) and count its deliveries.

    ``refused`` holds the Skip of each waiting delivery that did not get its slot.
    """
    at, key = plan.now.isoformat(), plan.dispatch_key
    summary = encoded.summary
    for position, wanted in zip(encoded.positions, encoded.wanted, strict=True):
        skip = refused.get(wanted.identity)
        if skip is None:
            summary.add_outcome("sent", None)  # as Summary.add counts a Delivery
            continue
        encoded.rows[position] = outcome_row(skip, key, at, plan.version)
        encoded.lines[position] = encode_line(skip) if skips else None
        summary.add(skip)
