"""The OpenAPI document: valid (a validator library), complete (servers, contact,
licence), every public operation described with a real example that matches its schema,
and 422, 429 and 503 documented with their bodies."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import jsonschema
import pytest
from openapi_spec_validator import validate

from api.app import create_app
from api.openapi import ERROR_RESPONSES, is_public
from jzmap.settings import Settings


@pytest.fixture(scope="module")
def spec() -> dict[str, Any]:
    app = create_app(
        Settings(
            data_dir=Path("/nonexistent"),
            public_url="https://map.example.cn",
            embed_contact="ops@example.cn",
        )
    )
    document: dict[str, Any] = app.openapi()
    return document


def public_operations(spec: dict[str, Any]) -> list[tuple[str, str, dict[str, Any]]]:
    return [
        (method, path, operation)
        for path, operations in spec["paths"].items()
        if is_public(path)
        for method, operation in operations.items()
    ]


def test_the_document_validates(spec: dict[str, Any]) -> None:
    validate(spec)


def test_servers_contact_and_licence_are_filled(spec: dict[str, Any]) -> None:
    assert spec["servers"] == [{"url": "https://map.example.cn", "description": "this service"}]
    assert spec["info"]["contact"]["email"] == "ops@example.cn"
    assert spec["info"]["license"]["identifier"] == "MIT"


BINARY_ANSWERS = {
    "application/vnd.mapbox-vector-tile",
    "application/geo+json",
    "application/geopackage+sqlite3",
    "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
    "application/vnd.apache.parquet",
    "text/csv",
}


def test_every_public_operation_has_a_description_and_an_example_of_its_schema(
    spec: dict[str, Any],
) -> None:
    operations = public_operations(spec)
    assert len(operations) >= 11
    for method, path, operation in operations:
        assert operation.get("description"), (method, path)
        content = operation["responses"]["200"]["content"]
        if "application/json" not in content:
            # Files (a vector tile, a GeoPackage, Parquet) have no JSON example to give;
            # their media types say what comes back.
            assert set(content) <= BINARY_ANSWERS, (method, path, set(content))
            continue
        media = content["application/json"]
        assert "example" in media, (method, path)
        schema = {**media["schema"], "components": spec["components"]}
        jsonschema.validate(media["example"], schema)


@pytest.mark.parametrize("status", sorted(ERROR_RESPONSES))
def test_every_public_v1_operation_documents_its_error_answers(
    spec: dict[str, Any], status: str
) -> None:
    error_schema = {"$ref": "#/components/schemas/ErrorOut", "components": spec["components"]}
    for method, path, operation in public_operations(spec):
        if not path.startswith("/v1/"):
            continue
        answer = operation["responses"][status]
        body = answer["content"]["application/json"]
        assert body["schema"] == {"$ref": "#/components/schemas/ErrorOut"}, (method, path)
        jsonschema.validate(body["example"], error_schema)
        assert answer["description"], (method, path)
