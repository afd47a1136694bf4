"""Issue 19: the five-level severity scale, appeals, plain-words explanations, notices and
the re-grading migration — scripted histories with every grade and audit record, the grade
book contract on both stores, and the HTTP and CLI surfaces."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from pydantic import SecretStr

from api.app import create_app
from ingest.evaluations import parse_severity
from jzmap.application.appeals import is_notable, notices
from jzmap.application.regrade import REGRADE_CAUSE, regrade
from jzmap.presentation.explanations import explain
from jzmap.settings import Settings
from providers.evaluations import (
    CHINA_TZ,
    Appeal,
    AppealScope,
    AppealStatus,
    Complaint,
    ComplaintStatus,
    GradeEvent,
    InvalidEvaluationError,
    Severity,
    Subject,
)
from providers.gradebook import Baseline, GradeBook, Outcome
from providers.grading import GradeChange, apply, initial_state
from providers.model import Grade
from providers.practitioners import Stars
from providers.stores import Backend
from tests.helpers import CANTON_TOWER, company
from tests.test_practitioners_api import person

CO = Subject.company("co-914401010000000017")
PR = Subject.practitioner("pr-0001")
SINCE = datetime(2026, 1, 1, tzinfo=CHINA_TZ)
A4, A3, A2 = Grade.A4, Grade.A3, Grade.A2
FIVE, FOUR, ONE = Stars.FIVE, Stars.FOUR, Stars.ONE


def t(month: int, day: int, hour: int = 10) -> datetime:
    return datetime(2026, month, day, hour, tzinfo=CHINA_TZ)


def verified(id_: str, resolved: datetime, severity: Severity, subject: Subject = PR) -> Complaint:
    filed = resolved - timedelta(days=5)
    return Complaint(id_, subject, severity, filed, ComplaintStatus.VERIFIED, resolved, "私密")


def appeal(
    id_: str,
    complaint_id: str,
    filed: datetime,
    scope: AppealScope = AppealScope.COMPLAINT,
    subject: Subject = PR,
) -> Appeal:
    return Appeal(id_, subject, complaint_id, filed, scope, grounds="当日不在场")


def decided(a: Appeal, status: AppealStatus, at: datetime) -> Appeal:
    return a.decide(status, at, "ops-li", "监控记录核实")


def change(
    at: datetime,
    cause: Sequence[str],
    grades: tuple[Grade | Stars, Grade | Stars],
    scores: tuple[float, float],
    *,
    subject: Subject = PR,
    blacklisted: bool = False,
) -> GradeChange:
    return GradeChange(subject, at, tuple(cause), *grades, *scores, blacklisted=blacklisted)


# -- the scale: each level its own deductions; only 严重 and 特别严重 blacklist -------------


@pytest.mark.parametrize(
    ("severity", "score", "grade"),
    [
        (Severity.SLIGHT, 84.0, A4),  # 0.5 管理能力 + 0.5 公共信用
        (Severity.MINOR, 83.0, A4),  # 1 + 1
        (Severity.FAIRLY_SERIOUS, 79.0, A3),  # 2 + 4
        (Severity.SERIOUS, 76.0, A3),  # 3 + 6
        (Severity.GRAVE, 68.0, A2),  # 5 + 12
    ],
)
def test_each_severity_deducts_its_own_points_from_a_company(
    severity: Severity, score: float, grade: Grade
) -> None:
    state, changes = apply(initial_state(CO, A4, SINCE), [verified("cp-1", t(3, 9), severity, CO)])
    assert list(changes) == [change(t(3, 9), ["cp-1"], (A4, grade), (85.0, score), subject=CO)]
    assert state.company_grade is grade and not state.blacklisted


@pytest.mark.parametrize(
    ("severity", "score", "grade", "blacklisted"),
    [
        (Severity.SLIGHT, 92.5, FIVE, False),  # 0.5 服务能力 + 2 信用记录
        (Severity.MINOR, 90.0, FIVE, False),  # 1 + 4
        (Severity.FAIRLY_SERIOUS, 85.0, FOUR, False),  # 3 + 7: deducts, never blacklists
        (Severity.SERIOUS, 80.0, ONE, True),  # 5 + 10, and the 3-year blacklist
        (Severity.GRAVE, 66.0, ONE, True),  # 10 + 20 (信用记录 stops at 0: 19)
    ],
)
def test_each_severity_against_a_practitioner_and_only_serious_and_grave_blacklist(
    severity: Severity, score: float, grade: Stars, blacklisted: bool
) -> None:
    state, changes = apply(initial_state(PR, FIVE, SINCE), [verified("cp-1", t(3, 9), severity)])
    assert list(changes) == [
        change(t(3, 9), ["cp-1"], (FIVE, grade), (95.0, score), blacklisted=blacklisted)
    ]
    assert state.blacklisted is blacklisted
    assert state.blacklist_cause == ("cp-1" if blacklisted else None)


def test_the_feed_words_each_name_one_level_and_unknown_words_name_the_accepted_ones() -> None:
    assert {w: parse_severity(w)[0] for w in ("轻微", "一般", "较重", "严重", "特别严重")} == {
        "轻微": Severity.SLIGHT,
        "一般": Severity.MINOR,
        "较重": Severity.FAIRLY_SERIOUS,
        "严重": Severity.SERIOUS,
        "特别严重": Severity.GRAVE,
    }
    value, problem = parse_severity("很严重")
    assert value is None and problem is not None
    for word in ("轻微", "一般", "较重", "严重", "特别严重"):
        assert word in problem


# -- appeals through the engine ------------------------------------------------------------


def test_an_upheld_appeal_after_a_blacklisting_reverses_it_through_the_engine() -> None:
    case = verified("cp-1", t(3, 9), Severity.SERIOUS)
    filed = appeal("ap-1", "cp-1", t(3, 15))
    start = initial_state(PR, FIVE, SINCE)
    state, changes = apply(start, [case, filed])
    # Filing changes nothing: the complaint stands until a decision.
    assert list(changes) == [change(t(3, 9), ["cp-1"], (FIVE, ONE), (95.0, 80.0), blacklisted=True)]
    state, changes = apply(state, [decided(filed, AppealStatus.UPHELD, t(4, 2))])
    assert list(changes) == [change(t(4, 2), ["ap-1"], (ONE, FIVE), (80.0, 95.0))]
    assert not state.blacklisted and state.reversals == (("cp-1", AppealScope.COMPLAINT),)
    # Replaying the stored records gives the same state in one go.
    upheld = decided(filed, AppealStatus.UPHELD, t(4, 2))
    assert apply(start, [upheld, case])[0] == state


def test_a_dismissed_appeal_changes_nothing_and_the_bar_keeps_its_date() -> None:
    case = verified("cp-1", t(3, 9), Severity.SERIOUS)
    dismissed = decided(appeal("ap-1", "cp-1", t(3, 15)), AppealStatus.DISMISSED, t(4, 2))
    state, changes = apply(initial_state(PR, FIVE, SINCE), [case, dismissed])
    assert list(changes) == [change(t(3, 9), ["cp-1"], (FIVE, ONE), (95.0, 80.0), blacklisted=True)]
    assert (state.blacklisted_at, state.blacklist_cause) == (t(3, 9), "cp-1")
    assert state.reversals == ()


def test_an_appeal_of_the_blacklisting_only_keeps_the_deductions() -> None:
    case = verified("cp-1", t(3, 9), Severity.SERIOUS)
    upheld = decided(
        appeal("ap-1", "cp-1", t(3, 15), AppealScope.BLACKLISTING), AppealStatus.UPHELD, t(4, 2)
    )
    state, changes = apply(initial_state(PR, FIVE, SINCE), [case, upheld])
    assert list(changes) == [
        change(t(3, 9), ["cp-1"], (FIVE, ONE), (95.0, 80.0), blacklisted=True),
        change(t(4, 2), ["ap-1"], (ONE, FOUR), (80.0, 80.0)),  # the score is the score
    ]
    assert not state.blacklisted


def test_the_bar_runs_from_the_decision_that_stands() -> None:
    first = verified("cp-1", t(3, 9), Severity.SERIOUS)
    second = verified("cp-2", t(3, 20), Severity.SERIOUS)
    upheld = decided(appeal("ap-1", "cp-1", t(3, 25)), AppealStatus.UPHELD, t(4, 2))
    state, changes = apply(initial_state(PR, FIVE, SINCE), [first, second, upheld])
    assert list(changes) == [
        change(t(3, 9), ["cp-1"], (FIVE, ONE), (95.0, 80.0), blacklisted=True),
        # 5 服务能力 + 9 信用记录 (the 10 points stop at 0)
        change(t(3, 20), ["cp-2"], (ONE, ONE), (80.0, 66.0)),
        # cp-1 reversed: cp-2's 15 points alone; the blacklisting now rests on cp-2.
        change(t(4, 2), ["ap-1"], (ONE, ONE), (66.0, 80.0)),
    ]
    assert (state.blacklisted_at, state.blacklist_cause) == (t(3, 20), "cp-2")


def test_an_appeal_is_decided_once_and_needs_who_when_and_why() -> None:
    filed = appeal("ap-1", "cp-1", t(3, 15))
    with pytest.raises(InvalidEvaluationError, match="decided_by"):
        filed.decide(AppealStatus.UPHELD, t(4, 2), " ", "理由")
    with pytest.raises(InvalidEvaluationError, match="before filed_at"):
        filed.decide(AppealStatus.DISMISSED, t(3, 1), "ops-li", "理由")
    with pytest.raises(InvalidEvaluationError, match="a decision is final"):
        decided(filed, AppealStatus.UPHELD, t(4, 2)).decide(
            AppealStatus.DISMISSED, t(4, 3), "ops-li", "理由"
        )


# -- explanations --------------------------------------------------------------------------


def test_explanations_say_what_happened_in_plain_words_without_text_or_names() -> None:
    case = verified("cp-1", t(3, 9), Severity.FAIRLY_SERIOUS, CO)
    upheld = decided(appeal("ap-1", "cp-1", t(3, 15), subject=CO), AppealStatus.UPHELD, t(4, 2))
    _, changes = apply(initial_state(CO, A4, SINCE), [case, upheld])
    events: dict[str, GradeEvent] = {"cp-1": case, "ap-1": upheld}
    first, second = (explain(c, events, {"cp-1": [upheld]}) for c in changes)
    assert first.zh == (
        "2026-03-09 投诉属实（较重）：管理能力 −2 分、公共信用 −4 分（申诉成立，已撤销）；"
        "等级 4A → 3A，动态分 85 → 79。"
    )
    assert first.en == (
        "2026-03-09 verified complaint (fairly serious): −2 points management, −4 points "
        "public credit (appeal upheld: reversed); grade 4A → 3A, score 85 → 79."
    )
    assert first.appealed is AppealStatus.UPHELD
    assert second.zh == (
        "2026-04-02 申诉成立：撤销 2026-03-09 属实投诉的扣分（+6 分）；等级 3A → 4A，动态分 79 → 85。"
    )
    for text in (first.zh, first.en, second.zh, second.en):
        assert "私密" not in text and "当日不在场" not in text and "ops-li" not in text


# -- the grade book, both stores -----------------------------------------------------------


def test_the_grade_book_records_appeals_and_refuses_those_without_a_verified_complaint(
    gradebook: GradeBook,
) -> None:
    base = Baseline(FIVE, SINCE)
    case = verified("cp-1", t(3, 9), Severity.SERIOUS)
    filed_only = Complaint("cp-2", PR, Severity.MINOR, t(3, 1))
    rec = gradebook.record(
        PR,
        base,
        [
            case,
            filed_only,
            appeal("ap-0", "cp-404", t(3, 15)),
            appeal("ap-2", "cp-2", t(3, 15)),
            appeal("ap-early", "cp-1", t(3, 8)),
        ],
    )
    assert [o.outcome for o in rec.outcomes] == [
        Outcome.ACCEPTED,
        Outcome.ACCEPTED,
        Outcome.REJECTED,
        Outcome.REJECTED,
        Outcome.REJECTED,
    ]
    assert "not recorded" in rec.outcomes[2].reason and "filed" in rec.outcomes[3].reason
    assert "before the complaint was verified" in rec.outcomes[4].reason
    company_case = verified("cp-co", t(3, 9), Severity.SERIOUS, CO)
    gradebook.record(CO, Baseline(A4, SINCE), [company_case])
    refused = gradebook.record(
        CO, Baseline(A4, SINCE), [appeal("ap-co", "cp-co", t(3, 10), AppealScope.BLACKLISTING, CO)]
    )
    assert "blacklists no one" in refused.outcomes[0].reason

    filed = appeal("ap-1", "cp-1", t(3, 15))
    assert gradebook.record(PR, base, [filed]).changes == ()
    upheld = decided(filed, AppealStatus.UPHELD, t(4, 2))
    rec = gradebook.record(PR, base, [upheld])
    assert rec.outcomes[0].outcome is Outcome.ACCEPTED
    assert rec.changes == (change(t(4, 2), ["ap-1"], (ONE, FIVE), (80.0, 95.0)),)
    # A decision is final: the same again is a duplicate, another one is refused.
    again = gradebook.record(PR, base, [upheld, decided(filed, AppealStatus.DISMISSED, t(4, 3))])
    assert [o.outcome for o in again.outcomes] == [Outcome.DUPLICATE, Outcome.REJECTED]
    assert gradebook.history(PR) == [
        change(t(3, 9), ["cp-1"], (FIVE, ONE), (95.0, 80.0), blacklisted=True),
        change(t(4, 2), ["ap-1"], (ONE, FIVE), (80.0, 95.0)),
    ]
    current = gradebook.current(PR)
    assert current is not None and current.blacklisted_at is None and current.grade is FIVE
    assert gradebook.find(["ap-1", "cp-1", "nope"]) == {"ap-1": upheld, "cp-1": case}
    assert [e.id for e in gradebook.events(PR)] == ["ap-1", "cp-1", "cp-2"]
    since = gradebook.changes_since(t(3, 10))
    assert [(c.subject, c.cause) for c in since] == [(PR, ("ap-1",))]
    picked = notices(gradebook, t(4, 5), timedelta(days=30))
    # The blacklisting (since reversed: still listed, for the record) and the 4A -> 3A drop;
    # the appeal's change is a rise.
    assert [(n.change.cause, n.kind) for n in picked] == [
        (("cp-1",), "blacklisting"),
        (("cp-co",), "grade_drop"),
    ]
    assert picked[0].review_by == t(3, 9) + timedelta(days=30)
    assert picked[0].triggers == (case,)
    assert notices(gradebook, t(4, 9, 11), timedelta(days=30)) == []
    assert not is_notable(since[0])


def test_the_regrading_migration_rereads_severities_and_audits_every_grade_it_changes(
    backend: Backend, tmp_path: Path
) -> None:
    gradebook = backend.gradebook
    base = Baseline(FIVE, SINCE)
    # Recorded under the three-level scale: 较重 was read as serious and blacklisted.
    gradebook.record(PR, base, [verified("cp-1", t(3, 9), Severity.SERIOUS)])
    other = Subject.practitioner("pr-0002")
    gradebook.record(other, base, [verified("cp-9", t(3, 9), Severity.SERIOUS, other)])
    log = tmp_path / "complaints.csv"
    log.write_text(
        "编号,类型,对象类型,对象编号,时间,严重程度,状态,处理时间\n"
        "cp-1,投诉,从业人员,pr-0001,2026-03-04,较重,属实,2026-03-09T10:00+08:00\n"
        "cp-9,投诉,从业人员,pr-0002,2026-03-04,严重,属实,2026-03-09T10:00+08:00\n"
        "cp-x,投诉,从业人员,pr-0003,2026-03-04,很严重,属实,2026-03-09T10:00+08:00\n",
        encoding="utf-8",
    )
    now = t(12, 1)
    report = regrade(gradebook, backend.store, backend.registry, files=[log], at=now)
    assert report.complaints_read == 2 and len(report.rejects) == 1
    assert "较重" in report.rejects[0].problems[0].reason
    assert report.changes == [
        change(now, [REGRADE_CAUSE], (ONE, FOUR), (80.0, 85.0)),  # 3 + 7 instead of 5 + 10
    ]
    assert gradebook.history(PR)[-1] == report.changes[0]
    stored = gradebook.find(["cp-1"])["cp-1"]
    assert isinstance(stored, Complaint) and stored.severity is Severity.FAIRLY_SERIOUS
    current = gradebook.current(other)
    assert current is not None and current.blacklist_cause == "cp-9"  # 严重 stands
    # Run again: nothing to correct, nothing differs.
    assert regrade(gradebook, backend.store, backend.registry, files=[log], at=now).changes == []


# -- over HTTP, with the registry and the public outputs -----------------------------------

TOKEN = "appeals-admin-token"
AUTH = {"Authorization": f"Bearer {TOKEN}"}
X = company(1, *CANTON_TOWER, grade=Grade.A3)


@pytest.fixture
def client(backend: Backend) -> Iterator[TestClient]:
    backend.store.upsert([X])
    settings = Settings(admin_token=SecretStr(TOKEN))
    with TestClient(create_app(settings, backend=backend)) as c:
        yield c


def _complaint(id_: str, subject: dict[str, str], severity: str) -> dict[str, Any]:
    return {
        "type": "complaint",
        "id": id_,
        "subject": subject,
        "severity": severity,
        "filed_at": "2026-03-04T10:00:00+08:00",
        "status": "verified",
        "resolved_at": "2026-03-09T10:00:00+08:00",
        "text": "投诉人王女士，电话13812345678",
    }


def test_appeal_over_http_restores_the_certificate_and_explains_the_history(
    client: TestClient,
) -> None:
    assert client.post("/v1/admin/practitioners", json={"practitioners": [person(1)]}, headers=AUTH).status_code == 200  # fmt: skip
    pr = {"kind": "practitioner", "id": "pr-1"}
    co = {"kind": "company", "id": X.id}
    batch = [_complaint("cp-1", pr, "serious"), _complaint("cp-2", co, "fairly_serious")]
    r = client.post("/v1/admin/evaluations", json={"evaluations": batch}, headers=AUTH)
    assert r.status_code == 200 and r.json()["blacklisted"] == ["pr-1"]
    assert client.get("/v1/certificates/GZ-2020-000001").json()["status"] == "revoked"

    r = client.get("/v1/admin/notices", headers=AUTH)
    assert r.status_code == 200
    # Recorded at 2026-03-09, long before today: outside the 30-day window.
    assert r.json()["notices"] == [] and r.json()["window_days"] == 30

    assert client.post("/v1/admin/appeals", json={}).status_code == 401
    body = {"id": "ap-1", "complaint_id": "cp-1", "filed_at": "2026-03-15T10:00:00+08:00"}
    r = client.post("/v1/admin/appeals", json=body | {"grounds": "当日不在场"}, headers=AUTH)
    assert r.status_code == 200, r.text
    assert r.json()["status"] == "filed" and r.json()["subject"] == pr
    missing = body | {"id": "ap-2", "complaint_id": "cp-404"}
    assert client.post("/v1/admin/appeals", json=missing, headers=AUTH).status_code == 404
    decision = {
        "status": "upheld",
        "decided_at": "2026-04-02T10:00:00+08:00",
        "decided_by": "ops-li",
        "decision": "监控记录显示当日不在场",
    }
    r = client.post("/v1/admin/appeals/ap-1/decision", json=decision, headers=AUTH)
    assert r.status_code == 200, r.text
    out = r.json()
    assert out["status"] == "upheld" and out["decided_by"] == "ops-li"
    assert out["practitioners_lifted"] == ["pr-1"]
    assert [(c["grade_before"], c["grade_after"]) for c in out["grade_changes"]] == [("1", "4")]
    assert client.get("/v1/certificates/GZ-2020-000001").json()["status"] == "valid"
    again = client.post("/v1/admin/appeals/ap-1/decision", json=decision, headers=AUTH)
    assert again.status_code == 409
    shown = client.get("/v1/admin/appeals/ap-1", headers=AUTH).json()
    assert shown["decision"] == "监控记录显示当日不在场" and shown["grade_changes"] == []

    history = client.get(f"/v1/providers/{X.id}/grade-history")
    entry = history.json()["changes"][0]
    assert entry["explanation_zh"].startswith("2026-03-09 投诉属实（较重）：管理能力 −2 分")
    assert "verified complaint (fairly serious)" in entry["explanation_en"]
    assert entry["appealed"] is None
    for private in ("王女士", "13812345678", "张三华", "当日不在场", "ops-li"):
        assert private not in history.text


def test_the_appeals_and_regrade_commands(tmp_path: Path) -> None:
    import os

    from jzmap.application.grades import apply_evaluations
    from tests.helpers import embedded_backend_at
    from tests.test_cli import run

    data = tmp_path / "data"
    co = company(2, *CANTON_TOWER, grade=Grade.A4)
    subject = Subject.company(co.id)
    with embedded_backend_at(data) as backend:
        backend.store.upsert([co])
        case = verified("cp-1", t(3, 9), Severity.SERIOUS, subject)
        report = apply_evaluations(backend.gradebook, backend.store, [case], baseline_since=SINCE)
        assert report.providers_updated == (co.id,)
    env = {k: v for k, v in os.environ.items() if k not in ("DATABASE_URL", "JZMAP_DATABASE_URL")}
    env["JZMAP_DATA_DIR"] = str(data)

    out = run(["appeals", "file", "ap-1", "--complaint", "cp-1", "--at", "2026-03-15T10:00"], env)
    assert f"ap-1: complaint appeal of cp-1 (company {co.id})" in out.stdout
    assert "filed 2026-03-15T10:00:00+08:00: filed" in out.stdout
    args = ["--by", "ops-li", "--reason", "核实有误", "--at", "2026-04-02T10:00+08:00"]
    out = run(["appeals", "decide", "ap-1", "--status", "upheld", *args], env)
    assert "grade 3A -> 4A, score 76.0 -> 85.0 (ap-1)" in out.stdout
    again = run(["appeals", "decide", "ap-1", "--status", "dismissed", *args], env, check=False)
    assert again.returncode == 1 and "already upheld" in again.stderr
    out = run(["appeals", "show", "ap-1"], env)
    assert "decided 2026-04-02T10:00:00+08:00 by ops-li: 核实有误" in out.stdout
    missing = run(["appeals", "show", "ap-404"], env, check=False)
    assert missing.returncode == 1 and "no appeal with id 'ap-404'" in missing.stderr
    out = run(["grades", "regrade"], env)
    assert "0 complaints re-read; 0 grades changed" in out.stdout
    with embedded_backend_at(data) as backend:
        stored = backend.store.get(co.id)
        assert stored is not None and stored.credit_grade is Grade.A4  # published back
