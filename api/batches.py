"""Admin batches checked item by item: a bad item is reported with its reasons, the good
ones go on (a feed has many sources, and re-sending is harmless)."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any, Generic, TypeVar

from jzmap.presentation.schemas import RejectedItemOut
from providers.errors import TooLargeError

T = TypeVar("T")


@dataclass
class SortedBatch(Generic[T]):
    """The items that parsed, their positions in the batch, and the rejected ones."""

    parsed: list[T] = field(default_factory=list)
    positions: list[int] = field(default_factory=list)
    rejected: list[RejectedItemOut] = field(default_factory=list)


def check_batch_size(items: Sequence[Any], limit: int, what: str, setting: str) -> None:
    """A 413 when a batch holds more than ``limit`` items."""
    if len(items) > limit:
        raise TooLargeError(f"{len(items)} {what} in one batch; at most {limit} ({setting})")


def sort_batch(
    items: Sequence[Any],
    parse: Callable[[Any], tuple[T | None, list[str]]],
    item_id: Callable[[Any], str | None],
) -> SortedBatch[T]:
    """Parse each item; those that fail are rejected with their index, id and reasons."""
    batch: SortedBatch[T] = SortedBatch()
    for index, item in enumerate(items):
        value, reasons = parse(item)
        if value is None:
            batch.rejected.append(RejectedItemOut(index=index, id=item_id(item), reasons=reasons))
        else:
            batch.parsed.append(value)
            batch.positions.append(index)
    return batch
