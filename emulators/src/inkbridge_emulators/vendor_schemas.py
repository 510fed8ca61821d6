"""The vendors' published schemas as validators, for the emulators and their tests.

Three sources, all read from where they live (``shared/vendor``; never copied into the repo):

- DocuSign's Swagger 2 file: a named ``definitions`` entry (``envelopeDefinition``, ...).
- Dropbox Sign's OpenAPI 3.0 file: a named ``components/schemas`` entry, with OpenAPI's
  ``nullable`` turned into JSON Schema's ``null`` type.
- DocuSign's Connect "schema", which is a sample message rather than a JSON Schema: a strict
  schema is derived from its shape (same keys, same JSON types, nothing else).

``strict`` adds ``additionalProperties: false`` to every object schema, so a misspelled field in
one of our requests fails here, where the real vendor would silently ignore it.

jsonschema and PyYAML are development dependencies, so they are imported only when a validator is
asked for; an emulator without schema files needs neither.
"""

from __future__ import annotations

import copy
import functools
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from inkbridge.errors import ConfigError

# How many validation problems one answer reports: enough to fix a request, short to read.
MAX_REPORTED_ERRORS = 5


@dataclass(frozen=True)
class SchemaValidator:
    """One schema, ready to check instances against."""

    name: str
    validator: Any  # a jsonschema validator; untyped, as jsonschema ships no type hints

    def problems(self, instance: Any) -> list[str]:
        """Readable problems (``path: message``), empty when the instance is valid."""
        found = sorted(self.validator.iter_errors(instance), key=lambda e: list(e.path))
        return [
            f"{'/'.join(str(p) for p in error.path) or '(root)'}: {error.message[:300]}"
            for error in found[:MAX_REPORTED_ERRORS]
        ]


def _draft4(schema: dict[str, Any]) -> Any:
    try:
        import jsonschema  # type: ignore[import-untyped]  # no stubs; a dev dependency
    except ImportError:
        raise ConfigError("validating vendor schemas needs the 'jsonschema' package") from None
    return jsonschema.Draft4Validator(schema)


@functools.lru_cache(maxsize=8)
def _json_file(path: str) -> Any:
    try:
        return json.loads(Path(path).read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise ConfigError(f"cannot read vendor schema {path}: {type(exc).__name__}") from None


@functools.lru_cache(maxsize=4)
def _yaml_file(path: str) -> Any:
    try:
        import yaml  # type: ignore[import-untyped]  # no stubs; a dev dependency
    except ImportError:
        raise ConfigError("reading Dropbox Sign's OpenAPI file needs 'pyyaml'") from None
    try:
        return yaml.safe_load(Path(path).read_text(encoding="utf-8"))
    except (OSError, yaml.YAMLError) as exc:
        raise ConfigError(f"cannot read vendor schema {path}: {type(exc).__name__}") from None


def _strict(node: Any, exempt: frozenset[int] = frozenset()) -> Any:
    """A copy where object schemas with ``properties`` allow no other properties."""
    if isinstance(node, list):
        return [_strict(item, exempt) for item in node]
    if not isinstance(node, dict):
        return node
    properties = node.get("properties")
    out = {key: _strict(value, exempt) for key, value in node.items() if key != "properties"}
    if isinstance(properties, dict):
        # The keys of ``properties`` are field names, not schemas: only their values recurse.
        out["properties"] = {name: _strict(value, exempt) for name, value in properties.items()}
        if "additionalProperties" not in node and id(node) not in exempt:
            out["additionalProperties"] = False
    elif properties is not None:
        out["properties"] = properties
    return out


@functools.lru_cache(maxsize=16)
def swagger_definition(path: Path, name: str, *, strict: bool = True) -> SchemaValidator:
    """A validator for ``#/definitions/{name}`` of a Swagger 2 file (DocuSign eSignature)."""
    document = _json_file(str(path))
    definitions = document.get("definitions") if isinstance(document, dict) else None
    if not isinstance(definitions, dict) or name not in definitions:
        raise ConfigError(f"{path.name} has no definition {name!r}")
    if strict:
        definitions = _strict(definitions)
    # $ref resolves against this root document, so every nested '#/definitions/...' works.
    return SchemaValidator(
        name, _draft4({"definitions": definitions, "$ref": f"#/definitions/{name}"})
    )


def _nullable_to_null(node: Any) -> Any:
    """OpenAPI 3.0's ``nullable: true`` in JSON Schema terms (jsonschema ignores the former)."""
    if isinstance(node, list):
        return [_nullable_to_null(item) for item in node]
    if not isinstance(node, dict):
        return node
    out = {key: _nullable_to_null(value) for key, value in node.items() if key != "nullable"}
    if node.get("nullable") is True:
        if isinstance(out.get("type"), str):
            out["type"] = [out["type"], "null"]
            if isinstance(out.get("enum"), list):
                out["enum"] = [*out["enum"], None]
        else:
            return {"anyOf": [out, {"type": "null"}]}
    return out


def _all_of_targets(schemas: dict[str, Any]) -> frozenset[int]:
    """Schemas that other schemas extend through ``allOf``: they must stay open, or the
    extension's own properties would be rejected by its base."""
    targets: set[int] = set()

    def walk(node: Any) -> None:
        if isinstance(node, list):
            for item in node:
                walk(item)
        elif isinstance(node, dict):
            for part in node.get("allOf") or []:
                ref = part.get("$ref", "") if isinstance(part, dict) else ""
                target = schemas.get(ref.rsplit("/", 1)[-1]) if ref else part
                if isinstance(target, dict):
                    targets.add(id(target))
            for value in node.values():
                walk(value)

    walk(schemas)
    return frozenset(targets)


@functools.lru_cache(maxsize=16)
def openapi_schema(path: Path, name: str, *, strict: bool = True) -> SchemaValidator:
    """A validator for ``#/components/schemas/{name}`` of an OpenAPI 3.0 file (Dropbox Sign)."""
    document = _yaml_file(str(path))
    schemas = (document or {}).get("components", {}).get("schemas")
    if not isinstance(schemas, dict) or name not in schemas:
        raise ConfigError(f"{path.name} has no schema {name!r}")
    converted = _nullable_to_null(copy.deepcopy(schemas))
    if strict:
        converted = _strict(converted, _all_of_targets(converted))
    root = {"components": {"schemas": converted}, "$ref": f"#/components/schemas/{name}"}
    return SchemaValidator(name, _draft4(root))


def _schema_of_sample(sample: Any) -> dict[str, Any]:
    if isinstance(sample, dict):
        return {
            "type": "object",
            "properties": {key: _schema_of_sample(value) for key, value in sample.items()},
            "additionalProperties": False,
        }
    if isinstance(sample, list):
        items: dict[str, Any] = {}
        for item in sample:
            items = _merge(items, _schema_of_sample(item))
        return {"type": "array", "items": items} if items else {"type": "array"}
    if isinstance(sample, bool):
        return {"type": "boolean"}
    if isinstance(sample, int | float):
        # The sample's numbers (retryCount 0, configurationId 12345) are counts and ids.
        return {"type": "integer"} if isinstance(sample, int) else {"type": "number"}
    if isinstance(sample, str):
        return {"type": "string"}
    return {}  # null in the sample: any value


def _merge(left: dict[str, Any], right: dict[str, Any]) -> dict[str, Any]:
    """Two item shapes of one sample array as one (the sample lists partial items)."""
    if not left:
        return right
    if left.get("type") == right.get("type") == "object":
        properties = dict(left["properties"])
        for key, value in right["properties"].items():
            properties[key] = _merge(properties.get(key, {}), value)
        return {**left, "properties": properties}
    return left


@functools.lru_cache(maxsize=4)
def sample_message(path: Path) -> SchemaValidator:
    """A validator for messages shaped like a published sample (DocuSign Connect JSON SIM).

    Should the vendor ever publish a real JSON Schema at that path, it is used as it is.
    """
    document = _json_file(str(path))
    if isinstance(document, dict) and ("$schema" in document or "properties" in document):
        return SchemaValidator(path.name, _draft4(document))
    return SchemaValidator(path.name, _draft4(_schema_of_sample(document)))


def openapi_request_body(
    path: Path, api_path: str, method: str = "post", media_type: str = "application/json"
) -> SchemaValidator:
    """A validator for the request body an OpenAPI operation declares for ``media_type``."""
    document = _yaml_file(str(path))
    operation = ((document or {}).get("paths", {}).get(api_path) or {}).get(method) or {}
    content = (operation.get("requestBody") or {}).get("content") or {}
    ref = ((content.get(media_type) or {}).get("schema") or {}).get("$ref", "")
    prefix = "#/components/schemas/"
    if not ref.startswith(prefix):
        raise ConfigError(f"{path.name}: {method.upper()} {api_path} declares no {media_type} body")
    return openapi_schema(path, ref.removeprefix(prefix))
