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

from ..channels._batch import BatchRender
from ..models.records import (
    Record,
    Skip,
    Summary,
    delivery_dict,
    delivery_keys,
    encode_delivery,
    encode_line,
)
from ..storage.ledger import OutcomeRow, outcome_row
from ..storage.outcomes import pending_row
from .caps import Wanted
from .eligibility import Entry, Person, Timings, check_user
from .plan import DispatchPlan
from .render import recipients, render_payload

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
    encoder = _Encoder(plan, skips=skips)
    user = encoder.user
    for row in rows:
        user(Person.from_row(row), None, row[0] in capped)
    return encoder.encoded


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
    by_identity = {entry.person.identity: entry for entry in entries}
    encoder = _Encoder(plan, skips=skips)
    for identity in order:
        entry = by_identity.get(identity)
        if entry is not None:
            encoder.user(entry.person, entry.trigger, entry.capped)
            continue
        record = screened.get(identity)
        if record is not None:
            assert isinstance(record, Skip)  # noqa: S101 - screening decides skips only
            encoder.skip(record)
    return encoder.encoded


class _Encoder:
    """The outcome rows and lines of one chunk, user by user (deliveries wanting claims noted).

    Each user goes through :func:`check_user` and :func:`render_payload`, the
    rules of the record path; a delivery is then encoded from its parts
    (:func:`delivery_dict`, :func:`pending_row`) without making the Delivery.
    """

    __slots__ = (
        "_at",
        "_batch",
        "_channel",
        "_claims",
        "_floatless",
        "_key",
        "_plan",
        "_skips",
        "_timings",
        "encoded",
    )

    def __init__(self, plan: DispatchPlan, *, skips: bool) -> None:
        self._plan = plan
        self._skips = skips
        self._at = plan.now.isoformat()
        self._channel = plan.message.channel
        self._claims = plan.claims
        # Push and email payloads hold text, None and ints only: no float to look for.
        self._floatless = self._channel != "webhook"
        self._key = delivery_keys(plan.source_id, plan.dispatch_key)
        self._timings: Timings = {}
        self._batch = BatchRender(plan.message, plan.namespaces)
        self.encoded = Encoded([], [], [], Summary(), [], [])

    def skip(self, skip: Skip) -> None:
        """Encode a user's Skip."""
        plan, encoded = self._plan, self.encoded
        encoded.identities.append(skip.identity)
        encoded.rows.append(outcome_row(skip, plan.dispatch_key, self._at, plan.version))
        encoded.lines.append(encode_line(skip) if self._skips else None)
        encoded.summary.add(skip)

    def user(self, person: Person, trigger: Mapping[str, Any] | None, capped: bool) -> None:
        """Decide one user (:class:`Entry`'s fields) and encode the outcome."""
        plan = self._plan
        verdict = check_user(plan, person, trigger, capped, self._timings)
        if isinstance(verdict, Skip):
            self.skip(verdict)
            return
        payload = render_payload(plan, verdict, self._batch)
        if isinstance(payload, Skip):
            self.skip(payload)
            return
        encoded, identity, channel, send = (
            self.encoded,
            person.identity,
            self._channel,
            verdict.send,
        )
        key = self._key(identity)
        if self._claims:
            encoded.positions.append(len(encoded.rows))
            encoded.wanted.append(Wanted(identity, key, send.day, send.week))
        else:
            encoded.summary.add_outcome("sent", None)  # as Summary.add counts a Delivery
        encoded.identities.append(identity)
        source_id, text = plan.source_id, send.text
        encoded.rows.append(
            pending_row(
                self._at, source_id, identity, plan.dispatch_key, channel, text, key, plan.version
            )
        )
        data = delivery_dict(
            plan.source,
            source_id,
            identity,
            channel,
            payload,
            text,
            key,
            recipients(channel, verdict.address, payload),
        )
        encoded.lines.append(encode_delivery(data, floatless=self._floatless))


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
