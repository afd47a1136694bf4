"""Practitioners: the 安心服务证's computed status at chosen dates, the 3-year bar, name
masking, per-company counts and keeping personal data out of sight."""

from __future__ import annotations

import dataclasses
import unicodedata
from datetime import date, timedelta
from typing import Any

import pytest
from hypothesis import example, given
from hypothesis import strategies as st

from providers.practitioners import (
    LAPSING_CHECKS,
    Blacklisting,
    CertificateStatus,
    Check,
    CheckRecord,
    CheckStatus,
    CompanyCounts,
    InvalidPractitionerError,
    Practitioner,
    Stars,
    blacklist,
    can_reapply,
    certificate_findings,
    certificate_status,
    certified_count,
    certified_period,
    company_counts,
    id_number_check_char,
    id_number_problem,
    mask_name,
    public_certificate,
)

EVIDENCE = date(2025, 1, 6)  # every check evidenced on this day
ISSUED = date(2025, 1, 10)  # certificate issued on this day
HEALTH_EXPIRES = date(2026, 1, 5)  # last day the health certificate holds
PASSED = CheckRecord(CheckStatus.PASSED, EVIDENCE)
NAME, PHONE, HOME = "张三华", "13812345678", "海珠区新港中路 1 号"


def id_number(n: int) -> str:
    first17 = f"44010519900101{n:03d}"
    return first17 + id_number_check_char(first17)


def certified(n: int = 1, /, **fields: Any) -> Practitioner:
    """A practitioner whose certificate is valid from ISSUED through HEALTH_EXPIRES."""
    values: dict[str, Any] = {
        "name": NAME,
        "id_number": id_number(n),
        "phone": PHONE,
        "company_id": "co-1",
        "stars": Stars.FOUR,
        "real_name": PASSED,
        "pre_job_training": PASSED,
        "no_criminal_record": PASSED,
        "health_certificate": CheckRecord(CheckStatus.PASSED, EVIDENCE, HEALTH_EXPIRES),
        "vocational_certificate": PASSED,
        "certificate_code": f"GZAX-2025-{n:06d}",
        "certificate_issued_on": ISSUED,
        "home_address": HOME,
        "home_lon": 113.3245,
        "home_lat": 23.1064,
    }
    values.update(fields)
    return Practitioner(id=f"pr-{n:04d}", **values)


def status(p: Practitioner, on: date) -> CertificateStatus:
    return certificate_status(p, on)


def test_valid_only_between_issue_and_health_expiry() -> None:
    p = certified()
    assert status(p, ISSUED - timedelta(days=1)) is CertificateStatus.INCOMPLETE  # not issued
    assert status(p, ISSUED) is CertificateStatus.VALID
    assert status(p, HEALTH_EXPIRES) is CertificateStatus.VALID  # the expiry day still holds
    assert status(p, HEALTH_EXPIRES + timedelta(days=1)) is CertificateStatus.EXPIRED
    assert certificate_findings(p, ISSUED) == ()


@pytest.mark.parametrize("check", list(Check))
@pytest.mark.parametrize("missing_as", [CheckStatus.MISSING, CheckStatus.FAILED])
def test_each_check_missing_or_failed_makes_it_incomplete(
    check: Check, missing_as: CheckStatus
) -> None:
    record = (
        CheckRecord(missing_as)
        if missing_as is CheckStatus.MISSING
        else CheckRecord(missing_as, EVIDENCE)
    )
    p = certified(**{check.value: record})
    for on in (ISSUED, date(2025, 6, 1), HEALTH_EXPIRES):
        assert status(p, on) is CertificateStatus.INCOMPLETE
    assert certificate_findings(p, ISSUED) == (
        f"{check.label_zh} ({check.label_en}) is {missing_as.value}",
    )


@pytest.mark.parametrize("check", list(Check))
def test_a_check_evidenced_later_is_incomplete_until_then(check: Check) -> None:
    later = date(2025, 3, 1)
    expiry = HEALTH_EXPIRES if check is Check.HEALTH_CERTIFICATE else None
    p = certified(**{check.value: CheckRecord(CheckStatus.PASSED, later, expiry)})
    assert status(p, later - timedelta(days=1)) is CertificateStatus.INCOMPLETE
    assert certificate_findings(p, later - timedelta(days=1)) == (
        f"{check.label_zh} ({check.label_en}) is not evidenced until 2025-03-01",
    )
    assert status(p, later) is CertificateStatus.VALID


def test_renewed_health_certificate_restores_validity() -> None:
    p = certified()
    lapsed = HEALTH_EXPIRES + timedelta(days=20)
    assert status(p, lapsed) is CertificateStatus.EXPIRED
    assert certificate_findings(p, lapsed) == (
        "健康证 (health certificate) expired after 2026-01-05",
    )
    renewed = dataclasses.replace(
        p,
        health_certificate=CheckRecord(CheckStatus.PASSED, lapsed, date(2027, 1, 24)),
    )
    assert status(renewed, lapsed) is CertificateStatus.VALID
    assert status(renewed, lapsed - timedelta(days=1)) is CertificateStatus.INCOMPLETE  # gap


def test_any_check_with_an_expiry_can_expire() -> None:
    proof = CheckRecord(CheckStatus.PASSED, EVIDENCE, date(2025, 7, 5))  # valid six months
    p = certified(no_criminal_record=proof)
    assert status(p, date(2025, 7, 5)) is CertificateStatus.VALID
    assert status(p, date(2025, 7, 6)) is CertificateStatus.EXPIRED


def test_blacklisting_revokes_from_its_date() -> None:
    p = certified(blacklisting=Blacklisting(date(2025, 6, 1), "严重投诉属实", ("cp-9",)))
    assert status(p, date(2025, 5, 31)) is CertificateStatus.VALID
    assert status(p, date(2025, 6, 1)) is CertificateStatus.REVOKED
    # Still revoked after the bar ends: only a new certificate helps.
    assert status(p, date(2030, 1, 1)) is CertificateStatus.REVOKED
    assert certificate_findings(p, date(2025, 6, 1))[0] == "blacklisted on 2025-06-01: 严重投诉属实"


def test_precedence_revoked_then_incomplete_then_expired() -> None:
    after_expiry = HEALTH_EXPIRES + timedelta(days=1)
    expired_and_missing = certified(vocational_certificate=CheckRecord())
    assert status(expired_and_missing, after_expiry) is CertificateStatus.INCOMPLETE
    everything = certified(
        vocational_certificate=CheckRecord(),
        blacklisting=Blacklisting(date(2025, 6, 1), "严重投诉属实"),
    )
    assert status(everything, after_expiry) is CertificateStatus.REVOKED
    assert len(certificate_findings(everything, after_expiry)) == 3


def test_certificate_revoked_without_blacklisting() -> None:
    p = certified(certificate_revoked_on=date(2025, 8, 1))
    assert status(p, date(2025, 7, 31)) is CertificateStatus.VALID
    assert status(p, date(2025, 8, 1)) is CertificateStatus.REVOKED
    assert can_reapply(p, date(2025, 8, 1))  # revocation alone bars nothing


def test_no_certificate_code_is_incomplete_even_with_every_check() -> None:
    p = certified(certificate_code=None, certificate_issued_on=None)
    assert status(p, ISSUED) is CertificateStatus.INCOMPLETE
    assert certificate_findings(p, ISSUED) == ("no certificate issued",)
    assert public_certificate(p, ISSUED) is None


def test_three_year_bar() -> None:
    p = certified(blacklisting=Blacklisting(date(2025, 6, 1), "严重投诉属实"))
    assert can_reapply(p, date(2025, 5, 31))
    assert not can_reapply(p, date(2025, 6, 1))
    assert not can_reapply(p, date(2028, 5, 31))
    assert can_reapply(p, date(2028, 6, 1))
    assert can_reapply(certified(), date(2025, 6, 1))


def test_bar_from_a_leap_day_is_never_shortened() -> None:
    b = Blacklisting(date(2024, 2, 29), "严重投诉属实")
    assert b.barred_until == date(2027, 3, 1)
    assert Blacklisting(date(2024, 2, 28), "x").barred_until == date(2027, 2, 28)
    # A bar running past the calendar (a typo'd year 9998) ends with it, never crashes.
    assert Blacklisting(date(9998, 6, 1), "x").barred_until == date.max


def test_a_new_certificate_after_the_bar_is_valid_but_not_during_it() -> None:
    b = Blacklisting(date(2025, 6, 1), "严重投诉属实")
    renewed = certified(
        blacklisting=b,
        certificate_code="GZAX-2028-000001",
        certificate_issued_on=date(2028, 6, 1),
        health_certificate=CheckRecord(CheckStatus.PASSED, date(2028, 5, 20), date(2029, 5, 19)),
    )
    assert status(renewed, date(2028, 6, 1)) is CertificateStatus.VALID
    with pytest.raises(InvalidPractitionerError, match="while re-application was barred"):
        dataclasses.replace(renewed, certificate_issued_on=date(2028, 5, 31))


def test_blacklist_keeps_the_latest_record_and_is_idempotent() -> None:
    p = blacklist(certified(), date(2025, 6, 1), "严重投诉属实", ["cp-9", "cp-9"])
    assert p.blacklisting == Blacklisting(date(2025, 6, 1), "严重投诉属实", ("cp-9",))
    assert blacklist(p, date(2025, 6, 1), "again", ["cp-9"]) is p
    assert blacklist(p, date(2025, 1, 1), "older", ["cp-1"]) is p
    later = blacklist(p, date(2026, 1, 1), "再次严重投诉", ["cp-12"])
    assert later.blacklisting is not None and later.blacklisting.on == date(2026, 1, 1)


@pytest.mark.parametrize(
    ("name", "masked"),
    [
        ("张三华", "张*华"),
        ("张三", "张*"),
        ("王", "*"),
        ("阿·买", "阿·*"),
        ("·王·", "·*·"),
        ("J. Smith", "J. S****"),
        ("", ""),
        ("   ", ""),
        ("张三丰华", "张**华"),
        ("欧阳娜娜", "欧阳*娜"),
        ("欧阳修", "欧阳*"),
        ("欧阳", "欧*"),  # two characters: surname 欧, given name 阳
        ("司马相如", "司马*如"),
        ("諸葛亮", "諸葛*"),
        ("阿依古丽·买买提", "阿***·**提"),
        ("努尔·白克力", "努*·**力"),
        ("Maria Santos", "M**** S*****"),
        ("maria  de la cruz", "m**** d* l* c***"),
        ("Mary-Jane O'Neil", "M***-J*** O'N***"),
        ("Анна", "А***"),  # Cyrillic: no spaces, not Latin: kept as a single given name
        (" 李 四 ", "李*"),
        ("김민수", "김*수"),
    ],
)
def test_mask_name(name: str, masked: str) -> None:
    assert mask_name(name) == masked


@given(st.text(max_size=12))
@example("\ufb2a")  # שׁ: one code point that NFC turns into two (letter + point)
def test_masking_always_hides_part_of_a_name(name: str) -> None:
    masked = mask_name(name)
    # Compared with the name as mask_name reads it: NFC, whose canonical decomposition of
    # a few precomposed letters (U+FB2A …) makes a name longer without showing more.
    normalised = " ".join(unicodedata.normalize("NFC", name).split())
    letters = sum(ch.isalnum() for ch in normalised)
    shown = sum(ch.isalnum() for ch in masked)
    runs = "".join(ch if ch.isalnum() else " " for ch in normalised).split()
    assert len(masked) <= len(normalised)
    if any(len(run) >= 2 for run in runs):  # more than bare initials
        assert shown < letters


def test_company_counts_and_certified_count() -> None:
    on = date(2025, 6, 1)
    people = [
        certified(1),
        certified(2),
        certified(3, no_criminal_record=CheckRecord()),
        certified(4, blacklisting=Blacklisting(date(2025, 5, 1), "严重投诉属实")),
        certified(5, company_id="co-2"),
        certified(6, company_id=None),
        certified(
            7, health_certificate=CheckRecord(CheckStatus.PASSED, EVIDENCE, date(2025, 5, 31))
        ),
    ]
    assert company_counts(people, on) == {
        "co-1": CompanyCounts(practitioners=5, certified=2),
        "co-2": CompanyCounts(practitioners=1, certified=1),
    }
    assert certified_count(people, "co-1", on) == 2
    assert certified_count(people, "co-1", date(2024, 1, 1)) == 0  # before anything
    assert certified_count(people, "co-9", on) == 0
    # What a provider's public fields become: a share the ranking can use.
    assert company_counts(people, on)["co-1"].certified / 5 == 0.4


def test_public_certificate_carries_nothing_personal() -> None:
    p = certified()
    answer = public_certificate(p, ISSUED)
    assert answer is not None
    assert (answer.code, answer.status, answer.company_id, answer.masked_name) == (
        "GZAX-2025-000001",
        CertificateStatus.VALID,
        "co-1",
        "张*华",
    )
    shown = repr(answer)
    for secret in (NAME, p.id_number, PHONE, HOME, "113.3245", "23.1064", p.id):
        assert secret not in shown


def test_repr_and_errors_never_show_personal_data() -> None:
    p = certified()
    shown = repr(p)
    for secret in (NAME, p.id_number, PHONE, HOME, "113.3245"):
        assert secret not in shown
    assert "pr-0001" in shown and "GZAX-2025-000001" in shown
    wrong_check = p.id_number[:-1] + ("0" if p.id_number[-1] != "0" else "1")
    with pytest.raises(InvalidPractitionerError) as err:
        dataclasses.replace(p, id_number=wrong_check, phone="call 13812345678")
    assert wrong_check not in str(err.value) and "13812345678" not in str(err.value)
    assert "check character" in str(err.value) and "phone" in str(err.value)


@pytest.mark.parametrize(
    ("fields", "message"),
    [
        ({"name": " "}, "name is empty"),
        ({"company_id": ""}, "company_id is empty"),
        (
            {"real_name": CheckRecord(CheckStatus.PASSED)},
            "实名认证 real_name: a passed check needs the date of its evidence",
        ),
        (
            {"health_certificate": CheckRecord(CheckStatus.PASSED, EVIDENCE)},
            "健康证 health_certificate: a passed check of this kind lapses and needs its expiry",
        ),
        (
            {"health_certificate": CheckRecord(CheckStatus.PASSED, EVIDENCE, date(2024, 1, 1))},
            "expires on 2024-01-01, before its evidence (2025-01-06)",
        ),
        (
            {"pre_job_training": CheckRecord(CheckStatus.MISSING, EVIDENCE)},
            "a missing check has no evidence or expiry date",
        ),
        ({"certificate_code": "gz 1"}, "certificate code 'gz 1' must be 4 to 32"),
        (
            {"certificate_code": None},
            "certificate dates are given without a certificate code",
        ),
        (
            {"certificate_revoked_on": date(2025, 1, 1)},
            "revoked on 2025-01-01, before it was issued",
        ),
        ({"home_lat": None}, "needs both home_lon and home_lat"),
        ({"home_lon": 200.0}, "home_lon is outside -180..180"),
        ({"blacklisting": Blacklisting(date(2026, 1, 1), " ")}, "a blacklisting needs its reason"),
    ],
)
def test_invariants(fields: dict[str, Any], message: str) -> None:
    with pytest.raises(InvalidPractitionerError) as err:
        certified(**fields)
    assert message in str(err.value)
    assert str(err.value).startswith("practitioner 'pr-0001': ")


@pytest.mark.parametrize(
    ("value", "problem"),
    [
        ("11010519491231002X", None),
        ("11010519491231002x", "17 digits and a digit or upper-case X"),
        ("1101051949123100", "must have 18 characters, has 16"),
        ("110105194913310021", "not a date of birth"),
        ("110105194912310021", "the check character does not match"),
    ],
)
def test_id_number_problem(value: str, problem: str | None) -> None:
    found = id_number_problem(value)
    if problem is None:
        assert found is None
    else:
        assert found is not None and problem in found and value not in found


def test_checks_are_listed_in_the_platforms_order() -> None:
    assert [c.label_zh for c in certified().checks] == [
        "实名认证",
        "岗前培训考核",
        "无犯罪记录证明",
        "健康证",
        "职业培训证书",
    ]
    assert Stars.FIVE.rank == 5 and Stars.FIVE > Stars.ONE


# Days as offsets from this one: small ranges make coinciding dates (edges) likely, and
# evidence early in the range with mostly passed checks makes valid periods common.
_DAY0 = date(2025, 1, 1)
_days = st.integers(0, 40).map(lambda n: _DAY0 + timedelta(days=n))
_records = st.builds(
    lambda status, evidenced, length: CheckRecord(
        status,
        None if status is CheckStatus.MISSING else _DAY0 + timedelta(evidenced),
        None
        if status is CheckStatus.MISSING or length is None
        else _DAY0 + timedelta(evidenced + length),
    ),
    st.sampled_from([*[CheckStatus.PASSED] * 20, CheckStatus.MISSING, CheckStatus.FAILED]),
    st.integers(0, 12),
    st.none() | st.integers(0, 40),
)

# A passed health certificate without its expiry is refused: do not generate one.
_lapsing_records = _records.filter(
    lambda r: r.status is not CheckStatus.PASSED or r.expires_on is not None
)


@given(
    checks=st.fixed_dictionaries(
        {c.value: _lapsing_records if c in LAPSING_CHECKS else _records for c in Check}
    ),
    coded=st.sampled_from([True, True, True, False]),
    issued=st.none() | _days,
    revoked=st.none() | st.none() | _days,
    blacklisted=st.none() | st.none() | _days,
)
def test_the_certified_period_is_exactly_the_days_the_status_is_valid(
    checks: dict[str, CheckRecord],
    coded: bool,
    issued: date | None,
    revoked: date | None,
    blacklisted: date | None,
) -> None:
    try:
        p = certified(
            **checks,
            certificate_code="GZ-2025-000001" if coded else None,
            certificate_issued_on=issued if coded else None,
            certificate_revoked_on=revoked if coded else None,
            blacklisting=None if blacklisted is None else Blacklisting(blacklisted, "严重投诉属实"),
        )
    except InvalidPractitionerError:
        return  # records the registry would refuse
    period = certified_period(p)
    for n in range(-1, 43):
        on = _DAY0 + timedelta(days=n)
        valid = certificate_status(p, on) is CertificateStatus.VALID
        assert valid == (period is not None and period.covers(on)), (on, period)
