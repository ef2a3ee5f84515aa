"""Sinks: where a dispatch's records go. :class:`JsonLinesSink` writes them as JSON Lines.

A sink is any callable taking one record (:data:`tidings.models.records.Sink`); a
dispatch calls it once per delivery (and skip) in a deterministic order.
"""

from __future__ import annotations

import json
from collections.abc import Collection, Sequence
from operator import itemgetter
from pathlib import Path
from typing import IO

from .models.records import Record, Skip, encode_line
from .storage.ledger import OutcomeRow

__all__ = ["JsonLinesSink"]

_state_of = itemgetter(4)
"""The state of an outcome row (``pending`` or ``skipped``)."""


class JsonLinesSink:
    """A sink that writes each record as one JSON line (to a path or an open text file).

    Opened on a path it appends, so a dispatch resumed after a crash continues the
    same file: :meth:`resume` (called by the dispatch) drops a torn last line and
    skips the deliveries and skips the crashed run had already written, so each
    record appears once.
    """

    def __init__(self, target: str | Path | IO[str], *, include_skips: bool = True) -> None:
        self._path: Path | None = None
        if isinstance(target, str | Path):
            self._path = Path(target)
            self._file: IO[str] = open(target, "a", encoding="utf-8")  # noqa: SIM115 - closed in close()
            self._owned = True
        else:
            self._file = target
            self._owned = False
        self.include_skips = include_skips
        self.written = 0
        self._already: set[str] = set()
        self._already_skipped: set[tuple[str, str]] = set()

    def resume(self, pending_keys: set[str], skips: Collection[tuple[str, str]] = ()) -> None:
        """Prepare to resume a crashed dispatch.

        Args:
            pending_keys: Idempotency keys of its deliveries not confirmed as written.
            skips: (source id, identity) of its skips not confirmed as written.
                Skip lines carry no dispatch key, so only those at the very end
                of the file (what the crashed run wrote last) count as written;
                the same skip of an earlier dispatch further up is not this one.
        """
        if self._path is None:
            return
        self._file.flush()
        with open(self._path, "rb+") as raw:
            data_end = raw.seek(0, 2)
            if data_end:
                raw.seek(max(0, data_end - 1))
                if raw.read(1) != b"\n":  # a torn last line: cut it off
                    raw.seek(0)
                    content = raw.read()
                    raw.truncate(content.rfind(b"\n") + 1)
        wanted = set(skips)
        tail: list[tuple[str, str]] = []
        with open(self._path, encoding="utf-8") as existing:
            for line in existing:
                pending = False
                if '"delivery"' in line:
                    key = json.loads(line).get("idempotency_key")
                    if key in pending_keys:
                        self._already.add(key)
                        pending = True
                elif wanted and '"skip"' in line:
                    data = json.loads(line)
                    written = (data.get("source_id"), data.get("identity"))
                    if written in wanted:
                        tail.append(written)
                        pending = True
                if not pending:
                    tail = []
        self._already_skipped = set(tail)

    def __call__(self, record: Record) -> None:
        """Write one record."""
        if isinstance(record, Skip):
            if not self.include_skips or self._written_before(record):
                return
        elif record.idempotency_key in self._already:
            return
        self._file.write(encode_line(record))
        self._file.write("\n")
        self.written += 1

    def write_encoded(self, record: Record, line: str) -> None:
        """Write ``record`` whose line was encoded elsewhere (by a dispatch worker).

        ``line`` must be ``encode_line(record)``; the same rules apply as for a call
        (skips only with ``include_skips``, no delivery written twice on resume).
        """
        if isinstance(record, Skip):
            if not self.include_skips or self._written_before(record):
                return
        elif record.idempotency_key in self._already:
            return
        self._file.write(line)
        self._file.write("\n")
        self.written += 1

    def write_lines(self, lines: Sequence[str], rows: Sequence[OutcomeRow]) -> None:
        """Write a chunk of lines encoded elsewhere (by a dispatch worker), in one write.

        ``lines[i]`` must be the line of the record stored as ``rows[i]`` (its
        ledger outcome row: a ``pending`` delivery or a ``skipped`` skip); the
        same rules apply as for a call, per line: skips only with
        ``include_skips``, nothing the crashed run this one resumes wrote already.
        """
        if (
            self._already
            or self._already_skipped
            # (A dispatch leaves out the lines of skips a sink does not want: most
            # chunks hold none, found here without a Python loop.)
            or (not self.include_skips and "skipped" in map(_state_of, rows))
        ):
            kept: list[str] = []
            for line, row in zip(lines, rows, strict=True):
                if row[4] == "skipped":
                    if not self.include_skips or self._written_before_key((row[1], row[2])):
                        continue
                elif row[8] in self._already:
                    continue
                kept.append(line)
            lines = kept
        if lines:
            self._file.write("\n".join(lines))
            self._file.write("\n")
            self.written += len(lines)

    def _written_before(self, skip: Skip) -> bool:
        """Whether the crashed run this one resumes already wrote ``skip`` (once)."""
        return self._written_before_key((skip.source_id, skip.identity))

    def _written_before_key(self, key: tuple[str, str]) -> bool:
        if key in self._already_skipped:
            self._already_skipped.discard(key)
            return True
        return False

    def flush(self) -> None:
        """Hand what was written so far to the operating system.

        The dispatch calls it before marking a chunk emitted in the ledger, so a
        killed process never leaves an emitted delivery only in its write buffer.
        """
        self._file.flush()

    def close(self) -> None:
        """Flush, and close the file if this sink opened it (even when the flush fails)."""
        if self._owned:
            self._file.close()  # flushes first; closes the file even if that flush raises
        else:
            self._file.flush()

    def __enter__(self) -> JsonLinesSink:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
