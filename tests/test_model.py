"""Provider model invariants, credit codes, phone masking and stable ids."""

from __future__ import annotations

import dataclasses

import pytest

from providers.credit_code import credit_code_check_char, credit_code_problem
from providers.identity import company_id, station_id
from providers.model import Category, Grade, InvalidProviderError, Kind, Provider, mask_phone
from tests.helpers import CANTON_TOWER, company, credit_code, station

LON, LAT = CANTON_TOWER


def test_published_credit_code_is_valid_and_a_changed_one_is_not() -> None:
    assert credit_code_problem("914403001922038216") is None  # Huawei, from its licence
    assert "check character should be '6'" in str(credit_code_problem("914403001922038217"))
    assert "18 characters" in str(credit_code_problem("9144030019220382"))
    assert "not allowed" in str(credit_code_problem("91440300192203821I"))


def test_check_char_is_one_of_31_symbols() -> None:
    chars = {credit_code_check_char(f"91440101{n:09d}") for n in range(2000)}
    assert len(chars) == 31


def test_company_needs_code_and_grade() -> None:
    good = company(1, LON, LAT)
    with pytest.raises(InvalidProviderError, match="credit grade"):
        dataclasses.replace(good, credit_grade=None)
    with pytest.raises(InvalidProviderError, match="unified social credit code"):
        dataclasses.replace(good, credit_code=None)
    with pytest.raises(InvalidProviderError, match="check character"):
        dataclasses.replace(
            good,
            credit_code=credit_code(1)[:-1] + "0"
            if credit_code(1)[-1] != "0"
            else credit_code(1)[:-1] + "1",
        )


def test_station_is_never_graded() -> None:
    with pytest.raises(InvalidProviderError, match="not graded"):
        dataclasses.replace(station(1, LON, LAT), credit_grade=Grade.A5)


def test_all_problems_are_reported_together() -> None:
    with pytest.raises(InvalidProviderError) as err:
        Provider(
            id="x", kind=Kind.STATION, name=" ", categories=frozenset(), lon=200, lat=95,
            practitioners=1, certified_practitioners=2, phone="call me",
        )  # fmt: skip
    message = str(err.value)
    for fragment in ("name is empty", "category", "lon 200", "lat 95", "exceed", "phone"):
        assert fragment in message


def test_certified_share() -> None:
    assert company(1, LON, LAT, practitioners=8, certified_practitioners=2).certified_share == 0.25
    assert company(1, LON, LAT, practitioners=0, certified_practitioners=0).certified_share == 0


@pytest.mark.parametrize(
    ("phone", "masked"),
    [
        ("13812345678", "138****5678"),
        ("020-83334567", "020-****4567"),
        ("+86 138 1234 5678", "+86 1** **** 5678"),
        ("1234", "****"),
        ("", ""),
    ],
)
def test_mask_phone(phone: str, masked: str) -> None:
    assert mask_phone(phone) == masked


def test_ids_are_stable() -> None:
    assert company_id(" 914403001922038216 ") == "co-914403001922038216"
    assert station_id(station_code="440103001") == "st-440103001"
    a = station_id(district="荔湾区", street="沙面街道", name="沙面 家政服务站")
    b = station_id(district="荔湾区", street="沙面街道", name="沙面家政服务站")
    c = station_id(district="荔湾区", street="岭南街道", name="沙面家政服务站")
    assert a == b != c


def test_category_labels() -> None:
    assert [c.label_zh for c in Category] == ["养老", "居家", "母婴", "护理"]


def test_the_domain_imports_neither_fastapi_nor_sqlalchemy() -> None:
    import subprocess
    import sys

    code = (
        "import sys, providers, providers.ranking, providers.store, geo\n"
        "import gaps, gaps.grid, gaps.demand, gaps.supply, gaps.measures, gaps.summary, gaps.sites\n"
        "import providers.practitioners, providers.evaluations, providers.grading\n"
        "bad = sorted(m for m in sys.modules if m.split('.')[0] in "
        "('fastapi', 'sqlalchemy', 'starlette', 'geoalchemy2', 'psycopg'))\n"
        "print(','.join(bad))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == ""
