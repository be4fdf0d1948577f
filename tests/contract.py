"""Baseten's published OpenAPI as the judge of everything that crosses the Baseten transport.

`ContractTransport` wraps the simulator: each request the client builds (path, query, body, auth scheme)
and each answer the simulator gives is checked against `openapi/baseten_chains_openapi.json`, the spec
extracted from Baseten's own Go SDK (MIT licence); the endpoints only Baseten's newer published spec has
(the audit log) are checked against that copy, `openapi/baseten_chains_openapi_2026-08.json` (MIT
licence). Checks are strict: an object may not carry a property its schema does not define, so neither
the client nor the simulator can invent fields."""

from __future__ import annotations

import copy
import json
import re
import threading
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

import httpx
from jsonschema import Draft202012Validator, FormatChecker

SPEC_PATH = Path(__file__).parent / "openapi" / "baseten_chains_openapi.json"
SPEC: dict[str, Any] = json.loads(SPEC_PATH.read_text())
NEWER_SPEC_PATH = Path(__file__).parent / "openapi" / "baseten_chains_openapi_2026-08.json"
NEWER_SPEC: dict[str, Any] = json.loads(NEWER_SPEC_PATH.read_text())

_formats = FormatChecker()


@_formats.checks("date-time", raises=ValueError)
def _date_time(value: object) -> bool:
    if not isinstance(value, str):
        return True
    parsed = datetime.fromisoformat(value.replace("Z", "+00:00"))
    return parsed.tzinfo is not None  # RFC 3339 needs an offset


def _strict(node: Any) -> Any:
    """Every object schema that lists its properties allows no others."""
    if isinstance(node, dict):
        node = {k: _strict(v) for k, v in node.items()}
        if "properties" in node and "additionalProperties" not in node:
            node["additionalProperties"] = False
        return node
    if isinstance(node, list):
        return [_strict(v) for v in node]
    return node


_COMPONENTS = {id(SPEC): _strict(copy.deepcopy(SPEC["components"])), id(NEWER_SPEC): _strict(copy.deepcopy(NEWER_SPEC["components"]))}


def _validator(schema: dict[str, Any], spec: dict[str, Any] = SPEC) -> Draft202012Validator:
    # Refs are "#/components/...": resolve them against a root that carries the components.
    return Draft202012Validator({**_strict(schema), "components": _COMPONENTS[id(spec)]}, format_checker=_formats)


def _resolve(node: dict[str, Any], spec: dict[str, Any] = SPEC) -> dict[str, Any]:
    while "$ref" in node:
        target: Any = spec
        for part in node["$ref"].removeprefix("#/").split("/"):
            target = target[part]
        node = target
    return node


@dataclass
class Operation:
    method: str
    template: str
    pattern: re.Pattern[str]
    parameters: dict[str, dict[str, Any]]  # query parameters by name
    body: Draft202012Validator | None
    ok: Draft202012Validator | None
    spec: dict[str, Any]  # the published spec the endpoint is checked against


def _paths() -> list[tuple[str, dict[str, Any], dict[str, Any]]]:
    """Every endpoint of the Go SDK's spec, and those only the newer published spec has."""
    ours = [(t, item, SPEC) for t, item in SPEC["paths"].items()]
    return ours + [(t, item, NEWER_SPEC) for t, item in NEWER_SPEC["paths"].items() if t not in SPEC["paths"]]


def _operations() -> list[Operation]:
    found = []
    for template, item, spec in _paths():
        shared = [_resolve(p, spec) for p in item.get("parameters", [])]
        for method, op in item.items():
            if method == "parameters":
                continue
            params = shared + [_resolve(p, spec) for p in op.get("parameters", [])]
            query = {p["name"]: p for p in params if p["in"] == "query"}
            body_schema = (op.get("requestBody") or {}).get("content", {}).get("application/json", {}).get("schema")
            ok_schema = op["responses"].get("200", {}).get("content", {}).get("application/json", {}).get("schema")
            pattern = re.compile("^" + re.sub(r"\{\w+\}", "[^/]+", template) + "$")
            found.append(
                Operation(
                    method.upper(),
                    template,
                    pattern,
                    query,
                    _validator(body_schema, spec) if body_schema else None,
                    _validator(ok_schema, spec) if ok_schema else None,
                    spec,
                )
            )
    # Literal paths first, so ".../environments/{env_name}" never swallows a longer literal route.
    return sorted(found, key=lambda o: -len(o.template))


OPERATIONS = _operations()
_SEGMENT = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.\-]*$")


def operation_for(method: str, path: str) -> Operation | None:
    return next((o for o in OPERATIONS if o.method == method and o.pattern.match(path)), None)


def _errors(validator: Draft202012Validator, value: Any) -> list[str]:
    return [f"{'/'.join(str(p) for p in e.absolute_path) or '(root)'}: {e.message}" for e in validator.iter_errors(value)]


def _query_value(raw: str, schema: dict[str, Any], spec: dict[str, Any]) -> Any:
    """Query strings carry text; read integers as the schema's integers."""
    options = schema.get("anyOf", [schema])
    if any(_resolve(o, spec).get("type") == "integer" for o in options):
        try:
            return int(raw)
        except ValueError:
            return raw
    return raw


def check_request(request: httpx.Request) -> list[str]:
    method, path = request.method, request.url.path
    op = operation_for(method, path)
    where = f"{method} {path}"
    if op is None:
        return [f"{where}: no such endpoint in Baseten's OpenAPI"]
    problems: list[str] = []
    for segment in path.split("/")[1:]:
        if not _SEGMENT.match(segment):
            problems.append(f"{where}: path segment {segment!r} is not an id")
    scheme = request.headers.get("Authorization", "").partition(" ")[0]
    if scheme != "Bearer":
        problems.append(f"{where}: Authorization scheme {scheme!r}, the OpenAPI names Bearer")
    for name, raw in request.url.params.multi_items():
        parameter = op.parameters.get(name)
        if parameter is None:
            problems.append(f"{where}: query parameter {name!r} is not defined")
            continue
        schema = parameter["schema"]
        if schema.get("type") == "array":
            schema = schema["items"]
        value = _query_value(raw, schema, op.spec)
        problems += [f"{where}: query {name}: {e}" for e in _errors(_validator(schema, op.spec), value)]
    content = request.content
    if op.body is None:
        if content:
            problems.append(f"{where}: sends a body the endpoint does not take")
    else:
        try:
            body = json.loads(content)
        except ValueError:
            return [*problems, f"{where}: body is not JSON"]
        problems += [f"{where}: request body {e}" for e in _errors(op.body, body)]
    return problems


def check_response(request: httpx.Request, response: httpx.Response) -> list[str]:
    where = f"{request.method} {request.url.path} -> {response.status_code}"
    try:
        body = response.json()
    except ValueError:
        return [f"{where}: answer is not JSON"]
    if response.status_code == 200:
        op = operation_for(request.method, request.url.path)
        if op is None or op.ok is None:
            return []
        return [f"{where}: {e}" for e in _errors(op.ok, body)]
    # Errors are not in the OpenAPI; Baseten's docs show a JSON object, with retry_after on 429.
    if not isinstance(body, dict):
        return [f"{where}: error body is not a JSON object"]
    if response.status_code == 429 and not isinstance(body.get("retry_after"), int | float):
        return [f"{where}: a 429 without retry_after"]
    return []


@dataclass
class Exchange:
    method: str
    template: str
    status: int


@dataclass
class ContractTransport(httpx.BaseTransport):
    """Passes every request to `inner` and records what broke the published contract, either way."""

    inner: httpx.BaseTransport
    exchanges: list[Exchange] = field(default_factory=list)
    violations: list[str] = field(default_factory=list)
    # Set by tests that play a newer Baseten (statuses it may add later): its answers are not checked.
    newer_baseten: bool = False
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        problems = check_request(request)
        response = self.inner.handle_request(request)
        response.read()
        if not self.newer_baseten:
            problems += check_response(request, response)
        op = operation_for(request.method, request.url.path)
        with self._lock:
            self.violations += problems
            self.exchanges.append(Exchange(request.method, op.template if op else request.url.path, response.status_code))
        return response
