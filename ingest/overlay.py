"""What a provider import keeps from the grade book and the registry (an *overlay*).

A registry file carries each company's official 信用等级 and its own 持证人数, but the
platform holds better values for both: the **dynamic grade** (the official grade moved by
evaluations, :mod:`providers.gradebook`) and the **derived counts** (practitioners holding
a valid 安心服务证 in the practitioners registry, :mod:`providers.registry`). Written as
they are, the file's values would overwrite those, and importing the same file twice
would "update" every such company. :class:`ImportOverlay` is applied to each batch of
validated rows before the store sees it:

* a company whose file grade **equals its grade-book baseline** gets its current dynamic
  grade (the file repeats the assessment the book started from);
* a company whose file grade **differs from its baseline** is a **new official
  assessment**: the file's grade is stored, and the company is reported
  (:attr:`ingest.pipeline.IngestReport.official_grades`) so that, once the import has
  committed, the grade book takes it as the new baseline (:mod:`jzmap.application.imports`);
* a company with practitioners in the registry gets the derived counts
  (:func:`providers.practitioners.public_counts`: certified from the registry,
  practitioners at least the number registered).

Companies the grade book or registry do not know keep the file's values. A re-assessment
that confirms the old grade cannot be told apart from a re-import of the same file: the
dynamic grade carries on.

The overlay is a few hundred grades and at most one entry per company, built once per
import; an empty overlay is skipped, and otherwise one hash lookup per row finds the rows
it touches.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field

import numpy as np

from providers.model import Grade
from providers.practitioners import CompanyCounts, public_counts
from providers.stores.rows import RowBatch

_GRADES = {g.value: g for g in Grade}


@dataclass(frozen=True)
class ImportOverlay:
    """Per company id: ``grades`` (baseline grade, current grade) from the grade book, and
    ``counts`` from the practitioners registry."""

    grades: Mapping[str, tuple[Grade, Grade]] = field(default_factory=dict)
    counts: Mapping[str, CompanyCounts] = field(default_factory=dict)

    def __bool__(self) -> bool:
        return bool(self.grades or self.counts)

    def apply(self, batch: RowBatch) -> OverlayResult:
        """Rewrite ``batch``'s grade and count columns in place (see the module)."""
        columns = batch.columns
        ids: list[str] = columns["id"]
        result = OverlayResult()
        if self.grades:
            grades, ranks = columns["credit_grade"], columns["grade_rank"]
            for j in _rows_of(ids, self.grades):
                text = grades[j]
                if text is None:
                    continue  # the model check rejects an ungraded company; belt and braces
                baseline, current = self.grades[ids[j]]
                if text != baseline.value:
                    result.official[ids[j]] = _GRADES[text]
                elif current is not baseline:
                    grades[j], ranks[j] = current.value, current.rank
                    result.grades_kept += 1
        if self.counts:
            listed, certified = columns["practitioners"], columns["certified_practitioners"]
            for j in _rows_of(ids, self.counts):
                derived = public_counts(listed[j], self.counts[ids[j]])
                if derived != (listed[j], certified[j]):
                    listed[j], certified[j] = derived
                    result.counts_derived += 1
        return result


@dataclass
class OverlayResult:
    """What :meth:`ImportOverlay.apply` did to one batch: the rows' new official grades
    (company id -> the file's grade), and how many rows took the book's dynamic grade or
    the registry's counts instead of the file's."""

    official: dict[str, Grade] = field(default_factory=dict)
    grades_kept: int = 0
    counts_derived: int = 0


def _rows_of(ids: list[str], keys: Mapping[str, object]) -> Iterable[int]:
    """Positions of the ids that ``keys`` holds (a C-level lookup per row)."""
    found = np.fromiter(map(keys.__contains__, ids), np.bool_, len(ids))
    return list(np.flatnonzero(found).tolist())
