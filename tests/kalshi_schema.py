"""Kalshi's published schemas (OpenAPI 3.0 and AsyncAPI 3.0) as JSON-Schema validators for tests.

The spec files are copies kept under ``tests/data/kalshi``. For a REST operation the newest
per-endpoint OpenAPI fragment (v3.28) that describes it wins over the complete v3.13 spec.

OpenAPI 3.0 is not plain JSON Schema; before validating, each document is rewritten:

* ``nullable: true`` admits ``null`` (also beside a ``$ref``, whose siblings JSON Schema
  draft 4 would otherwise ignore);
* ``strict`` (the default) closes every object that lists ``properties`` and says nothing of
  ``additionalProperties`` and is not part of an ``allOf``, so a field the spec never names
  is an error: the emulator must not invent fields.

The AsyncAPI document's schemas use OpenAPI's ``nullable: true`` too; it admits ``null`` there
as well. The AsyncAPI ticker pattern ``^[A-Z0-9-]+$`` rejects the spec's own examples and every
KXTSAW ticker (a known defect of the document); it is widened to ``^[A-Z0-9.-]+$``.
"""

from __future__ import annotations

import copy
import functools
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml
from jsonschema import Draft4Validator, Draft7Validator
from referencing import Registry
from referencing.jsonschema import DRAFT4, DRAFT7


DATA = Path(__file__).parent / "data" / "kalshi"
BASE_SPEC = DATA / "openapi-v3.13.0_2026-04-20.yaml"
FRAGMENTS = DATA / "openapi-fragments-2026-08"
ASYNCAPI = DATA / "asyncapi-v2.0.0_docs-mirror-2026-08-22.yaml"
_METHODS = ("get", "post", "put", "delete", "patch")


def _openapi_to_jsonschema(node: Any, *, strict: bool, in_all_of: bool = False) -> Any:
    """Rewrite an OpenAPI 3.0 schema tree into JSON Schema draft 4 (see module docstring)."""
    if isinstance(node, list):
        return [_openapi_to_jsonschema(n, strict=strict, in_all_of=in_all_of) for n in node]
    if not isinstance(node, dict):
        return node
    out: dict[str, Any] = {}
    for key, value in node.items():
        if key.startswith("x-") or key in ("example", "examples", "nullable", "discriminator",
                                          "xml", "externalDocs", "deprecated", "readOnly",
                                          "writeOnly"):
            continue
        if key == "properties" and isinstance(value, dict):
            out[key] = {k: _openapi_to_jsonschema(v, strict=strict) for k, v in value.items()}
        elif key == "allOf":
            out[key] = [_openapi_to_jsonschema(v, strict=strict, in_all_of=True) for v in value]
        else:
            out[key] = _openapi_to_jsonschema(value, strict=strict)
    if (strict and not in_all_of and "properties" in out and "additionalProperties" not in out
            and "allOf" not in out):
        out["additionalProperties"] = False
    if node.get("nullable") is True:
        if "$ref" in out:
            ref = out.pop("$ref")
            out = {"anyOf": [{"$ref": ref}, {"type": "null"}], **out}
        elif "type" in out:
            out["type"] = [out["type"], "null"]
            if "enum" in out:
                out["enum"] = [*out["enum"], None]
        else:
            out = {"anyOf": [out, {"type": "null"}]}
    return out


def _load(path: Path) -> dict[str, Any]:
    loader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
    with path.open(encoding="utf-8") as f:
        doc = yaml.load(f, Loader=loader)  # a safe loader (C if available)
    assert isinstance(doc, dict)
    return doc


def _template_regex(template: str) -> re.Pattern[str]:
    parts = re.split(r"(\{[^}]+\})", template)
    pattern = "".join("[^/]+" if p.startswith("{") else re.escape(p) for p in parts)
    return re.compile(f"^{pattern}$")


@dataclass(frozen=True, slots=True)
class Operation:
    """One REST operation as a spec document describes it."""

    source: str
    method: str
    template: str
    doc_uri: str
    pointer: str
    operation: dict[str, Any]


class OpenApi:
    """REST response validation against the newest spec text describing each operation."""

    def __init__(self, *, strict: bool = True) -> None:
        """Load the v3.13 spec and the 2026-08 fragments (fragments first, so they win)."""
        self._docs: list[tuple[str, dict[str, Any]]] = []
        for path in sorted(FRAGMENTS.glob("*.yaml")):
            self._docs.append((path.name, _load(path)))
        self._docs.append((BASE_SPEC.name, _load(BASE_SPEC)))
        registry: Registry = Registry()
        self._converted: dict[str, dict[str, Any]] = {}
        for name, doc in self._docs:
            converted = _openapi_to_jsonschema(copy.deepcopy(doc), strict=strict)
            self._converted[name] = converted
            registry = registry.with_resource(f"urn:kalshi:{name}",
                                              DRAFT4.create_resource(converted))
        self._registry = registry

    def operation(self, method: str, path: str) -> Operation:
        """Return the operation serving ``method path`` (path below ``/trade-api/v2``).

        A literal template beats one with parameters (``/markets/trades`` vs
        ``/markets/{ticker}``); a fragment beats the base spec.

        Raises:
            LookupError: no document describes it.
        """
        method = method.lower()
        best: tuple[int, int, Operation] | None = None
        for rank, (name, doc) in enumerate(self._docs):
            for template, item in doc.get("paths", {}).items():
                if method not in item or not _template_regex(template).match(path):
                    continue
                score = (template.count("{"), rank)
                op = Operation(
                    source=name, method=method, template=template, doc_uri=f"urn:kalshi:{name}",
                    pointer="/paths/" + template.replace("~", "~0").replace("/", "~1")
                    + f"/{method}", operation=item[method],
                )
                if best is None or score < (best[0], best[1]):
                    best = (score[0], score[1], op)
        if best is None:
            raise LookupError(f"no spec document describes {method.upper()} {path}")
        return best[2]

    def response_schema_ref(self, op: Operation, status: int) -> str | None:
        """Return a ``$ref`` URI to the JSON schema of ``op``'s ``status`` response.

        None when the spec documents that status without a body schema.

        Raises:
            LookupError: the operation does not document that status.
        """
        responses = op.operation.get("responses", {})
        response = responses.get(str(status))
        if response is None:
            raise LookupError(f"{op.method.upper()} {op.template} documents no {status} "
                              f"(has {sorted(responses)}) in {op.source}")
        base = op.pointer + f"/responses/{status}"
        if "$ref" in response:
            base = response["$ref"].lstrip("#")
            response = self._resolve(op.source, base)
        if "application/json" not in response.get("content", {}):
            return None
        return f"{op.doc_uri}#{base}/content/application~1json/schema"

    def _resolve(self, source: str, pointer: str) -> dict[str, Any]:
        node: Any = dict(self._docs)[source]
        for part in pointer.strip("/").split("/"):
            node = node[part.replace("~1", "/").replace("~0", "~")]
        assert isinstance(node, dict)
        return node

    def errors(self, method: str, path: str, status: int, body: Any) -> list[str]:
        """Return every schema violation of a response body (empty when it conforms)."""
        op = self.operation(method, path)
        return self.errors_for(op, status, body)

    def errors_for(self, op: Operation, status: int, body: Any) -> list[str]:
        """Return every violation of ``body`` as ``op``'s ``status`` response."""
        ref = self.response_schema_ref(op, status)
        if ref is None:
            return []
        validator = self._validator(ref)
        return [
            f"{op.method.upper()} {op.template} [{op.source}] "
            f"at {'/'.join(map(str, e.absolute_path)) or '<root>'}: {e.message}"
            for e in validator.iter_errors(body)
        ]

    def schema_errors(self, source: str, schema_name: str, body: Any) -> list[str]:
        """Return the violations of ``body`` against ``components/schemas/<schema_name>``."""
        validator = self._validator(f"urn:kalshi:{source}#/components/schemas/{schema_name}")
        return [f"{schema_name} at {'/'.join(map(str, e.absolute_path)) or '<root>'}: "
                f"{e.message}" for e in validator.iter_errors(body)]

    @functools.lru_cache(maxsize=512)  # noqa: B019 - one instance per test session
    def _validator(self, ref: str) -> Draft4Validator:
        return Draft4Validator({"$ref": ref}, registry=self._registry)


class AsyncApi:
    """Websocket message validation against the AsyncAPI document, keyed by message ``type``."""

    def __init__(self, *, strict: bool = True) -> None:
        """Load the AsyncAPI document and index its server-to-client payloads by ``type``."""
        doc = _load(ASYNCAPI)
        schemas = doc["components"]["schemas"]
        schemas["marketTicker"]["pattern"] = "^[A-Z0-9.-]+$"
        converted = _close_objects(copy.deepcopy(doc)) if strict else doc
        self._doc = converted
        self._registry: Registry = Registry().with_resource(
            "urn:kalshi:asyncapi", DRAFT7.create_resource(converted))
        self._by_type: dict[str, list[str]] = {}
        for name, schema in schemas.items():
            type_schema = schema.get("properties", {}).get("type", {})
            const = type_schema.get("const")
            if name.endswith("Payload") and isinstance(const, str) and "Command" not in name:
                self._by_type.setdefault(const, []).append(name)

    def payload_names(self, message_type: str) -> list[str]:
        """Return the payload schemas documented for a message ``type``."""
        return list(self._by_type.get(message_type, []))

    def errors(self, message: Any) -> list[str]:
        """Return the violations of one server message; [] if any schema of its type fits.

        ``ok`` has two schemas (the subscription ack and the ``list_subscriptions`` reply).
        """
        if not isinstance(message, dict) or not isinstance(message.get("type"), str):
            return [f"not a typed message: {message!r}"]
        names = self._by_type.get(message["type"])
        if not names:
            return [f"type {message['type']!r} is not documented"]
        found: list[str] = []
        for name in names:
            validator = Draft7Validator({"$ref": f"urn:kalshi:asyncapi#/components/schemas/{name}"},
                                        registry=self._registry)
            errs = [f"{name} at {'/'.join(map(str, e.absolute_path)) or '<root>'}: {e.message}"
                    for e in validator.iter_errors(message)]
            if not errs:
                return []
            found.extend(errs)
        return found


@functools.cache
def openapi(*, strict: bool = True) -> OpenApi:
    """Return the (shared, read-only) REST validator."""
    return OpenApi(strict=strict)


@functools.cache
def asyncapi(*, strict: bool = True) -> AsyncApi:
    """Return the (shared, read-only) websocket validator."""
    return AsyncApi(strict=strict)


def _close_objects(node: Any) -> Any:
    """Set ``additionalProperties: false`` on JSON-Schema objects that list their properties."""
    if isinstance(node, list):
        return [_close_objects(n) for n in node]
    if not isinstance(node, dict):
        return node
    out = {k: (_close_objects(v) if k != "properties" else
               {pk: _close_objects(pv) for pk, pv in v.items()}) for k, v in node.items()}
    if ("properties" in out and "additionalProperties" not in out
            and out.get("type") in ("object", None) and "allOf" not in out):
        out["additionalProperties"] = False
    if out.pop("nullable", None) is True and isinstance(out.get("type"), str):
        out["type"] = [out["type"], "null"]  # the AsyncAPI document uses OpenAPI's nullable
    return out


__all__ = [
    "ASYNCAPI", "BASE_SPEC", "DATA", "FRAGMENTS", "AsyncApi", "OpenApi", "Operation", "asyncapi",
    "openapi",
]
