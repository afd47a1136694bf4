"""Schemathesis over the served OpenAPI spec, on both stores: every operation gets
generated requests (valid and invalid); no server error, no response off the spec."""

from __future__ import annotations

from typing import Any

import schemathesis
from fastapi import FastAPI
from fastapi.testclient import TestClient
from hypothesis import HealthCheck, given, settings
from schemathesis import GenerationMode
from schemathesis.checks import positive_data_acceptance
from schemathesis.config import SchemathesisConfig
from schemathesis.core.result import Err

from api.app import create_app
from geo.package_data import REFERENCE_DIR
from jzmap.application.demo import generate_demo
from jzmap.settings import Settings
from providers.store import ProviderStore
from providers.stores import Backend

EXAMPLES_PER_OPERATION = 40

# A request the schema forbids must be refused: schemathesis' own list of refusals, plus
# 413, which a body over its route's byte cap gets before it is parsed (hostile input
# costs little). Without it an over-long report text read as "accepted".
_CONFIG = SchemathesisConfig.from_dict(
    {
        "checks": {
            "negative_data_rejection": {
                "expected-statuses": [
                    "400", "401", "403", "404", "405", "406", "409", "413", "415", "422",
                    "428", "429", "5xx",
                ]
            }
        }
    }
)  # fmt: skip


def _fill(store: ProviderStore) -> ProviderStore:
    store.delete_all()
    for chunk in generate_demo(REFERENCE_DIR, companies=60):
        store.upsert(chunk)
    return store


def _fuzz(app: FastAPI) -> dict[str, int]:
    """Run every operation's generated cases; returns how many each got."""
    schema = schemathesis.openapi.from_asgi("/openapi.json", app, config=_CONFIG)
    tried: dict[str, int] = {}
    # TestClient runs the app's lifespan (it puts the store on the app) for the calls
    # schemathesis makes through its own ASGI transport.
    with TestClient(app):
        for result in schema.get_all_operations():
            if isinstance(result, Err):
                raise result.err()  # the spec itself is broken for this operation
            operation = result.ok()
            tried[operation.label] = 0
            _fuzz_operation(operation, tried)
    return tried


def _fuzz_operation(
    operation: schemathesis.APIOperation[Any, Any, Any, Any], tried: dict[str, int]
) -> None:
    # Schema-valid requests and requests that break the schema on purpose.
    strategy = operation.as_strategy(GenerationMode.POSITIVE) | operation.as_strategy(
        GenerationMode.NEGATIVE
    )

    @given(case=strategy)
    @settings(
        max_examples=EXAMPLES_PER_OPERATION,
        deadline=None,
        suppress_health_check=list(HealthCheck),
        database=None,
    )
    def check(case: schemathesis.Case[Any]) -> None:
        tried[operation.label] += 1
        # Positive-data acceptance is left out: a schema-valid request may still break a
        # rule the schema cannot state (a bbox whose west is east of its east); the
        # answer is then a documented 422, which is what the other checks verify.
        case.call_and_validate(excluded_checks=[positive_data_acceptance])

    check()


def test_the_api_conforms_to_its_spec(backend: Backend) -> None:
    _fill(backend.store)
    tried = _fuzz(create_app(Settings(), backend=backend))
    print(
        f"schemathesis, {backend.kind}: {sum(tried.values())} requests over {len(tried)} operations"
    )
    assert all(tried.values()), tried


def test_the_spec_documents_the_items_of_admin_batches(embedded_backend: Backend) -> None:
    """Batches are validated item by item (a bad item is rejected alone), yet the spec
    still says what an item is, so clients and schemathesis can build good ones."""
    spec = create_app(Settings(), backend=embedded_backend).openapi()
    schemas = spec["components"]["schemas"]

    def body(path: str) -> dict[str, Any]:
        ref = spec["paths"][path]["post"]["requestBody"]["content"]["application/json"]
        name = ref["schema"]["$ref"].rsplit("/", 1)[1]
        result: dict[str, Any] = schemas[name]
        return result

    items = body("/v1/admin/evaluations")["properties"]["evaluations"]["items"]
    kinds = {"review": "ReviewIn", "complaint": "ComplaintIn", "visit": "VisitIn"}
    assert [r["$ref"] for r in items["oneOf"]] == [
        f"#/components/schemas/{kinds[k]}" for k in ("review", "complaint", "visit")
    ]
    assert items["discriminator"]["propertyName"] == "type"
    assert items["discriminator"]["mapping"] == {
        k: f"#/components/schemas/{v}" for k, v in kinds.items()
    }
    assert set(kinds.values()) <= set(schemas)
    assert schemas["ReviewIn"]["required"] == ["id", "subject", "type", "at", "stars"]

    person = body("/v1/admin/practitioners")["properties"]["practitioners"]["items"]
    assert person["title"] == "PractitionerIn" and person["additionalProperties"] is False
    assert person["required"] == ["id", "name", "id_number"]
    assert person["properties"]["health_certificate"] == {"$ref": "#/components/schemas/CheckIn"}
    assert {"CheckIn", "BlacklistingIn"} <= set(schemas)
