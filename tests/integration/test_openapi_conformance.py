"""The OpenAPI document tells the truth: a schema-conformance fuzzer (schemathesis) drives every
`/v1` operation in-process with an admin token, valid and invalid inputs alike, and finds no
server error, no undocumented status, content type or body. The document itself declares a
maximum length for every string a request can carry and a problem answer for every status.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import schemathesis
from fastapi import FastAPI
from hypothesis import HealthCheck, given, settings
from hypothesis.errors import Unsatisfiable
from schemathesis.checks import not_a_server_error
from schemathesis.generation.modes import GenerationMode
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from inkbridge.api.app import create_app
from inkbridge.bootstrap import Container, bootstrap
from inkbridge.services.tokens import create_token
from tests.support.builders import make_settings

CHECKS = [
    not_a_server_error,
    status_code_conformance,
    content_type_conformance,
    response_schema_conformance,
]


@pytest.fixture(scope="module")
def wired(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Container, str]]:
    tmp: Path = tmp_path_factory.mktemp("openapi")
    container = bootstrap(make_settings(tmp, f"sqlite:///{tmp}/default.db"), auto_migrate=True)
    _, token = create_token(container.databases, "fuzzer", ["admin"])
    yield container, token
    container.databases.dispose()


@pytest.fixture(scope="module")
def app(wired: tuple[Container, str]) -> Any:
    return create_app(wired[0])


@pytest.fixture(scope="module")
def document(app: Any) -> dict[str, Any]:
    framework = app.app
    while not isinstance(framework, FastAPI):  # the access log and body limits wrap it
        framework = framework.app
    document: dict[str, Any] = framework.openapi()
    return document


# Positive (valid) and negative (schema-violating) inputs for each operation. The generator is
# driven directly with Hypothesis: schemathesis' own pytest plugin does not load under pytest 9.
MODES = (GenerationMode.POSITIVE, GenerationMode.NEGATIVE)
EXAMPLES_PER_MODE = 8


def test_every_v1_answer_is_documented(app: Any, wired: tuple[Container, str]) -> None:
    _, token = wired
    auth = {"Authorization": f"Bearer {token}"}
    api = schemathesis.openapi.from_asgi("/openapi.json", app).include(path_regex="^/v1/")
    operations = [result.ok() for result in api.get_all_operations()]
    assert len(operations) >= 20  # every /v1 operation, not a silently empty run
    negative_runs = 0
    for operation in operations:
        for mode in MODES:

            @given(case=operation.as_strategy(generation_mode=mode))
            @settings(
                max_examples=EXAMPLES_PER_MODE,
                deadline=None,
                derandomize=True,
                database=None,
                suppress_health_check=list(HealthCheck),
            )
            def answers_as_documented(case: Any) -> None:
                case.call_and_validate(headers=auth, checks=CHECKS)

            try:
                answers_as_documented()
            except Unsatisfiable:
                # Nothing to make invalid: no body and only free-form path strings.
                assert mode is GenerationMode.NEGATIVE, operation.label
                continue
            negative_runs += mode is GenerationMode.NEGATIVE
    assert negative_runs >= len(operations) // 2


def _strings(schema_node: Any, where: str, components: dict[str, Any]) -> Iterator[tuple[str, Any]]:
    """Every string schema reachable from ``schema_node``, with a path naming it."""
    if not isinstance(schema_node, dict):
        return
    if "$ref" in schema_node:
        name = schema_node["$ref"].rsplit("/", 1)[-1]
        yield from _strings(components[name], f"{where}<{name}>", components)
        return
    free_text = "enum" not in schema_node and schema_node.get("format") not in {"date-time", "date"}
    if schema_node.get("type") == "string" and free_text:
        yield where, schema_node
    for key in ("anyOf", "oneOf", "allOf"):
        for index, option in enumerate(schema_node.get(key, [])):
            yield from _strings(option, f"{where}|{index}", components)
    for name, sub in schema_node.get("properties", {}).items():
        yield from _strings(sub, f"{where}.{name}", components)
    if "items" in schema_node:
        yield from _strings(schema_node["items"], f"{where}[]", components)
    extra = schema_node.get("additionalProperties")
    if isinstance(extra, dict):
        yield from _strings(extra, f"{where}{{}}", components)
    names = schema_node.get("propertyNames")
    if isinstance(names, dict):
        yield from _strings(names, f"{where}{{key}}", components)


def test_every_string_a_v1_request_carries_has_a_documented_maximum_length(
    document: dict[str, Any],
) -> None:
    components = document["components"]["schemas"]
    unbounded = []
    for path, item in document["paths"].items():
        if not path.startswith("/v1/"):
            continue
        for method, operation in item.items():
            label = f"{method.upper()} {path}"
            for parameter in operation.get("parameters", []):
                if parameter["in"] == "path":
                    continue  # answered 404 when unknown, never stored
                for where, node in _strings(parameter["schema"], parameter["name"], components):
                    if "maxLength" not in node:
                        unbounded.append(f"{label} {where}")
            for content in operation.get("requestBody", {}).get("content", {}).values():
                for where, node in _strings(content["schema"], "body", components):
                    if "maxLength" not in node and "pattern" not in node:
                        unbounded.append(f"{label} {where}")
    assert unbounded == []


def test_every_v1_error_answer_is_a_documented_problem(document: dict[str, Any]) -> None:
    problem = {"schema": {"$ref": "#/components/schemas/Problem"}}
    for path, item in document["paths"].items():
        if not path.startswith("/v1/"):
            continue
        for method, operation in item.items():
            responses = operation["responses"]
            assert {"401", "403", "404", "422"} <= set(responses), (method, path)
            if "requestBody" in operation:
                assert {"400", "413", "415"} <= set(responses), (method, path)
            for status, answer in responses.items():
                if not status.startswith("2"):
                    assert answer["content"] == {"application/problem+json": problem}
    assert "HTTPValidationError" not in document["components"]["schemas"]
