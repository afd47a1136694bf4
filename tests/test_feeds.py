"""File imports of practitioners and evaluations (``jzmap ingest --kind practitioners|
evaluations``, ``POST /v1/admin/imports``): realistic files in, on both stores; every row
stored or explained by file, line, column and reason; nothing personal in what is shown."""

from __future__ import annotations

import csv
import json
import os
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import date, datetime
from pathlib import Path
from typing import Any

import openpyxl
import pytest
from fastapi.testclient import TestClient
from pydantic import SecretStr

from api.app import create_app
from ingest import UnreadableFileError, write_rejects, write_report
from ingest.dates import parse_date, parse_time
from ingest.evaluations import SYNONYMS as EVALUATION_SYNONYMS
from ingest.evaluations import parse_evaluations
from ingest.feeds import (
    FeedKind,
    FeedReport,
    ImportKind,
    Seen,
    parse_company,
    parse_stars,
    read_feed,
)
from ingest.practitioners import parse_check_status
from jzmap.feeds import FeedOptions, run_feed
from jzmap.settings import Settings
from providers.evaluations import (
    CHINA_TZ,
    Complaint,
    ComplaintStatus,
    FollowUpVisit,
    Review,
    Severity,
    Subject,
    VisitOutcome,
)
from providers.gradebook import Baseline, GradeBook
from providers.model import Grade, Kind
from providers.practitioners import (
    CheckRecord,
    CheckStatus,
    Practitioner,
    Stars,
    id_number_check_char,
)
from providers.registry import PractitionerRegistry
from providers.store import ProviderStore
from providers.stores import Backend
from providers.stores.registry_embedded import EmbeddedRegistry
from tests.helpers import CANTON_TOWER, company, credit_code, embedded_backend_at, station

LON, LAT = CANTON_TOWER
X = company(1, LON, LAT + 0.002, grade=Grade.A3, practitioners=10, certified_practitioners=5)
Y = company(2, LON, LAT + 0.003, grade=Grade.A4, practitioners=1, certified_practitioners=0)
ST = station(3, LON, LAT + 0.004)
BASELINE_SINCE = datetime(2000, 1, 1, tzinfo=CHINA_TZ)
TOKEN = "feeds-admin-token"
AUTH = {"Authorization": f"Bearer {TOKEN}"}

# One practitioner's personal values, on every row: none may be shown anywhere.
NAME = "司徒雪梅"
PHONE = "139-2468-1357"
HOME = "海珠区新港西路135号7栋1203房"


def id_number(n: int) -> str:
    first17 = f"44010519870423{n:03d}"
    return first17 + id_number_check_char(first17)


def wrong_check_digit(n: int) -> str:
    good = id_number(n)
    return good[:-1] + ("1" if good[-1] != "1" else "2")


def personal_spellings(*numbers: int) -> list[str]:
    """Every form a personal value could leak in."""
    digits = "".join(ch for ch in PHONE if ch.isdigit())
    values = [NAME, NAME[2:], PHONE, digits, HOME, HOME[:8], HOME[-8:]]
    for n in numbers:
        values += [id_number(n), wrong_check_digit(n), id_number(n)[6:14]]
    return values + [json.dumps(v)[1:-1] for v in values if not v.isascii()]


P_HEADERS = ["人员编号", "姓名", "身份证号码", "手机", "所属企业", "星级",
             "实名认证", "实名认证日期", "岗前培训考核", "岗前培训考核日期",
             "无犯罪记录证明", "无犯罪记录证明日期", "健康证", "健康证日期", "健康证有效期至",
             "职业培训证书", "职业培训证书日期", "安心服务证编号", "发证日期", "住址", "备注"]  # fmt: skip


def person(n: int, **cells: str) -> list[str]:
    day = "2020/3/1"
    base = {
        "人员编号": f"pr-{n}",
        "姓名": NAME,
        "身份证号码": id_number(n),
        "手机": PHONE,
        "所属企业": credit_code(1),
        "星级": "4星",
        "实名认证": "通过",
        "实名认证日期": day,
        "岗前培训考核": "已通过",
        "岗前培训考核日期": "2020年3月1日",
        "无犯罪记录证明": "通过",
        "无犯罪记录证明日期": day,
        "健康证": "通过",
        "健康证日期": day,
        "健康证有效期至": "2099-12-31",
        "职业培训证书": "passed",
        "职业培训证书日期": "20200301",
        "安心服务证编号": f"gz-2020-{n:06d}",  # lower case: folded to GZ-…
        "发证日期": "2020-03-10",
        "住址": HOME,
        "备注": "老员工",
    }
    base.update(cells)
    return [base[h] for h in P_HEADERS]


E_HEADERS = ["编号", "类型", "对象类型", "对象编号", "时间", "星级", "严重程度", "状态",
             "处理时间", "回访结果", "内容", "备注"]  # fmt: skip


def event(id_: str, kind: str, subject: str, at: str, **cells: str) -> list[str]:
    base = dict.fromkeys(E_HEADERS, "")
    base.update({"编号": id_, "类型": kind, "对象编号": subject, "时间": at, **cells})
    return [base[h] for h in E_HEADERS]


def write_csv(path: Path, headers: list[str], rows: list[list[str]], encoding: str = "gbk") -> Path:
    with path.open("w", encoding=encoding, newline="") as f:
        csv.writer(f).writerows([headers, *rows])
    return path


@dataclass
class Stores:
    providers: ProviderStore
    registry: PractitionerRegistry
    gradebook: GradeBook
    backend: Backend


@pytest.fixture
def stores(backend: Backend) -> Stores:
    """The provider store of each backend kind with its registry and grade book."""
    backend.store.upsert([X, Y, ST])
    return Stores(backend.store, backend.registry, backend.gradebook, backend)


def import_practitioners(
    stores: Stores, *paths: Path, now: datetime | None = None, **options: Any
) -> FeedReport:
    report = run_feed(
        list(paths),
        FeedOptions(FeedKind.PRACTITIONERS, **options),
        providers=stores.providers,
        registry=stores.registry,
        gradebook=stores.gradebook,
        now=now,
    )
    assert report.rows_read == report.stored + report.rejected, "a row was lost"
    assert report.stored == report.inserted + report.updated + report.unchanged or report.dry_run
    return report


def import_evaluations(stores: Stores, *paths: Path, **options: Any) -> FeedReport:
    report = run_feed(
        list(paths),
        FeedOptions(FeedKind.EVALUATIONS, **options),
        providers=stores.providers,
        registry=stores.registry,
        gradebook=stores.gradebook,
        baseline_since=BASELINE_SINCE,
    )
    assert report.rows_read == report.stored + report.rejected, "a row was lost"
    return report


def rejected(report: FeedReport) -> dict[int, list[tuple[str, str]]]:
    return {r.line: [(p.column, p.reason) for p in r.problems] for r in report.rejects}


def register_rows() -> list[list[str]]:
    """A register with every kind of trouble, one per row (lines 2 to 16)."""
    return [
        person(1),  # 2
        person(2, 健康证有效期至="2021-03-01"),  # 3: stored, its certificate expired
        person(3, 所属企业=f"co-{credit_code(2)}", 星级="★★★★★"),  # 4
        person(4, 身份证号码=wrong_check_digit(4)),  # 5
        person(5, 所属企业=credit_code(9)),  # 6: no such company
        person(6, 所属企业=ST.id),  # 7: a station
        person(7, 健康证有效期至=""),  # 8: passed without expiry
        person(8, 星级="6星"),  # 9
        person(1, 姓名="张三华"),  # 10: same id as line 2
        person(9, 安心服务证编号="GZ-2020-000001"),  # 11: line 2's code
        person(10, 人员编号=id_number(10)),  # 12: the ID number as the id
        person(11, 安心服务证编号=NAME),  # 13: a name in the code column
        person(12, 实名认证日期="2020-13-01"),  # 14
        person(13, 所属企业=""),  # 15: a freelancer
        person(14, 健康证="有效期内", 星级=HOME),  # 16: a status not understood; an address
    ]


def test_a_gbk_register_is_stored_or_explained_row_by_row(stores: Stores, tmp_path: Path) -> None:
    path = write_csv(tmp_path / "海珠区从业人员.csv", P_HEADERS, register_rows())
    report = import_practitioners(stores, path)

    assert report.encodings == {"海珠区从业人员.csv": "gb18030"}
    assert report.ignored_columns == {"海珠区从业人员.csv": ["备注"]}
    assert (report.rows_read, report.inserted, report.rejected) == (15, 4, 11)
    why = rejected(report)
    assert sorted(why) == [5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 16]
    assert why[5] == [
        ("身份证号码", "ID number: the check character does not match the first 17 digits")
    ]
    assert why[6] == [
        ("所属企业", f"company_id: no company provider with id 'co-{credit_code(9)}'")
    ]
    assert why[7] == [
        ("所属企业", f"company_id: {ST.id!r} is a grassroots service station, not a company")
    ]
    assert why[8] == [
        (
            "健康证有效期至",
            "健康证 health_certificate: a passed check of this kind lapses and needs its expiry "
            "date",
        )
    ]
    assert why[9] == [("星级", "星级 is not a star rating from 1 to 5 (5, ５, 5星, 五星, ★★★★★)")]
    assert why[10] == [
        (
            "人员编号",
            "人员编号: same practitioner as line 2 of 海珠区从业人员.csv; keep one of the rows",
        )
    ]
    assert why[11][0][0] == "安心服务证编号" and "same certificate code as line 2" in why[11][0][1]
    assert why[12] == [("人员编号", "人员编号 must not contain the practitioner's id_number")]
    assert why[13] == [
        (
            "安心服务证编号",
            "安心服务证编号: the value is not repeated here: it matches one of the row's "
            "personal fields",
        )
    ]
    assert why[14] == [
        ("实名认证日期", "实名认证日期 is not a real date or time (check the month, day and hour)")
    ]
    assert [column for column, _ in why[16]] == ["健康证", "星级"]
    for spelling in personal_spellings(*range(1, 15)):
        assert spelling not in json.dumps(report.to_dict(with_cells=True), ensure_ascii=False)

    first = stores.registry.get("pr-1")
    assert first is not None and first.name == NAME and first.id_number == id_number(1)
    assert first.certificate_code == "GZ-2020-000001" and first.stars is Stars.FOUR
    assert first.pre_job_training == CheckRecord(CheckStatus.PASSED, date(2020, 3, 1))
    assert first.health_certificate.expires_on == date(2099, 12, 31)
    assert first.company_id == X.id and first.phone == PHONE and first.home_address == HOME
    third = stores.registry.get("pr-3")
    assert third is not None and third.company_id == Y.id and third.stars is Stars.FIVE
    freelancer = stores.registry.get("pr-13")
    assert freelancer is not None and freelancer.company_id is None
    assert stores.registry.get("pr-4") is None and stores.registry.get("pr-5") is None

    # Companies recounted: X has one valid certificate (pr-2's health certificate lapsed).
    assert sorted(report.providers_updated) == sorted([X.id, Y.id])
    x, y = stores.providers.get(X.id), stores.providers.get(Y.id)
    assert x is not None and (x.practitioners, x.certified_practitioners) == (10, 1)
    assert y is not None and (y.practitioners, y.certified_practitioners) == (1, 1)

    again = import_practitioners(stores, path)
    assert (again.inserted, again.updated, again.unchanged, again.rejected) == (0, 0, 4, 11)
    assert again.changed_nothing and again.providers_updated == []


def test_a_changed_row_updates_and_a_dry_run_stores_nothing(stores: Stores, tmp_path: Path) -> None:
    path = write_csv(tmp_path / "a.csv", P_HEADERS, [person(1), person(2)])
    dry = import_practitioners(stores, path, dry_run=True)
    assert (dry.stored, dry.inserted, dry.rejected) == (2, 0, 0)
    assert stores.registry.get("pr-1") is None
    import_practitioners(stores, path)
    write_csv(path, [*P_HEADERS, "吊销日期"], [[*person(1), "2021-01-01"], [*person(2), ""]])
    changed = import_practitioners(stores, path)
    assert (changed.updated, changed.unchanged) == (1, 1)
    revoked = stores.registry.get("pr-1")
    assert revoked is not None and revoked.certificate_revoked_on == date(2021, 1, 1)


def test_a_register_with_new_stars_rebaselines_the_evaluated_practitioners(
    stores: Stores, tmp_path: Path
) -> None:
    spring = write_csv(tmp_path / "2026年春.csv", P_HEADERS, [person(1), person(2)])  # 4星
    assert import_practitioners(stores, spring).rebaselined == 0
    visit = event("fv-1", "回访", "pr-1", "2026-03-02 09:30", 对象类型="从业人员", 回访结果="满意")
    import_evaluations(stores, write_csv(tmp_path / "回访.csv", E_HEADERS, [visit]))
    evaluated, never = Subject.practitioner("pr-1"), Subject.practitioner("pr-2")
    trail = stores.gradebook.history(evaluated)
    assert [c.cause for c in trail] == [("fv-1",)]

    autumn = write_csv(
        tmp_path / "2026年秋.csv", P_HEADERS, [person(1, 星级="五星"), person(2, 星级="五星")]
    )
    rated_at = datetime(2026, 9, 1, 9, tzinfo=CHINA_TZ)
    report = import_practitioners(stores, autumn, now=rated_at)
    assert (report.updated, report.rebaselined) == (2, 1)
    assert report.summary()["rebaselined"] == 1
    current = stores.gradebook.current(evaluated)
    assert current is not None
    assert (current.baseline, current.grade, current.score) == (
        Baseline(Stars.FIVE, rated_at),
        Stars.FIVE,
        95.0,
    )
    official = stores.gradebook.history(evaluated)[-1]
    assert (official.at, official.cause) == (rated_at, ("official:2026年秋.csv",))
    assert (official.grade_before, official.grade_after) == (Stars.FOUR, Stars.FIVE)
    assert stores.gradebook.current(never) is None  # never evaluated: no entry made

    again = import_practitioners(stores, autumn)
    assert (again.unchanged, again.rebaselined) == (2, 0)
    assert stores.gradebook.history(evaluated) == [*trail, official]


def test_an_xlsx_register_with_english_headers_on_its_second_sheet(
    embedded_backend: Backend, tmp_path: Path
) -> None:
    embedded_backend.store.upsert([X])
    book = openpyxl.Workbook()
    assert book.active is not None
    book.active.title = "说明"
    book.active.append(["填表说明: 日期用 2025-01-06"])
    sheet = book.create_sheet("名册")
    sheet.append(["ID", "Name", "ID_Number", "Phone", "Company", "Stars", "Real_Name",
                  "Real_Name_On", "Pre_Job_Training", "Pre_Job_Training_On",
                  "No_Criminal_Record", "No_Criminal_Record_On", "Health_Certificate",
                  "Health_Certificate_On", "Health_Certificate_Expires_On（有效期）",
                  "Vocational_Certificate", "Vocational_Certificate_On", "Certificate_Code",
                  "Certificate_Issued_On"])  # fmt: skip
    evidence = date(2020, 3, 1)
    sheet.append(["pr-1", NAME, id_number(1).lower(), 13924681357, credit_code(1), 5,
                  "passed", evidence, "passed", evidence, "passed", evidence, "passed",
                  evidence, date(2099, 12, 31), "passed", evidence, "GZ-2020-000001",
                  datetime(2020, 3, 10)])  # fmt: skip
    sheet.append(["pr-2", NAME, id_number(2), "", credit_code(1), 5.0, "failed", "",
                  "", "", "", "", "", "", "", "", "", "", ""])  # fmt: skip
    sheet.append(["pr-3", NAME, id_number(3), "", "", "", "", datetime(2020, 3, 1, 9, 30),
                  "", "", "", "", "", "", "", "", "", "", ""])  # fmt: skip
    path = tmp_path / "register.xlsx"
    book.save(path)
    registry = embedded_backend.registry
    for sheet_name in ("名册", "2"):
        report = run_feed(
            [path],
            FeedOptions(FeedKind.PRACTITIONERS, sheet=sheet_name, dry_run=True),
            providers=None,
        )
        assert (report.rows_read, report.stored, report.rejected) == (3, 2, 1)
    report = run_feed(
        [path],
        FeedOptions(FeedKind.PRACTITIONERS, sheet="名册"),
        providers=embedded_backend.store,
        registry=registry,
    )
    assert report.encodings == {} and report.ignored_columns == {}
    assert [(r.line, r.problems[0].column) for r in report.rejects] == [(4, "Real_Name_On")]
    assert "has a time of day" in report.rejects[0].problems[0].reason
    first = registry.get("pr-1")
    assert first is not None and first.id_number == id_number(1)
    assert first.phone == "13924681357" and first.stars is Stars.FIVE
    assert first.certificate_issued_on == date(2020, 3, 10)
    assert first.health_certificate.expires_on == date(2099, 12, 31)
    second = registry.get("pr-2")
    assert second is not None and second.real_name.status is CheckStatus.FAILED


def test_files_that_cannot_be_processed_at_all(tmp_path: Path) -> None:
    def check(path: Path, kind: FeedKind = FeedKind.PRACTITIONERS) -> str:
        with pytest.raises(UnreadableFileError) as caught:
            run_feed([path], FeedOptions(kind), providers=None)
        return str(caught.value)

    no_id_number = write_csv(tmp_path / "a.csv", ["编号", "姓名"], [["pr-1", NAME]])
    assert "no id_number column: one of 身份证号、身份证号码" in check(no_id_number)
    twice = write_csv(tmp_path / "b.csv", ["编号", "ID", "姓名", "身份证号"], [])
    assert "columns '编号' and 'ID' both mean 'id'" in check(twice)
    geojson = tmp_path / "c.geojson"
    geojson.write_text('{"type": "FeatureCollection", "features": []}')
    assert "GeoJSON holds provider points only" in check(geojson)
    no_subject = write_csv(tmp_path / "d.csv", ["编号", "类型", "时间"], [])
    assert "no subject column" in check(no_subject, FeedKind.EVALUATIONS)


def evaluation_rows() -> list[list[str]]:
    """An evaluations log (lines 2 to 15), one kind of trouble per rejected row."""
    code = credit_code(1)
    return [
        event("rv-1", "好评", code, "2026/3/1 10:00", 对象类型="企业", 星级="5", 内容="阿姨很细心"),
        event("rv-2", "评价", X.id, "2026-03-02", 星级="★★★★"),
        event(
            "cp-1", "投诉", code, "2026-04-10 09:00", 严重程度="严重", 状态="已受理", 内容="迟到"
        ),
        event(
            "cp-1",
            "投诉",
            code,
            "2026-04-10 09:00",
            严重程度="严重",
            状态="属实",
            处理时间="2026年4月20日 15:00",
            内容="迟到",
        ),
        event(
            "fv-1",
            "回访",
            "pr-1",
            "2026-03-02T09:30:00+08:00",
            对象类型="从业人员",
            回访结果="满意",
            备注="电话回访",
        ),
        event("x-1", "表扬", code, "2026-03-02", 星级="5"),  # 7: unknown type
        event("x-2", "评价", ST.id, "2026-03-02", 星级="5"),  # 8: a station
        event("x-3", "评价", credit_code(9), "2026-03-02", 星级="5"),  # 9: no such company
        event("x-4", "评价", code, "2026-02-30", 星级="5"),  # 10: no such day
        event("rv-1", "好评", code, "2026/3/1 10:00", 星级="4"),  # 11: rv-1 again
        event("x-5", "投诉", code, "2026-03-02", 星级="5", 严重程度="一般"),  # 12
        event("x-6", "评价", code, "3/1/2026", 星级="5"),  # 13: not year first
        event("x-7", "回访", "pr-404", "2026-03-02", 对象类型="家政员", 回访结果="满意"),  # 14
        event("x-8", "评价", code, "2026-03-02"),  # 15: no stars
    ]


def test_an_evaluations_log_is_recorded_or_explained_row_by_row(
    stores: Stores, tmp_path: Path
) -> None:
    ok = CheckRecord(CheckStatus.PASSED, date(2020, 3, 1))
    stores.registry.upsert(
        [Practitioner("pr-1", NAME, id_number(1), company_id=X.id, stars=Stars.FOUR, real_name=ok)]
    )
    path = write_csv(tmp_path / "评价投诉回访.csv", E_HEADERS, evaluation_rows())
    report = import_evaluations(stores, path)

    assert (report.rows_read, report.inserted, report.rejected) == (14, 5, 9)
    assert report.by_type == {"review": 2, "complaint": 2, "visit": 1}
    why = rejected(report)
    assert sorted(why) == list(range(7, 16))
    assert why[7] == [
        (
            "类型",
            "类型 '表扬' is not one of 评价、好评、中评、差评、点评、review、投诉、complaint、"
            "回访、订单回访、visit",
        )
    ]
    assert why[8] == [
        ("对象编号", f"{ST.id!r} is a grassroots service station; stations are not graded")
    ]
    assert why[9] == [("对象编号", f"no company provider with id 'co-{credit_code(9)}'")]
    assert why[10] == [
        ("时间", "时间 '2026-02-30' is not a real date or time (check the month, day and hour)")
    ]
    assert why[11][0][0] == "编号" and "same id as line 2 of 评价投诉回访.csv" in why[11][0][1]
    assert why[12] == [("星级", "星级 applies to reviews only; this row is a complaint")]
    assert why[13][0][0] == "时间" and "'3/1/2026' is not a date or time" in why[13][0][1]
    assert why[14][0][0] == "对象编号" and "no practitioner with id 'pr-404'" in why[14][0][1]
    assert why[15] == [("星级", "星级 is empty: a review has 1 to 5 stars")]

    # Stored as the domain has them: naive times and bare dates are China time.
    company = Subject.company(X.id)
    causes = [c.cause for c in stores.gradebook.history(company)]
    assert causes == [("rv-1",), ("rv-2",), ("cp-1",)]
    history = stores.gradebook.history(company)
    assert history[0].at == datetime(2026, 3, 1, 10, 0, tzinfo=CHINA_TZ)
    assert history[1].at == datetime(2026, 3, 2, 0, 0, tzinfo=CHINA_TZ)
    assert history[2].at == datetime(2026, 4, 20, 15, 0, tzinfo=CHINA_TZ)
    # The verified serious complaint (-9) took 3A (75, a little more for the reviews) below
    # 70: 2A, published at once.
    assert report.providers_updated == [X.id]
    x = stores.providers.get(X.id)
    assert x is not None and x.credit_grade is Grade.A2
    assert [c["cause"] for c in report.grade_changes][-1] == ["cp-1"]
    visit = stores.gradebook.history(Subject.practitioner("pr-1"))
    assert [c.cause for c in visit] == [("fv-1",)]

    again = import_evaluations(stores, path)
    assert (again.inserted, again.unchanged, again.rejected) == (0, 5, 9)
    assert again.changed_nothing and again.grade_changes == []


def test_evaluation_rows_become_the_domain_records(stores: Stores, tmp_path: Path) -> None:
    """What the grade book receives, field by field (dry run: parsing only)."""
    path = write_csv(tmp_path / "e.csv", E_HEADERS, evaluation_rows()[:5], encoding="utf-8-sig")
    report = import_evaluations(stores, path, dry_run=True)
    assert (report.stored, report.rejected) == (5, 0)
    table, header = read_feed(path, FeedKind.EVALUATIONS, EVALUATION_SYNONYMS, ("id",))
    items = parse_evaluations(table, header, "e.csv", Seen()).items
    company = Subject.company(X.id)
    assert items[0] == Review(
        "rv-1", company, datetime(2026, 3, 1, 10, tzinfo=CHINA_TZ), 5, "阿姨很细心"
    )
    assert items[1] == Review("rv-2", company, datetime(2026, 3, 2, tzinfo=CHINA_TZ), 4)
    assert items[3] == Complaint(
        "cp-1",
        company,
        Severity.SERIOUS,
        datetime(2026, 4, 10, 9, tzinfo=CHINA_TZ),
        ComplaintStatus.VERIFIED,
        datetime(2026, 4, 20, 15, tzinfo=CHINA_TZ),
        "迟到",
    )
    assert items[4] == FollowUpVisit(
        "fv-1",
        Subject.practitioner("pr-1"),
        datetime(2026, 3, 2, 9, 30, tzinfo=CHINA_TZ),
        VisitOutcome.SATISFIED,
        "电话回访",
    )


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("5", 5), ("５", 5), ("5星", 5), ("五星级", 5), ("★★★★★", 5), ("★★★☆☆", 3),
        ("1 star", 1), ("4.0", 4), ("", None), ("0", None), ("6", None), ("★★★★★★", None),
        ("five", None),
    ],
)  # fmt: skip
def test_stars(text: str, expected: int | None) -> None:
    value, problem = parse_stars(text)
    assert value == expected
    assert (problem is None) == (expected is not None or not text)


def test_cells_read_strictly() -> None:
    assert [parse_check_status(t)[0] for t in ("通过", "不合格", "缺失", "")] == [
        CheckStatus.PASSED,
        CheckStatus.FAILED,
        CheckStatus.MISSING,
        CheckStatus.MISSING,
    ]
    assert parse_check_status("有效期内")[0] is None
    assert parse_date("2025年1月6日") == (date(2025, 1, 6), None)
    assert parse_date("0205-01-06")[1] == "year 205 is outside 1900-2199 (a typo?)"
    assert parse_time("2026-03-01 10:00", CHINA_TZ)[0] == datetime(2026, 3, 1, 10, tzinfo=CHINA_TZ)
    utc = parse_time("2026-02-28T17:30:00Z", CHINA_TZ)[0]
    assert utc is not None and utc.astimezone(CHINA_TZ).date() == date(2026, 3, 1)
    assert parse_company(f"co-{credit_code(1).lower()}") == (X.id, None)
    assert "check character" in str(parse_company(credit_code(1)[:-1] + "0")[1])
    assert ImportKind("station").provider_kind is Kind.STATION
    assert ImportKind("evaluations").feed is FeedKind.EVALUATIONS
    assert ImportKind("company").feed is None


def test_the_rejects_file_loads_back_once_fixed(stores: Stores, tmp_path: Path) -> None:
    path = write_csv(tmp_path / "register.csv", P_HEADERS, register_rows())
    report = import_practitioners(stores, path)
    rejects = tmp_path / "rejects.csv"
    write_rejects(report, rejects)
    assert rejects.read_bytes().startswith(b"\xef\xbb\xbf")
    with rejects.open(encoding="utf-8-sig", newline="") as f:
        reader = csv.DictReader(f)
        headers = list(reader.fieldnames or [])
        rows = list(reader)
    assert headers[-4:] == ["_file", "_line", "_columns", "_reasons"]
    assert [r["_line"] for r in rows] == [
        str(line) for line in (5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 16)
    ]
    assert rows[0]["姓名"] == NAME  # the operator's own file keeps the cells to fix
    fixes = {
        "5": {"身份证号码": id_number(4)},
        "6": {"所属企业": credit_code(2)},
        "7": {"所属企业": credit_code(1)},
        "8": {"健康证有效期至": "2099-12-31"},
        "9": {"星级": "3"},
        "10": {"人员编号": "pr-21", "安心服务证编号": "GZ-2020-000121"},
        "11": {"安心服务证编号": "GZ-2020-000021"},
        "12": {"人员编号": "pr-22"},
        "13": {"安心服务证编号": "GZ-2020-000011"},
        "14": {"实名认证日期": "2020-12-01"},
        "16": {"健康证": "通过", "星级": "2"},
    }
    for r in rows:
        r.update(fixes[r["_line"]])
    with rejects.open("w", encoding="utf-8-sig", newline="") as f:
        writer = csv.DictWriter(f, headers)
        writer.writeheader()
        writer.writerows(rows)
    fixed = import_practitioners(stores, rejects)
    assert (fixed.rows_read, fixed.inserted, fixed.rejected) == (11, 11, 0)
    assert fixed.ignored_columns == {"rejects.csv": ["备注"]}  # the report columns are not
    assert stores.registry.get("pr-21") is not None


def test_the_json_report_carries_no_cells_for_practitioners(stores: Stores, tmp_path: Path) -> None:
    path = write_csv(tmp_path / "register.csv", P_HEADERS, register_rows())
    report = import_practitioners(stores, path)
    out = tmp_path / "report.json"
    write_report(report, out)
    body = json.loads(out.read_text(encoding="utf-8"))
    assert body["kind"] == "practitioners" and body["rejected"] == 11
    assert all("cells" not in r for r in body["rejects"])
    asked_with_cells = report.to_dict(with_cells=True)["rejects"]
    assert isinstance(asked_with_cells, list) and all("cells" not in r for r in asked_with_cells)
    text = out.read_text(encoding="utf-8")
    for spelling in personal_spellings(*range(1, 15)):
        assert spelling not in text


# -- over HTTP ------------------------------------------------------------------------


@pytest.fixture
def client(stores: Stores) -> Iterator[TestClient]:
    settings = Settings(admin_token=SecretStr(TOKEN), grades_baseline_since=BASELINE_SINCE)
    app = create_app(settings, backend=stores.backend)
    with TestClient(app) as c:
        yield c


def upload(client: TestClient, name: str, body: bytes, **form: str) -> Any:
    return client.post("/v1/admin/imports", files={"file": (name, body)}, data=form, headers=AUTH)


def test_admin_uploads_of_registers_and_logs(client: TestClient, tmp_path: Path) -> None:
    register = write_csv(tmp_path / "register.csv", P_HEADERS, register_rows()).read_bytes()
    r = upload(client, "register.csv", register, kind="practitioners")
    assert r.status_code == 200, r.text
    report = r.json()
    assert (report["kind"], report["rows_read"], report["inserted"], report["rejected"]) == (
        "practitioners",
        15,
        4,
        11,
    )
    assert report["files"] == ["register.csv"]
    assert all("cells" not in reject for reject in report["rejects"])
    for spelling in personal_spellings(*range(1, 15)):
        assert spelling not in r.text
    nearest = client.get(f"/v1/providers/nearest?lat={LAT}&lon={LON}&kind=company").json()
    counts = {m["id"]: m["certified_practitioners"] for m in nearest["results"]}
    assert counts[X.id] == 1 and counts[Y.id] == 1
    assert upload(client, "register.csv", register, kind="practitioners").json()["unchanged"] == 4

    log = write_csv(tmp_path / "log.csv", E_HEADERS, evaluation_rows()).read_bytes()
    r = upload(client, "log.csv", log, kind="evaluations")
    assert r.status_code == 200, r.text
    assert (r.json()["inserted"], r.json()["rejected"]) == (5, 9)
    assert r.json()["rejects"][0]["cells"]["类型"] == "表扬"  # not private: cells kept
    history = client.get(f"/v1/providers/{X.id}/grade-history").json()
    assert history["credit_grade"] == "2A"

    refused = upload(client, "register.csv", register, kind="practitioners", mode="snapshot")
    assert refused.status_code == 422 and "provider imports" in refused.json()["message"]
    geojson = b'{"type": "FeatureCollection", "features": []}'
    refused = upload(client, "register.geojson", geojson, kind="evaluations")
    assert refused.status_code == 422 and "GeoJSON" in refused.json()["message"]
    headless = upload(client, "x.csv", "姓名\n张三\n".encode(), kind="practitioners")
    assert headless.status_code == 422 and "no id column" in headless.json()["message"]
    anonymous = client.post(
        "/v1/admin/imports", files={"file": ("x.csv", register)}, data={"kind": "practitioners"}
    )
    assert anonymous.status_code == 401


# -- the command line -----------------------------------------------------------------

JZMAP = str(Path(sys.executable).with_name("jzmap"))


def jzmap(args: list[str], env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run([JZMAP, *args], env=env, capture_output=True, text=True, timeout=300)


@pytest.fixture
def embedded_env(tmp_path: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k not in ("DATABASE_URL", "JZMAP_DATABASE_URL")}
    env["JZMAP_DATA_DIR"] = str(tmp_path / "data")
    with embedded_backend_at(tmp_path / "data") as backend:
        backend.store.upsert([X, Y, ST])
    return env


def test_the_cli_imports_a_register_and_shows_nothing_personal(
    embedded_env: dict[str, str], tmp_path: Path
) -> None:
    path = write_csv(tmp_path / "register.csv", P_HEADERS, register_rows())
    rejects, report = tmp_path / "rejects.csv", tmp_path / "report.json"
    args = ["ingest", str(path), "--kind", "practitioners", "--rejects", str(rejects)]
    result = jzmap([*args, "--report", str(report)], embedded_env)
    assert result.returncode == 0, result.stderr
    body = json.loads(report.read_text(encoding="utf-8"))
    assert (body["rows_read"], body["inserted"], body["rejected"]) == (15, 4, 11)
    assert "rejected register.csv:5: ID number: the check character" in result.stderr
    assert "columns ignored (not understood): 备注" in result.stderr
    shown = result.stdout + result.stderr + report.read_text(encoding="utf-8")
    for spelling in personal_spellings(*range(1, 15)):
        assert spelling not in shown
    assert NAME in rejects.read_text(encoding="utf-8-sig")  # asked for: the rows to fix

    again = jzmap([*args, "--report", str(report)], embedded_env)
    assert again.returncode == 0 and "nothing changed" in again.stdout
    assert json.loads(report.read_text(encoding="utf-8"))["unchanged"] == 4

    log = write_csv(tmp_path / "log.csv", E_HEADERS, evaluation_rows())
    result = jzmap(
        ["ingest", str(log), "--kind", "evaluations", "--report", str(report)], embedded_env
    )
    assert result.returncode == 0, result.stderr
    assert "grade changes" in result.stdout
    body = json.loads(report.read_text(encoding="utf-8"))
    assert (body["kind"], body["inserted"], body["rejected"]) == ("evaluations", 5, 9)


def test_the_cli_exit_status_says_whether_the_file_was_processed(
    embedded_env: dict[str, str], tmp_path: Path
) -> None:
    headless = write_csv(tmp_path / "a.csv", ["姓名", "身份证号"], [[NAME, id_number(1)]])
    result = jzmap(["ingest", str(headless), "--kind", "practitioners"], embedded_env)
    assert result.returncode == 1 and "no id column" in result.stderr
    assert NAME not in result.stderr
    good = write_csv(tmp_path / "b.csv", P_HEADERS, [person(1)])
    result = jzmap(
        ["ingest", str(good), "--kind", "practitioners", "--mode", "snapshot"], embedded_env
    )
    assert result.returncode == 1 and "apply to provider imports" in result.stderr
    geojson = tmp_path / "c.geojson"
    geojson.write_text('{"type": "FeatureCollection", "features": []}')
    result = jzmap(["ingest", str(geojson), "--kind", "evaluations"], embedded_env)
    assert result.returncode == 1 and "GeoJSON" in result.stderr
    result = jzmap(["ingest", str(good), "--kind", "practitioner"], embedded_env)
    assert result.returncode == 1 and "practitioners or evaluations" in result.stderr
    dry = jzmap(["ingest", str(good), "--kind", "practitioners", "--dry-run"], embedded_env)
    assert dry.returncode == 0 and "would store" in dry.stdout
    registry = EmbeddedRegistry(Path(embedded_env["JZMAP_DATA_DIR"]))
    assert registry.get("pr-1") is None
    registry.close()


@pytest.mark.postgis
def test_the_cli_imports_a_register_into_postgis(
    postgis_migrated: str, postgis_backend: Backend, tmp_path: Path
) -> None:
    postgis_backend.store.upsert([X, Y, ST])
    env = {**os.environ, "DATABASE_URL": postgis_migrated}
    path = write_csv(tmp_path / "register.csv", P_HEADERS, register_rows())
    result = jzmap(["ingest", str(path), "--kind", "practitioners"], env)
    assert result.returncode == 0, result.stderr
    x = postgis_backend.store.get(X.id)
    assert x is not None and x.certified_practitioners == 1
    stored = postgis_backend.registry.get("pr-1")
    assert stored is not None and stored.name == NAME
