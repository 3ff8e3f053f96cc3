"""An OpenAPI document as plain, frozen data: operations, parameters, bodies, responses.

Everything the gateway needs from a contract is read here once: which
operations exist, where they live, which parameters and media types they
take, which statuses and headers they answer with. Schemas are kept as JSON
Schema (OpenAPI 3.0's `nullable` rewritten into a type list) with their
`#/components/schemas/...` references intact, so `validators.py` can compile
them and the static checker can walk them.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from types import MappingProxyType
from typing import Any

import yaml

from shimgw.errors import ConfigError
from shimgw.files import read_regular

HTTP_METHODS = ("get", "put", "post", "delete", "options", "head", "patch", "trace")
Schema = Mapping[str, Any]


@dataclass(frozen=True, kw_only=True, slots=True)
class ParamSpec:
    name: str
    location: str  # path | query | header | cookie
    required: bool
    schema: Schema

    @property
    def is_array(self) -> bool:
        return self.schema.get("type") == "array"


@dataclass(frozen=True, slots=True)
class HeaderSpec:
    name: str
    required: bool
    schema: Schema


@dataclass(frozen=True, slots=True)
class ResponseSpec:
    key: str  # "200", "4XX" or "default"
    headers: tuple[HeaderSpec, ...]
    content: Mapping[str, Schema | None]  # media type → schema


@dataclass(frozen=True, kw_only=True, slots=True)
class OperationSpec:
    operation_id: str
    method: str  # upper case
    path: str  # template, e.g. /v2/runs/{runId}:cancel
    params: tuple[ParamSpec, ...]
    body_required: bool
    body: Mapping[str, Schema | None]  # media type → schema; empty when no requestBody
    responses: Mapping[str, ResponseSpec]
    secured: bool
    deprecated: bool

    def param(self, location: str, name: str) -> ParamSpec | None:
        for param in self.params:
            if param.location == location and (
                param.name == name or (location == "header" and param.name.lower() == name.lower())
            ):
                return param
        return None

    def response_for(self, status: int) -> ResponseSpec | None:
        """The response a status falls under: exact, then range (4XX), then default."""
        responses = self.responses
        return (
            responses.get(str(status))
            or responses.get(f"{status // 100}XX")
            or responses.get("default")
        )

    @property
    def promised_statuses(self) -> frozenset[int]:
        return frozenset(int(k) for k in self.responses if k.isdigit())


@dataclass(frozen=True, kw_only=True, slots=True)
class Contract:
    name: str
    source: Path
    sha256: str
    openapi: str
    title: str
    version: str
    operations: Mapping[str, OperationSpec]
    schemas: Mapping[str, Schema]  # components.schemas, converted

    def resolve(self, schema: Schema | None) -> Schema:
        """Follow a top-level `$ref` (repeatedly) to the schema it names."""
        seen = 0
        while schema is not None and "$ref" in schema and seen < 32:
            ref = str(schema["$ref"])
            name = ref.rsplit("/", 1)[-1]
            if not ref.startswith("#/components/schemas/") or name not in self.schemas:
                raise ConfigError(self.name, f"unresolvable $ref {ref}")
            schema = self.schemas[name]
            seen += 1
        return schema if schema is not None else {}

    def compilable(self, schema: Schema) -> dict[str, Any]:
        """`schema` as a standalone JSON Schema: its `$ref`s resolve inside it."""
        return {**schema, "components": {"schemas": dict(self.schemas)}}


def load_contract(path: Path, name: str) -> Contract:
    try:
        data = read_regular(path)
    except OSError as exc:
        raise ConfigError(name, f"cannot read {path}: {exc.strerror or exc}") from exc
    try:
        raw = yaml.load(data, Loader=getattr(yaml, "CSafeLoader", yaml.SafeLoader))
    except yaml.YAMLError as exc:
        raise ConfigError(name, f"{path} is not valid YAML: {' '.join(str(exc).split())}") from exc
    if not isinstance(raw, dict) or not str(raw.get("openapi", "")).startswith("3."):
        raise ConfigError(name, f"{path} is not an OpenAPI 3 document")
    return parse_contract(raw, path, name, hashlib.sha256(data).hexdigest())


def parse_contract(raw: dict[str, Any], path: Path, name: str, digest: str = "") -> Contract:
    version = str(raw["openapi"])
    components = raw.get("components") or {}
    convert: _Convert = _convert_30 if version.startswith("3.0") else (lambda s: s)
    schemas = {k: convert(v) for k, v in (components.get("schemas") or {}).items()}
    reader = _OperationReader(_Resolver(components, name), convert, bool(raw.get("security")))
    operations: dict[str, OperationSpec] = {}
    for template, item in (raw.get("paths") or {}).items():
        item = reader.resolver.deref(item)
        shared = [reader.resolver.deref(p) for p in item.get("parameters", [])]
        for method in HTTP_METHODS:
            if method not in item:
                continue
            op_id = item[method].get("operationId")
            if not op_id:
                raise ConfigError(name, f"{method.upper()} {template} has no operationId")
            operations[op_id] = reader.operation(op_id, method, template, item[method], shared)
    info = raw.get("info") or {}
    return Contract(
        name=name,
        source=path,
        sha256=digest,
        openapi=version,
        title=str(info.get("title", "")),
        version=str(info.get("version", "")),
        operations=MappingProxyType(operations),
        schemas=MappingProxyType(schemas),
    )


_Convert = Callable[[Any], Any]


@dataclass(frozen=True, slots=True)
class _OperationReader:
    """Reads one operation of a document: references resolved, schemas in 2020-12 form."""

    resolver: _Resolver
    convert: _Convert
    global_security: bool

    def operation(
        self, op_id: str, method: str, template: str, op: dict[str, Any], shared: list[Any]
    ) -> OperationSpec:
        deref, convert = self.resolver.deref, self.convert
        own = [deref(p) for p in op.get("parameters", [])]
        merged = {(p["in"], p["name"].lower()): p for p in shared + own}
        params = tuple(
            ParamSpec(
                name=p["name"],
                location=p["in"],
                required=bool(p.get("required")),
                schema=convert(p.get("schema") or {}),
            )
            for p in merged.values()
        )
        body = deref(op.get("requestBody") or {})
        responses = {
            str(key).upper() if str(key) != "default" else "default": self.response(key, resp)
            for key, resp in (op.get("responses") or {}).items()
        }
        return OperationSpec(
            operation_id=op_id,
            method=method.upper(),
            path=template,
            params=params,
            body_required=bool(body.get("required")),
            body=self.content(body),
            responses=MappingProxyType(responses),
            secured=bool(op["security"]) if "security" in op else self.global_security,
            deprecated=bool(op.get("deprecated")),
        )

    def response(self, key: Any, raw: Any) -> ResponseSpec:
        resp = self.resolver.deref(raw)
        headers = tuple(
            HeaderSpec(name, bool(h.get("required")), self.convert(h.get("schema") or {}))
            for name, h in (
                (n, self.resolver.deref(h)) for n, h in (resp.get("headers") or {}).items()
            )
        )
        return ResponseSpec(str(key), headers, self.content(resp))

    def content(self, holder: dict[str, Any]) -> Mapping[str, Any]:
        """Media type → schema (None: the media type names no schema)."""
        return MappingProxyType(
            {
                mt: self.convert(m["schema"]) if m and "schema" in m else None
                for mt, m in (holder.get("content") or {}).items()
            }
        )


class _Resolver:
    """Resolves `$ref`s to components other than schemas (parameters, responses, headers)."""

    def __init__(self, components: Mapping[str, Any], name: str) -> None:
        self._components = components
        self._name = name

    def deref(self, node: Any) -> Any:
        for _ in range(32):
            if not isinstance(node, dict) or "$ref" not in node:
                return node
            ref = str(node["$ref"])
            parts = ref.split("/")
            if len(parts) != 4 or parts[:2] != ["#", "components"]:
                raise ConfigError(self._name, f"unsupported $ref {ref}")
            try:
                node = self._components[parts[2]][parts[3]]
            except KeyError:
                raise ConfigError(self._name, f"unresolvable $ref {ref}") from None
        raise ConfigError(self._name, "$ref chain too deep")


def _convert_30(schema: Any) -> Any:
    """OpenAPI 3.0 schema → JSON Schema 2020-12 (the one difference that matters: nullable)."""
    if isinstance(schema, list):
        return [_convert_30(s) for s in schema]
    if not isinstance(schema, dict):
        return schema
    out = {k: _convert_30(v) for k, v in schema.items() if k != "nullable"}
    if schema.get("nullable") is True:
        if "type" in out:
            types = out["type"] if isinstance(out["type"], list) else [out["type"]]
            out["type"] = [*types, "null"]
        if "enum" in out and None not in out["enum"]:
            out["enum"] = [*out["enum"], None]
    return out
