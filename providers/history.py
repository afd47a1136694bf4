"""Import history: what each provider import changed, so that it can be shown and undone.

Every import that goes through :meth:`~providers.store.ProviderStore.record_import` is a
numbered entry (:class:`ImportEntry`: source, files and their SHA-256, mode, time,
counts) and, per provider it touched, a :class:`Change`: the action, the fields that
changed and the provider's version *before* it (``None`` when the import inserted it).
The entry and its changes are written in the same transaction as the providers, so the
history never disagrees with the store. Writes that are not imports (the grade book
publishing a dynamic grade, the registry publishing counts) are not versioned: those two
keep their own audit, and an undo re-applies their current values
(:mod:`jzmap.application.history`).

A *snapshot guard* (:class:`DeactivationGuard`) bounds how many providers a snapshot may
deactivate: over the bound the store writes nothing and raises
:class:`TooManyDeactivationsError` naming the count and the first ids.

Plain Python (the domain): the stores implement the writes and reads.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum

from providers.errors import ConflictError, ParameterProblem
from providers.model import Provider

FIRST_IDS = 10
"""How many ids a refused snapshot names."""


class Action(StrEnum):
    """What an import did to one provider."""

    INSERTED = "inserted"
    UPDATED = "updated"
    DEACTIVATED = "deactivated"
    DELETED = "deleted"  # an undo removing a provider its import inserted
    KEPT = "kept"  # a snapshot row rejected, the provider's last good version kept active


@dataclass(frozen=True, slots=True)
class ImportFile:
    """A file an import read: its name (no directory) and SHA-256 (hex)."""

    name: str
    sha256: str


@dataclass(frozen=True, slots=True)
class DeactivationGuard:
    """How many active providers of its source a snapshot may deactivate.

    ``limit`` is an absolute number, or ``fraction`` a share of the source's active
    providers before the import (rounded down, and at least 1); ``allow`` is the
    operator's ``--allow-deactivate N``: a snapshot deactivating at most that many
    passes whatever the limit.

    Examples
    --------
    >>> DeactivationGuard(fraction=0.05).bound(100)
    5
    >>> DeactivationGuard(fraction=0.05).bound(10)
    1
    >>> DeactivationGuard(limit=20, allow=50).bound(1000)
    50
    """

    limit: int | None = None
    fraction: float | None = None
    allow: int = 0

    def bound(self, active: int) -> int:
        """The most a snapshot of a source with ``active`` active providers may deactivate."""
        if self.limit is not None:
            own = self.limit
        elif self.fraction is not None:
            own = max(1, math.floor(self.fraction * active))
        else:
            own = active
        return max(own, self.allow)

    @classmethod
    def parse(cls, text: str, allow: int = 0) -> DeactivationGuard:
        """A guard from its setting: ``"5%"`` (a share) or ``"20"`` (a number).

        Examples
        --------
        >>> DeactivationGuard.parse("5%")
        DeactivationGuard(limit=None, fraction=0.05, allow=0)
        >>> DeactivationGuard.parse("20", allow=3)
        DeactivationGuard(limit=20, fraction=None, allow=3)
        """
        text = text.strip()
        if text.endswith("%"):
            share = float(text[:-1])
            if not 0 <= share <= 100:
                raise ValueError(f"{text!r}: a share between 0% and 100%")
            return cls(fraction=share / 100, allow=allow)
        number = int(text)
        if number < 0:
            raise ValueError(f"{text!r}: a number of providers, 0 or more")
        return cls(limit=number, allow=allow)


@dataclass(frozen=True)
class ImportRecord:
    """What the caller says about an import it asks a store to record.

    ``summary`` is called once every row has been read (inside the transaction) for the
    importer's own counts (rows read, rejected, …), stored with the entry. ``delete``:
    ids to remove (an undo of the import that inserted them). ``dry_run``: do it all,
    answer with the changes, and roll back.
    """

    mode: str
    at: datetime
    source: str | None = None
    files: tuple[ImportFile, ...] = ()
    undo_of: int | None = None
    guard: DeactivationGuard | None = None
    delete: tuple[str, ...] = ()
    dry_run: bool = False
    summary: Callable[[], Mapping[str, object]] | None = field(default=None, compare=False)


@dataclass(frozen=True, slots=True)
class Change:
    """What one import did to one provider; ``before`` is its version before the import
    (``None``: the import inserted it, or kept it unchanged); ``fields`` the stored
    columns that changed."""

    provider_id: str
    action: Action
    fields: tuple[str, ...] = ()
    before: Provider | None = None


@dataclass(frozen=True, slots=True)
class ImportEntry:
    """One recorded import. ``counts`` holds the store's counts (inserted, updated,
    unchanged, deactivated, deleted, kept) and the importer's (rows read, rejected, …);
    ``undone_by`` the import that undid it."""

    id: int
    at: datetime
    mode: str
    source: str | None
    files: tuple[ImportFile, ...]
    counts: Mapping[str, object]
    undo_of: int | None = None
    undone_by: int | None = None


@dataclass(frozen=True, slots=True)
class ImportOutcome:
    """What :meth:`~providers.store.ProviderStore.record_import` did: the entry's id
    (``None`` for a dry run), the counts, and for a dry run the changes it would make."""

    import_id: int | None
    inserted: int = 0
    updated: int = 0
    unchanged: int = 0
    deactivated: int = 0
    deleted: int = 0
    kept: tuple[str, ...] = ()
    changes: tuple[Change, ...] = ()

    def counts(self) -> dict[str, int]:
        return {
            "inserted": self.inserted,
            "updated": self.updated,
            "unchanged": self.unchanged,
            "deactivated": self.deactivated,
            "deleted": self.deleted,
            "kept": len(self.kept),
        }


class TooManyDeactivationsError(ConflictError):
    """A snapshot would deactivate more providers than its guard allows; nothing was
    written."""

    def __init__(self, source: str, count: int, bound: int, first_ids: Sequence[str]) -> None:
        shown = ", ".join(first_ids)
        more = " …" if count > len(first_ids) else ""
        message = (
            f"the snapshot of {source!r} would deactivate {count} providers, more than the "
            f"{bound} allowed (JZMAP_SNAPSHOT_MAX_DEACTIVATE); nothing was written. First: "
            f"{shown}{more}. If the file is complete, import it again allowing "
            f"{count} deactivations (--allow-deactivate {count})"
        )
        super().__init__(
            message,
            [ParameterProblem("allow_deactivate", message, f"{count} or more", bound)],
        )
        self.source, self.count, self.bound = source, count, bound
        self.first_ids = tuple(first_ids)


def changed_fields(before: Mapping[str, object], after: Mapping[str, object]) -> tuple[str, ...]:
    """The names whose values differ, in ``after``'s order.

    Examples
    --------
    >>> changed_fields({"a": 1, "b": 2}, {"a": 1, "b": 3})
    ('b',)
    """
    return tuple(k for k, v in after.items() if before.get(k) != v)
