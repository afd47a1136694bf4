"""Plain-words explanations of grade changes, in Chinese and English, for residents.

Each audit record (:class:`~providers.grading.GradeChange`) becomes one short sentence:
when, what happened (reviews and visits, a verified complaint and its severity, an upheld
appeal, a new official assessment, the re-grading), how many points on which dimension,
whether a complaint was appealed, and the grade before and after. Built from the records'
kinds, severities, dates and points only: never a review's or complaint's text, a
practitioner's name or anything about who complained.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from providers.evaluations import (
    Appeal,
    AppealScope,
    AppealStatus,
    Complaint,
    FollowUpVisit,
    GradeEvent,
    Review,
    china_date,
)
from providers.gradebook import grade_text
from providers.grading import DEFAULT_MODEL, Dimension, GradeChange, GradingModel


@dataclass(frozen=True, slots=True)
class Explanation:
    """One change in plain words; ``appealed`` is the state of an appeal against a
    complaint behind it (``None``: not appealed)."""

    zh: str
    en: str
    appealed: AppealStatus | None = None


def explain(
    change: GradeChange,
    events: Mapping[str, GradeEvent],
    appeals: Mapping[str, Sequence[Appeal]],
    model: GradingModel = DEFAULT_MODEL,
) -> Explanation:
    """``change`` in plain words.

    ``events`` holds the stored evaluations and appeals by id (at least those in
    ``change.cause``); ``appeals`` the appeals by the complaint they name.

    Examples
    --------
    >>> from datetime import datetime
    >>> from providers.evaluations import CHINA_TZ, ComplaintStatus, Severity, Subject
    >>> from providers.model import Grade
    >>> co = Subject.company("co-1")
    >>> at = datetime(2026, 5, 3, tzinfo=CHINA_TZ)
    >>> cp = Complaint("cp-1", co, Severity.MINOR, at, ComplaintStatus.VERIFIED, at)
    >>> c = GradeChange(co, at, ("cp-1",), Grade.A4, Grade.A4, 85.0, 83.0)
    >>> e = explain(c, {"cp-1": cp}, {})
    >>> e.zh
    '2026-05-03 投诉属实（一般）：管理能力 −1 分、公共信用 −1 分；等级 4A → 4A，动态分 85 → 83。'
    >>> e.en.startswith("2026-05-03 verified complaint (minor): −1 point management, ")
    True
    >>> e.en.endswith("−1 point public credit; grade 4A → 4A, score 85 → 83.")
    True
    """
    zh: list[str] = []
    en: list[str] = []
    appealed: AppealStatus | None = None
    feedback = [
        events[i] for i in change.cause if isinstance(events.get(i), Review | FollowUpVisit)
    ]
    if feedback:
        z, e = _feedback(feedback, change, model)
        zh.append(z)
        en.append(e)
    for id_ in change.cause:
        event = events.get(id_)
        if isinstance(event, Complaint):
            z, e, status = _complaint(event, appeals.get(id_, ()), change, model)
            appealed = appealed or status
        elif isinstance(event, Appeal):
            z, e = _appeal(event, events, model, change)
        elif id_.startswith("official:"):
            z = "官方重新评定信用等级，动态分从新的评定重新起算"
            e = "a new official assessment: the dynamic score starts afresh from it"
        elif id_.startswith("regrade:"):
            z = "按五级投诉严重程度（轻微、一般、较重、严重、特别严重）重新核算"
            e = "re-graded under the five-level complaint severity scale"
        else:
            continue
        zh.append(z)
        en.append(e)
    day = china_date(change.at).isoformat()
    before, after = grade_text(change.grade_before), grade_text(change.grade_after)
    sb, sa = _num(change.score_before), _num(change.score_after)
    tail_zh = f"等级 {before} → {after}，动态分 {sb} → {sa}"
    tail_en = f"grade {before} → {after}, score {sb} → {sa}"
    if change.blacklisted:
        tail_zh += "；列入黑名单（3 年内不得重新申领安心服务证）"
        tail_en += "; blacklisted (no new certificate for 3 years)"
    return Explanation(
        zh=f"{day} {'；'.join(zh) or '评分变动'}；{tail_zh}。",
        en=f"{day} {'; '.join(en) or 'score change'}; {tail_en}.",
        appealed=appealed,
    )


def _feedback(
    events: Sequence[GradeEvent], change: GradeChange, model: GradingModel
) -> tuple[str, str]:
    reviews = sum(isinstance(e, Review) for e in events)
    visits = len(events) - reviews
    dim = model.scale(change.subject.kind).feedback_dimension
    parts_zh: list[str] = []
    parts_en: list[str] = []
    if reviews:
        parts_zh.append(f"顾客评价 {reviews} 条")
        parts_en.append(f"{reviews} customer review{'s' if reviews > 1 else ''}")
    if visits:
        parts_zh.append(f"回访 {visits} 次")
        parts_en.append(f"{visits} follow-up visit{'s' if visits > 1 else ''}")
    delta = _signed(change.score_after - change.score_before)
    return (
        "、".join(parts_zh) + f"：{dim.label_zh} {delta} 分",
        " and ".join(parts_en) + f": {delta} points {_dim_en(dim)}",
    )


def _complaint(
    complaint: Complaint, appeals: Sequence[Appeal], change: GradeChange, model: GradingModel
) -> tuple[str, str, AppealStatus | None]:
    sev = complaint.severity
    deductions = model.scale(change.subject.kind).complaint_deductions.get(sev, {})
    zh = f"投诉属实（{sev.label_zh}）：" + "、".join(
        f"{d.label_zh} −{_num(p)} 分" for d, p in deductions.items()
    )
    en = f"verified complaint ({sev.label_en}): " + ", ".join(
        f"−{_num(p)} point{'s' * (p != 1)} {_dim_en(d)}" for d, p in deductions.items()
    )
    status = _appeal_status(appeals)
    if status is AppealStatus.FILED:
        zh, en = zh + "（已申诉，待决定）", en + " (appealed, pending)"
    elif status is AppealStatus.UPHELD:
        zh, en = zh + "（申诉成立，已撤销）", en + " (appeal upheld: reversed)"
    elif status is AppealStatus.DISMISSED:
        zh, en = zh + "（申诉被驳回，维持）", en + " (appeal dismissed: stands)"
    return zh, en, status


def _appeal_status(appeals: Sequence[Appeal]) -> AppealStatus | None:
    """Upheld over filed over dismissed: the state that tells a resident most."""
    states = {a.status for a in appeals}
    for status in (AppealStatus.UPHELD, AppealStatus.FILED, AppealStatus.DISMISSED):
        if status in states:
            return status
    return None


def _appeal(
    appeal: Appeal, events: Mapping[str, GradeEvent], model: GradingModel, change: GradeChange
) -> tuple[str, str]:
    target = events.get(appeal.complaint_id)
    when = ""
    if isinstance(target, Complaint) and target.resolved_at is not None:
        when = china_date(target.resolved_at).isoformat()
    what_zh = "黑名单" if appeal.scope is AppealScope.BLACKLISTING else "扣分"
    what_en = "blacklisting" if appeal.scope is AppealScope.BLACKLISTING else "deductions"
    delta = change.score_after - change.score_before
    return (
        f"申诉成立：撤销 {when} 属实投诉的{what_zh}（{_signed(delta)} 分）",
        f"appeal upheld: the {what_en} of a complaint verified {when} reversed "
        f"({_signed(delta)} points)",
    )


def _dim_en(d: Dimension) -> str:
    return d.value.replace("_", " ")


def _num(points: float) -> str:
    """``83`` for 83.0, ``0.5`` for 0.5: no trailing zeros."""
    return f"{points:.2f}".rstrip("0").rstrip(".")


def _signed(points: float) -> str:
    return ("+" if points >= 0 else "−") + _num(abs(points))
