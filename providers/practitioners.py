"""Practitioners (家政服务人员) and the 安心服务证: private data, public aggregates.

A practitioner holds the 安心服务证 (the "peace-of-mind service certificate") only while five
checks hold: real-name verification (实名认证), pre-job training and assessment
(岗前培训考核), a no-criminal-record proof (无犯罪记录证明), a health certificate (健康证,
which lapses) and a vocational training certificate (职业培训证书). The certificate's status
is **computed** from those checks, the certificate's own record and the blacklist at a given
date (:func:`certificate_status`); it is never stored or typed in, so it cannot go stale.

Everything personal here — name, ID number, phone, home — is private: it is left out of
``repr`` (so it never reaches a log line by accident), validation messages never quote it,
and the public sees only :func:`mask_name` in :class:`PublicCertificate` and per-company
counts (:func:`company_counts`).

Dates are calendar dates in Guangzhou (China Standard Time).
"""

from __future__ import annotations

import dataclasses
import math
import re
import unicodedata
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import date, timedelta
from enum import IntEnum, StrEnum

# A blacklisting bars re-application for this many years (the local standard's rule).
REAPPLY_BAR_YEARS = 3

# GB 11643-1999: weights 2**(17-i) mod 11, check characters indexed by the sum mod 11.
_ID_WEIGHTS = tuple(pow(2, 17 - i, 11) for i in range(17))
_ID_CHECK = "10X98765432"
_PHONE_CHARS = re.compile(r"^[0-9+\-() ]*$")
# Certificate codes are printed on the card and typed in by households: keep them simple.
_CERTIFICATE_CODE = re.compile(r"^[A-Z0-9][A-Z0-9-]{3,31}$")


class InvalidPractitionerError(ValueError):
    """A practitioner record breaks an invariant; the message never quotes personal data."""


class Stars(IntEnum):
    """A practitioner's credit rating: 5 stars (best) to 1."""

    FIVE = 5
    FOUR = 4
    THREE = 3
    TWO = 2
    ONE = 1

    @property
    def rank(self) -> int:
        """5 down to 1, like :attr:`providers.model.Grade.rank`, so ``>=`` means "at least"."""
        return int(self)


class Check(StrEnum):
    """The five checks behind the 安心服务证, in the order the platform lists them."""

    REAL_NAME = "real_name"
    PRE_JOB_TRAINING = "pre_job_training"
    NO_CRIMINAL_RECORD = "no_criminal_record"
    HEALTH_CERTIFICATE = "health_certificate"
    VOCATIONAL_CERTIFICATE = "vocational_certificate"

    @property
    def label_zh(self) -> str:
        return _CHECK_LABELS_ZH[self]

    @property
    def label_en(self) -> str:
        return _CHECK_LABELS_EN[self]


_CHECK_LABELS_ZH = {
    Check.REAL_NAME: "实名认证",
    Check.PRE_JOB_TRAINING: "岗前培训考核",
    Check.NO_CRIMINAL_RECORD: "无犯罪记录证明",
    Check.HEALTH_CERTIFICATE: "健康证",
    Check.VOCATIONAL_CERTIFICATE: "职业培训证书",
}
_CHECK_LABELS_EN = {
    Check.REAL_NAME: "real-name verification",
    Check.PRE_JOB_TRAINING: "pre-job training and assessment",
    Check.NO_CRIMINAL_RECORD: "no-criminal-record proof",
    Check.HEALTH_CERTIFICATE: "health certificate",
    Check.VOCATIONAL_CERTIFICATE: "vocational training certificate",
}

# Checks whose evidence lapses and so must carry an expiry when passed. Others may carry
# one (a no-criminal-record proof issued "valid for six months", say) but need not.
LAPSING_CHECKS = frozenset({Check.HEALTH_CERTIFICATE})


class CheckStatus(StrEnum):
    """What the registry knows of one check."""

    PASSED = "passed"
    MISSING = "missing"
    FAILED = "failed"


@dataclass(frozen=True, slots=True)
class CheckRecord:
    """One check: its status, the date of its evidence and, if it lapses, its expiry.

    ``expires_on`` is the last day the evidence holds (a health certificate "有效期至
    2026-05-31" holds on 31 May and has expired on 1 June). A passed check holds from
    ``evidenced_on`` through ``expires_on``.
    """

    status: CheckStatus = CheckStatus.MISSING
    evidenced_on: date | None = None
    expires_on: date | None = None

    def holds_on(self, on: date) -> bool:
        """Passed, evidenced by ``on`` and not expired at ``on``."""
        return (
            self.status is CheckStatus.PASSED
            and self.evidenced_on is not None
            and self.evidenced_on <= on
            and (self.expires_on is None or on <= self.expires_on)
        )

    def expired_on(self, on: date) -> bool:
        """Passed and evidenced by ``on``, but past its expiry at ``on``."""
        return (
            self.status is CheckStatus.PASSED
            and self.evidenced_on is not None
            and self.evidenced_on <= on
            and self.expires_on is not None
            and on > self.expires_on
        )


@dataclass(frozen=True, slots=True)
class Blacklisting:
    """A practitioner's blacklisting: it revokes their certificate and bars re-application
    for :data:`REAPPLY_BAR_YEARS` years from ``on``.

    ``cause`` holds the ids of the evaluations behind it (a verified serious complaint, as
    the grade engine reports it), so the record is traceable.

    Examples
    --------
    >>> Blacklisting(date(2024, 2, 29), "严重投诉属实").barred_until
    datetime.date(2027, 3, 1)
    """

    on: date
    reason: str
    cause: tuple[str, ...] = ()

    @property
    def barred_until(self) -> date:
        """The first day a new application is allowed again.

        29 February moves to 1 March in a year without it, so the bar is never shortened.
        A bar that would end after the calendar does (year 9999) ends on its last day.
        """
        year = self.on.year + REAPPLY_BAR_YEARS
        if year > date.max.year:
            return date.max
        try:
            return self.on.replace(year=year)
        except ValueError:  # 29 February into a common year
            return date(year, 3, 1)


class CertificateStatus(StrEnum):
    """The 安心服务证's status at a date; see :func:`certificate_status` for precedence."""

    VALID = "valid"
    EXPIRED = "expired"
    INCOMPLETE = "incomplete"
    REVOKED = "revoked"


@dataclass(frozen=True, slots=True)
class Practitioner:
    """A domestic-service practitioner as the registry (never the public) sees them.

    ``stars`` is the officially assigned rating (the grade engine's baseline), ``None``
    until one is assigned. ``company_id`` is the provider id of the employing company, or
    ``None`` for a freelancer. The certificate is the code printed on the card, the day it
    was issued and, when it was revoked for a reason other than a blacklisting, that day.
    Personal fields are excluded from ``repr``.
    """

    id: str
    name: str = field(repr=False)
    id_number: str = field(repr=False)
    phone: str = field(default="", repr=False)
    company_id: str | None = None
    stars: Stars | None = None
    real_name: CheckRecord = CheckRecord()
    pre_job_training: CheckRecord = CheckRecord()
    no_criminal_record: CheckRecord = CheckRecord()
    health_certificate: CheckRecord = CheckRecord()
    vocational_certificate: CheckRecord = CheckRecord()
    certificate_code: str | None = None
    certificate_issued_on: date | None = None
    certificate_revoked_on: date | None = None
    blacklisting: Blacklisting | None = None
    home_address: str = field(default="", repr=False)
    home_lon: float | None = field(default=None, repr=False)
    home_lat: float | None = field(default=None, repr=False)

    def __post_init__(self) -> None:
        problems = practitioner_problems(self)
        if problems:
            raise InvalidPractitionerError(f"practitioner {self.id!r}: " + "; ".join(problems))

    @property
    def checks(self) -> dict[Check, CheckRecord]:
        """The five checks by :class:`Check`, in the platform's order."""
        return {check: getattr(self, check.value) for check in Check}


def practitioner_problems(p: Practitioner) -> list[str]:
    """Every invariant ``p`` breaks, as messages an administrator can act on (empty when
    valid). Messages name fields, never their personal values."""
    problems: list[str] = []
    if not p.id.strip():
        problems.append("id is empty")
    if not p.name.strip():
        problems.append("name is empty")
    id_problem = id_number_problem(p.id_number)
    if id_problem:
        problems.append(id_problem)
    if not _PHONE_CHARS.match(p.phone):
        problems.append("phone has characters other than digits, +, -, ( ) and spaces")
    if p.company_id is not None and not p.company_id.strip():
        problems.append("company_id is empty (use None for a practitioner without a company)")
    if p.stars is not None and p.stars not in tuple(Stars):
        problems.append(f"stars must be 1 to 5, got {p.stars!r}")
    for check, record in p.checks.items():
        problems.extend(
            f"{check.label_zh} {check.value}: {m}" for m in _check_problems(check, record)
        )
    problems.extend(_certificate_problems(p))
    problems.extend(_home_problems(p))
    return problems


def _check_problems(check: Check, r: CheckRecord) -> list[str]:
    problems: list[str] = []
    if r.status is CheckStatus.PASSED:
        if r.evidenced_on is None:
            problems.append("a passed check needs the date of its evidence")
        if check in LAPSING_CHECKS and r.expires_on is None:
            problems.append("a passed check of this kind lapses and needs its expiry date")
    if r.status is CheckStatus.MISSING and (r.evidenced_on or r.expires_on):
        problems.append("a missing check has no evidence or expiry date")
    if r.evidenced_on and r.expires_on and r.expires_on < r.evidenced_on:
        problems.append(
            f"expires on {r.expires_on.isoformat()}, before its evidence "
            f"({r.evidenced_on.isoformat()})"
        )
    return problems


def _certificate_problems(p: Practitioner) -> list[str]:
    problems: list[str] = []
    if p.certificate_code is not None and not _CERTIFICATE_CODE.match(p.certificate_code):
        problems.append(
            f"certificate code {p.certificate_code!r} must be 4 to 32 upper-case letters, "
            "digits and '-', starting with a letter or digit"
        )
    if p.certificate_code is None and (p.certificate_issued_on or p.certificate_revoked_on):
        problems.append("certificate dates are given without a certificate code")
    issued, revoked = p.certificate_issued_on, p.certificate_revoked_on
    if issued and revoked and revoked < issued:
        problems.append(
            f"certificate revoked on {revoked.isoformat()}, before it was issued "
            f"({issued.isoformat()})"
        )
    b = p.blacklisting
    if b is not None:
        if not b.reason.strip():
            problems.append("a blacklisting needs its reason")
        # A certificate issued inside the bar would be valid on paper: refuse the record.
        if issued and b.on <= issued < b.barred_until:
            problems.append(
                f"certificate issued on {issued.isoformat()} while re-application was barred "
                f"(blacklisted on {b.on.isoformat()}, barred until {b.barred_until.isoformat()})"
            )
    return problems


def _home_problems(p: Practitioner) -> list[str]:
    if (p.home_lon is None) != (p.home_lat is None):
        return ["home location needs both home_lon and home_lat, or neither"]
    if p.home_lon is None or p.home_lat is None:
        return []
    problems = []
    if not (math.isfinite(p.home_lon) and -180.0 <= p.home_lon <= 180.0):
        problems.append("home_lon is outside -180..180")
    if not (math.isfinite(p.home_lat) and -90.0 <= p.home_lat <= 90.0):
        problems.append("home_lat is outside -90..90")
    return problems


def id_number_check_char(first17: str) -> str:
    """The check character of an 18-character resident ID number (GB 11643-1999).

    Examples
    --------
    >>> id_number_check_char("11010519491231002")  # the standard's own example
    'X'
    """
    if len(first17) != 17 or not first17.isascii() or not first17.isdigit():
        raise ValueError("need the first 17 digits of an ID number")
    return _ID_CHECK[sum(int(d) * w for d, w in zip(first17, _ID_WEIGHTS, strict=True)) % 11]


def id_number_problem(id_number: str) -> str | None:
    """Why ``id_number`` is not a valid 18-character ID number, or ``None``.

    Covers resident identity cards and the 2023 foreigners' permanent residence cards (same
    layout and check character). The message never repeats the number.

    Examples
    --------
    >>> id_number_problem("11010519491231002X") is None
    True
    >>> id_number_problem("110105194912310021")
    'ID number: the check character does not match the first 17 digits'
    """
    if len(id_number) != 18:
        return f"ID number must have 18 characters, has {len(id_number)}"
    first17, last = id_number[:17], id_number[17]
    if not (first17.isascii() and first17.isdigit()) or last not in "0123456789X":
        return "ID number must be 17 digits and a digit or upper-case X"
    try:
        date(int(first17[6:10]), int(first17[10:12]), int(first17[12:14]))
    except ValueError:
        return "ID number: digits 7 to 14 are not a date of birth"
    if id_number_check_char(first17) != last:
        return "ID number: the check character does not match the first 17 digits"
    return None


def certificate_status(practitioner: Practitioner, on: date) -> CertificateStatus:
    """The 安心服务证's status on ``on``, computed from the checks, the certificate record
    and the blacklist.

    When several apply, the first of these wins — the status names the problem that
    fixing the ones after it would still leave:

    1. ``revoked``: the certificate was revoked on or before ``on``, or a blacklisting dated
       on or before ``on`` struck it (one issued before the blacklisting; a certificate
       issued after the 3-year bar is a new one). Final: only a new certificate helps.
    2. ``incomplete``: no certificate issued by ``on``, or a check is missing, failed, or
       not yet evidenced on ``on``. Renewing an expired document would not be enough.
    3. ``expired``: every check was passed, but a lapsing one (the health certificate) is
       past its expiry on ``on``. Renewal alone restores it.
    4. ``valid``: otherwise.

    Examples
    --------
    >>> ok = CheckRecord(CheckStatus.PASSED, date(2025, 1, 6))
    >>> p = Practitioner("pr-1", "张三华", "11010519491231002X", company_id="co-1",
    ...     real_name=ok, pre_job_training=ok, no_criminal_record=ok, vocational_certificate=ok,
    ...     health_certificate=CheckRecord(CheckStatus.PASSED, date(2025, 1, 6), date(2026, 1, 5)),
    ...     certificate_code="GZ-2025-000123", certificate_issued_on=date(2025, 1, 10))
    >>> [certificate_status(p, d).value for d in (date(2025, 1, 9), date(2026, 1, 5),
    ...                                            date(2026, 1, 6))]
    ['incomplete', 'valid', 'expired']
    """
    if _revoked_on(practitioner, on):
        return CertificateStatus.REVOKED
    if not _issued_by(practitioner, on) or not all(
        r.holds_on(on) or r.expired_on(on) for r in practitioner.checks.values()
    ):
        return CertificateStatus.INCOMPLETE
    if any(r.expired_on(on) for r in practitioner.checks.values()):
        return CertificateStatus.EXPIRED
    return CertificateStatus.VALID


def certificate_findings(practitioner: Practitioner, on: date) -> tuple[str, ...]:
    """Every reason the certificate is not valid on ``on`` (empty when it is), for admins.

    Examples
    --------
    >>> p = Practitioner("pr-1", "张三华", "11010519491231002X")
    >>> certificate_findings(p, date(2026, 1, 1))[:2]
    ('no certificate issued', '实名认证 (real-name verification) is missing')
    """
    findings: list[str] = []
    b = practitioner.blacklisting
    if b is not None and b.on <= on and _struck_by(practitioner, b):
        findings.append(f"blacklisted on {b.on.isoformat()}: {b.reason}")
    revoked = practitioner.certificate_revoked_on
    if revoked is not None and revoked <= on:
        findings.append(f"certificate revoked on {revoked.isoformat()}")
    if practitioner.certificate_code is None:
        findings.append("no certificate issued")
    elif not _issued_by(practitioner, on):
        issued = practitioner.certificate_issued_on
        assert issued is not None  # _issued_by is False only for a later issue date
        findings.append(f"certificate not issued until {issued.isoformat()}")
    for check, r in practitioner.checks.items():
        what = f"{check.label_zh} ({check.label_en})"
        if r.status is not CheckStatus.PASSED:
            findings.append(f"{what} is {r.status}")
        elif r.evidenced_on is not None and r.evidenced_on > on:
            findings.append(f"{what} is not evidenced until {r.evidenced_on.isoformat()}")
        elif r.expired_on(on):
            assert r.expires_on is not None
            findings.append(f"{what} expired after {r.expires_on.isoformat()}")
    return tuple(findings)


def _issued_by(p: Practitioner, on: date) -> bool:
    if p.certificate_code is None:
        return False
    return p.certificate_issued_on is None or p.certificate_issued_on <= on


def _struck_by(p: Practitioner, b: Blacklisting) -> bool:
    # A blacklisting revokes the certificate held then; one issued afterwards (validation
    # guarantees: after the bar) is a new certificate it does not touch.
    return p.certificate_issued_on is None or p.certificate_issued_on <= b.on


def _revoked_on(p: Practitioner, on: date) -> bool:
    if p.certificate_revoked_on is not None and p.certificate_revoked_on <= on:
        return True
    b = p.blacklisting
    return b is not None and b.on <= on and _struck_by(p, b)


@dataclass(frozen=True, slots=True)
class CertifiedPeriod:
    """The days a certificate is ``valid``: from ``start`` through ``end`` (``None``: no
    end yet). See :func:`certified_period`."""

    start: date
    end: date | None = None

    def covers(self, on: date) -> bool:
        return self.start <= on and (self.end is None or on <= self.end)


def certified_period(practitioner: Practitioner) -> CertifiedPeriod | None:
    """The one unbroken period in which :func:`certificate_status` is ``valid`` (``None``
    when it never is).

    ``valid`` on a day means: a certificate issued by then, every check passed, evidenced
    by then and not past its expiry, and no revocation or striking blacklisting dated on or
    before it. Each condition holds on a run of days (from a date, or until one), so
    together they hold on one run of days: from the latest of the issue and evidence dates
    through the day before the earliest expiry, revocation or blacklisting. Stores keep
    this period beside a record, so a company's certified count at any date is a range
    test they can run for a quarter of a million practitioners at once.

    Examples
    --------
    >>> ok = CheckRecord(CheckStatus.PASSED, date(2025, 1, 6))
    >>> p = Practitioner("pr-1", "张三华", "11010519491231002X", company_id="co-1",
    ...     real_name=ok, pre_job_training=ok, no_criminal_record=ok, vocational_certificate=ok,
    ...     health_certificate=CheckRecord(CheckStatus.PASSED, date(2025, 1, 6), date(2026, 1, 5)),
    ...     certificate_code="GZ-2025-000123", certificate_issued_on=date(2025, 1, 10),
    ...     blacklisting=Blacklisting(date(2025, 7, 1), "严重投诉属实"))
    >>> certified_period(p)
    CertifiedPeriod(start=datetime.date(2025, 1, 10), end=datetime.date(2025, 6, 30))
    """
    if practitioner.certificate_code is None:
        return None
    starts: list[date] = []
    ends: list[date] = []
    for record in practitioner.checks.values():
        if record.status is not CheckStatus.PASSED or record.evidenced_on is None:
            return None
        starts.append(record.evidenced_on)
        if record.expires_on is not None:
            ends.append(record.expires_on)
    if practitioner.certificate_issued_on is not None:
        starts.append(practitioner.certificate_issued_on)
    # Revoked "on" a day: not valid that day, so valid through the day before.
    cut_offs = [practitioner.certificate_revoked_on]
    b = practitioner.blacklisting
    if b is not None and _struck_by(practitioner, b):
        cut_offs.append(b.on)
    for day in cut_offs:
        if day is not None:
            if day == date.min:
                return None
            ends.append(day - timedelta(days=1))
    start, end = max(starts), min(ends, default=None)
    if end is not None and end < start:
        return None
    return CertifiedPeriod(start, end)


def can_reapply(practitioner: Practitioner, on: date) -> bool:
    """Whether the blacklist allows an application for the certificate on ``on``.

    A blacklisting bars applications from its date until the same date
    :data:`REAPPLY_BAR_YEARS` years later (that day is allowed again).

    Examples
    --------
    >>> p = Practitioner("pr-1", "张三华", "11010519491231002X",
    ...                  blacklisting=Blacklisting(date(2026, 4, 1), "严重投诉属实"))
    >>> [can_reapply(p, d) for d in (date(2026, 3, 31), date(2029, 3, 31), date(2029, 4, 1))]
    [True, False, True]
    """
    b = practitioner.blacklisting
    return b is None or not b.on <= on < b.barred_until


def blacklist(
    practitioner: Practitioner, on: date, reason: str, cause: Iterable[str] = ()
) -> Practitioner:
    """``practitioner`` blacklisted on ``on``: the certificate is revoked from that day and
    re-application barred for :data:`REAPPLY_BAR_YEARS` years.

    The registry keeps one blacklisting per practitioner: an earlier one is replaced only by
    a later one (whose bar ends later); blacklisting again for an earlier date changes
    nothing, so applying the grade engine's report twice is harmless.

    Examples
    --------
    >>> p = Practitioner("pr-1", "张三华", "11010519491231002X")
    >>> blacklist(p, date(2026, 4, 1), "严重投诉属实", ["cp-9"]).blacklisting
    Blacklisting(on=datetime.date(2026, 4, 1), reason='严重投诉属实', cause=('cp-9',))
    """
    current = practitioner.blacklisting
    if current is not None and current.on >= on:
        return practitioner
    return dataclasses.replace(
        practitioner, blacklisting=Blacklisting(on, reason, tuple(sorted(set(cause))))
    )


def lift_blacklisting(practitioner: Practitioner, reversed_causes: Iterable[str]) -> Practitioner:
    """``practitioner`` without the blacklisting that upheld appeals reversed.

    A blacklisting is lifted only when it names its causes and every one of them is among
    ``reversed_causes`` (complaint ids an upheld appeal reversed); one entered without a
    cause (by hand, from a registry file) stays. Lifting restores nothing by itself: the
    certificate's status is computed, so it is ``valid`` again exactly when the checks and
    the certificate's own record still allow it (:func:`certificate_status`).

    Examples
    --------
    >>> p = Practitioner("pr-1", "张三华", "11010519491231002X",
    ...                  blacklisting=Blacklisting(date(2026, 4, 1), "严重投诉属实", ("cp-9",)))
    >>> lift_blacklisting(p, ["cp-9"]).blacklisting is None
    True
    >>> lift_blacklisting(p, ["cp-1"]) is p
    True
    """
    b = practitioner.blacklisting
    reversed_ids = set(reversed_causes)
    if b is None or not b.cause or not set(b.cause) <= reversed_ids:
        return practitioner
    return dataclasses.replace(practitioner, blacklisting=None)


# Two-character surnames (复姓), simplified and traditional, so that 欧阳娜娜 keeps 欧阳.
_COMPOUND_SURNAMES = frozenset(
    """
    欧阳 歐陽 司马 司馬 上官 诸葛 諸葛 东方 東方 皇甫 尉迟 尉遲 公孙 公孫 慕容 长孙 長孫
    宇文 司徒 令狐 夏侯 轩辕 軒轅 端木 独孤 獨孤 南宫 南宮 西门 西門 百里 呼延 澹台 澹臺
    公冶 宗政 濮阳 濮陽 太史 申屠 钟离 鍾離 鐘離 闻人 聞人 赫连 赫連 万俟 萬俟 司空 鲜于
    鮮于 闾丘 閭丘 子车 子車 亓官 仲孙 仲孫 拓跋 第五 羊舌 微生 梁丘 左丘 东郭 東郭 公羊
    谷梁 穀梁 乐正 樂正 漆雕 公良 巫马 巫馬 段干 東門 东门 太叔 公西 颛孙 顓孫 司寇
    """.split()  # noqa: SIM905 - a word list reads better than 90 quoted strings
)


def mask_name(name: str) -> str:
    """A name as the public may see it: enough to recognise, not enough to identify.

    * Names in scripts written without spaces (Chinese, also Korean and Japanese) keep the
      surname — a compound surname (复姓) whole — and the last character; every other
      character becomes ``*``. A two-character name keeps only the surname.
    * Such names written with a separator (transliterated minority names, 阿依古丽·买买提)
      keep their first and last characters and the separators.
    * Names in alphabetic scripts (Latin, Cyrillic, ...) keep each word's initial.
    * A single character is hidden entirely.

    Examples
    --------
    >>> [mask_name(n) for n in ("张三华", "张三", "欧阳娜娜", "司马光", "张三丰华")]
    ['张*华', '张*', '欧阳*娜', '司马*', '张**华']
    >>> [mask_name(n) for n in ("阿依古丽·买买提", "Maria Santos", "O'Neil", " 李 四 ", "王", "")]
    ['阿***·**提', 'M**** S*****', "O'N***", '李*', '*', '']
    """
    text = " ".join(unicodedata.normalize("NFC", name).split())
    if not text:
        return ""
    if not _written_without_spaces(text):
        return "".join(
            ch if not ch.isalnum() or i == 0 or not text[i - 1].isalnum() else "*"
            for i, ch in enumerate(text)
        )
    text = text.replace(" ", "")  # "李 四": stray spaces inside a Chinese name
    letters = [i for i, ch in enumerate(text) if ch.isalnum()]
    if len(letters) != len(text):  # separators: a transliteration such as 阿依古丽·买买提
        # Keep the first letter and, from three letters on, the last (as 张三 -> 张*).
        keep = {letters[0], letters[-1]} if len(letters) >= 3 else set(letters[:1])
        keep = keep if len(letters) >= 2 else set()  # a lone letter is hidden entirely
        return "".join(ch if i in keep or not ch.isalnum() else "*" for i, ch in enumerate(text))
    if len(text) == 1:
        return "*"
    surname = 2 if len(text) > 2 and text[:2] in _COMPOUND_SURNAMES else 1
    given = text[surname:]
    if len(given) == 1:
        return text[:surname] + "*"
    return text[:surname] + "*" * (len(given) - 1) + given[-1]


# Unicode name prefixes of the scripts written without spaces between name parts.
_UNSPACED_SCRIPTS = ("CJK", "HANGUL", "HIRAGANA", "KATAKANA")


def _written_without_spaces(text: str) -> bool:
    """Whether every letter of ``text`` is Han, Hangul or Kana (and there is one)."""
    letters = [ch for ch in text if ch.isalnum()]
    return bool(letters) and all(
        unicodedata.name(ch, "").startswith(_UNSPACED_SCRIPTS) for ch in letters
    )


@dataclass(frozen=True, slots=True)
class PublicCertificate:
    """What anyone may learn from a certificate code: whether it is valid on a date, the
    company it is held with, and a masked name — nothing else personal."""

    code: str
    status: CertificateStatus
    on: date
    company_id: str | None
    masked_name: str


def public_certificate(practitioner: Practitioner, on: date) -> PublicCertificate | None:
    """The public answer for ``practitioner``'s certificate on ``on`` (``None`` when they
    hold no certificate code, so there is nothing to look up).

    Examples
    --------
    >>> p = Practitioner("pr-1", "张三华", "11010519491231002X", company_id="co-1",
    ...                  certificate_code="GZ-2025-000123")
    >>> answer = public_certificate(p, date(2026, 3, 1))
    >>> answer.code, answer.status.value, answer.company_id, answer.masked_name
    ('GZ-2025-000123', 'incomplete', 'co-1', '张*华')
    """
    if practitioner.certificate_code is None:
        return None
    return PublicCertificate(
        code=practitioner.certificate_code,
        status=certificate_status(practitioner, on),
        on=on,
        company_id=practitioner.company_id,
        masked_name=mask_name(practitioner.name),
    )


@dataclass(frozen=True, slots=True)
class CompanyCounts:
    """A company's practitioners and how many hold a valid 安心服务证 — the only thing about
    practitioners a public answer carries."""

    practitioners: int
    certified: int


def company_counts(practitioners: Iterable[Practitioner], on: date) -> dict[str, CompanyCounts]:
    """Per company id: registered practitioners and valid certificate holders on ``on``.

    These are what a provider's public ``practitioners`` and ``certified_practitioners``
    are set to when the registry is loaded. Practitioners without a company count nowhere.

    Examples
    --------
    >>> people = [Practitioner("pr-1", "张三华", "11010519491231002X", company_id="co-1")]
    >>> company_counts(people, date(2026, 3, 1))
    {'co-1': CompanyCounts(practitioners=1, certified=0)}
    """
    totals: dict[str, list[int]] = {}
    for p in practitioners:
        if p.company_id is None:
            continue
        counts = totals.setdefault(p.company_id, [0, 0])
        counts[0] += 1
        counts[1] += certificate_status(p, on) is CertificateStatus.VALID
    return {cid: CompanyCounts(n, c) for cid, (n, c) in sorted(totals.items())}


def public_counts(listed: int, counts: CompanyCounts | None) -> tuple[int, int]:
    """A company's public ``(practitioners, certified_practitioners)`` from the number its
    own listing gives (``listed``) and its registry counts (``None``: nobody registered
    with it any more, so nobody certified).

    The certified count is the registry's: it knows each certificate's status, a listing
    does not. The registry need not hold everyone a company employs, so the practitioners
    count is the larger of the two.

    Examples
    --------
    >>> public_counts(10, CompanyCounts(practitioners=3, certified=2))
    (10, 2)
    >>> public_counts(1, CompanyCounts(practitioners=3, certified=0)), public_counts(4, None)
    ((3, 0), (4, 0))
    """
    if counts is None:
        return listed, 0
    return max(listed, counts.practitioners), counts.certified


def certified_count(practitioners: Iterable[Practitioner], company_id: str, on: date) -> int:
    """How many of ``company_id``'s practitioners hold a valid 安心服务证 on ``on``.

    Examples
    --------
    >>> certified_count([], "co-1", date(2026, 3, 1))
    0
    """
    return sum(
        1
        for p in practitioners
        if p.company_id == company_id and certificate_status(p, on) is CertificateStatus.VALID
    )
