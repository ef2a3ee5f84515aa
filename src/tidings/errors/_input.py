"""Errors of input: profiles and events, definitions, arguments of public functions."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from ._base import ErrorCode, TidingsError

__all__ = [
    "ArgumentError",
    "DefinitionError",
    "DefinitionProblem",
    "EventError",
    "ProfileError",
    "RecordError",
]


class _InvalidInputError(TidingsError, ValueError):
    """An error that wraps pydantic's validation error (kept as ``__cause__``).

    Attributes:
        errors: pydantic's error list (``ValidationError.errors()``), one dict per
            problem with ``loc``, ``msg`` and ``type``; empty when the error did not
            come from pydantic.
        reason: The message without the ``invalid <what>:`` prefix.
    """

    def __init__(
        self,
        message: str,
        *,
        field: str | None = None,
        errors: Sequence[dict[str, Any]] = (),
        reason: str | None = None,
    ) -> None:
        super().__init__(message, field=field)
        self.errors: list[dict[str, Any]] = list(errors)
        self.reason = reason if reason is not None else message


class RecordError(_InvalidInputError):
    """A profile or user event that cannot be stored.

    Attributes:
        index: The record's position in the batch given (0-based), if known.
    """

    code: ErrorCode = "record_error"

    def __init__(
        self,
        message: str,
        *,
        field: str | None = None,
        errors: Sequence[dict[str, Any]] = (),
        reason: str | None = None,
        index: int | None = None,
    ) -> None:
        super().__init__(message, field=field, errors=errors, reason=reason)
        self.index = index


class ProfileError(RecordError):
    """A profile that cannot be stored: a bad email address, time zone, identity..."""

    code: ErrorCode = "profile_error"


class EventError(RecordError):
    """A user event that cannot be stored: no timestamp, bad properties..."""

    code: ErrorCode = "event_error"


@dataclass(frozen=True, slots=True)
class DefinitionProblem:
    """One failing field of a definition, found at publish time.

    Attributes:
        field: The field (``message.subject``, ``match.0.business_property``).
        message: What is wrong, in a marketer's words.
        line: 1-based line in the field's template, when the problem has one.
        column: 1-based column in that line.
    """

    field: str
    message: str
    line: int | None = None
    column: int | None = None

    def __str__(self) -> str:
        where = self.field
        if self.line is not None:
            where += f":{self.line}:{self.column}"
        return f"{where}: {self.message}"


class DefinitionError(_InvalidInputError):
    """A business event, bulletin, campaign or control group definition is invalid.

    ``field`` names the offending field (``targeting_cap``, ``schedule.end``).

    Attributes:
        problems: Every failing field found at publish time (field, line, column,
            message), not only the first; ``field`` is the first one's.
    """

    code: ErrorCode = "definition_error"

    def __init__(
        self,
        message: str,
        *,
        field: str | None = None,
        errors: Sequence[dict[str, Any]] = (),
        reason: str | None = None,
        problems: Sequence[DefinitionProblem] = (),
    ) -> None:
        super().__init__(message, field=field, errors=errors, reason=reason)
        self.problems: tuple[DefinitionProblem, ...] = tuple(problems)

    @classmethod
    def from_problems(cls, what: str, problems: Sequence[DefinitionProblem]) -> DefinitionError:
        """One error listing every problem of a ``what`` (``bulletin``) definition.

        Raises:
            ValueError: ``problems`` is empty.
        """
        if not problems:
            raise ValueError("from_problems needs at least one problem")
        first = problems[0]
        if len(problems) == 1:
            return cls(first.message, field=first.field, problems=problems)
        listing = "; ".join(str(p) for p in problems)
        return cls(
            f"invalid {what}, {len(problems)} problems: {listing}",
            field=first.field,
            problems=problems,
        )

    def detailed_message(self) -> str:
        """Every problem on its own line (the message itself when there is none)."""
        if not self.problems:
            return str(self)
        return "\n".join(str(p) for p in self.problems)


class ArgumentError(TidingsError, TypeError, ValueError):
    """A public function was called with an argument it cannot use.

    ``upsert_profiles(None)``, ``Workspace(workers=0)``, ``escape="xml"``,
    ``Workspace.sqlite`` on a directory or a file that is not a database: a
    ``TypeError`` and a ``ValueError`` too, so callers' existing ``except``
    clauses keep working. ``field`` names the argument.
    """

    code: ErrorCode = "argument_error"
