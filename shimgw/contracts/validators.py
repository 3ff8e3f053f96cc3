"""Fast contract checks, compiled once per snapshot.

openapi-core stays the contract engine (it validates the documents at load and
is the reference these checks are tested against), but its per-call validators
cost about a millisecond a round trip. Here each operation's parameter, body
and response schemas are compiled once into jsonschema-rs validators
(~1 µs a call), and the per-request work is a dictionary walk plus those calls.

Three checks, one per crossing:
- `Phase1RequestCheck.parse`: raw Phase 1 input → typed `ParsedRequest`, or
  `BadRequest` naming the field;
- `Phase2RequestCheck.check`: the translated call, before it is sent, or
  `UntranslatableRequest`;
- `ResponseCheck.check`: an answer (the orchestrator's, or in tests our own
  Phase 1 answer) → decoded body, or `UpstreamContractViolation`.
"""

from __future__ import annotations

import dataclasses
import math
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, TypeVar

import jsonschema_rs

from shimgw import jsoncodec
from shimgw.contracts import checkgen
from shimgw.contracts.document import Contract, OperationSpec, ParamSpec, ResponseSpec, Schema
from shimgw.errors import BadRequest, UntranslatableRequest, UpstreamContractViolation
from shimgw.messages import ABSENT, ParsedRequest, V2Request
from shimgw.translate.provenance import Sources, blame

_INTEGER = re.compile(r"^-?[0-9]{1,19}\Z")  # \Z, not $: "5\n" is not a number
_NUMBER = re.compile(r"^-?[0-9]+(\.[0-9]+)?([eE][-+]?[0-9]+)?\Z")
_MAX_MESSAGE = 240


class Invalid(ValueError):
    """A value that breaks its schema; the message names where.

    `location` (path, query, header, body) and `path` (inside the value) say the same
    for code: the /v2 request check uses them to name the Phase 1 field instead.
    """

    def __init__(
        self, message: str, location: str | None = None, path: tuple[str | int, ...] = ()
    ) -> None:
        super().__init__(message)
        self.location = location
        self.path = path


@dataclass(frozen=True, slots=True)
class CompiledSchema:
    validator: Any  # jsonschema_rs validator; untyped library

    def check(self, value: Any, where: str) -> None:
        if self.validator.is_valid(value):
            return
        error = next(iter(self.validator.iter_errors(value)))
        path = tuple(error.instance_path)
        raise Invalid(_describe(where, list(path), error.message), path=path)


def compile_schema(contract: Contract, schema: Schema) -> CompiledSchema:
    return CompiledSchema(
        jsonschema_rs.Draft202012Validator(contract.compilable(schema), validate_formats=True)
    )


def _describe(where: str, path: list[str | int], message: str) -> str:
    location = where + "".join(f"[{p}]" if isinstance(p, int) else f".{p}" for p in path)
    if len(message) > _MAX_MESSAGE:
        message = message[:_MAX_MESSAGE] + "…"
    return f"{location}: {message}"


def cast_integer(text: str) -> Any:
    return int(text) if _INTEGER.match(text) else text


def cast_number(text: str) -> Any:
    if not _NUMBER.match(text):
        return text
    number = float(text)
    # "1e999" overflows to inf: kept as text, refused by the schema in its own words, so no
    # non-finite float enters a request (translate/exact.py relies on it).
    return number if math.isfinite(number) else text


def cast_boolean(text: str) -> Any:
    return {"true": True, "false": False}.get(text, text)


def cast_text(text: str) -> Any:
    return text


def _caster(schema: Schema) -> Callable[[str], Any]:
    """Turns the text of a path/query/header value into the type its schema names.
    Named functions, not lambdas: checkgen.py inlines the integer and text casts."""
    kind = schema.get("type")
    if kind == "integer":
        return cast_integer
    if kind == "number":
        return cast_number
    if kind == "boolean":
        return cast_boolean
    return cast_text


@dataclass(frozen=True, slots=True)
class _ParamCheck:
    name: str
    key: str  # how it is looked up: lower-case for headers
    label: str  # how an error names it
    required: bool
    default: Any
    cast: Callable[[str], Any]
    schema: CompiledSchema
    is_array: bool = False


def _param_check(contract: Contract, param: ParamSpec) -> _ParamCheck:
    schema = contract.resolve(param.schema)
    return _ParamCheck(
        param.name,
        param.name.lower() if param.location == "header" else param.name,
        f"{param.location} parameter {param.name!r}",
        param.required,
        schema.get("default", ABSENT),
        _caster(schema),
        compile_schema(contract, param.schema),
        schema.get("type") == "array",
    )


def _media(content_type: str) -> str:
    return content_type.split(";", 1)[0].strip().lower()


# --- Phase 1 in ---------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class _RequestChecks:
    """One operation's compiled parameter and body checks (either contract)."""

    operation: str
    path: tuple[_ParamCheck, ...]
    query: tuple[_ParamCheck, ...]
    headers: tuple[_ParamCheck, ...]
    body_required: bool
    body: Mapping[str, CompiledSchema | None]


_Checks = TypeVar("_Checks", bound=_RequestChecks)


def _request_checks(cls: type[_Checks], contract: Contract, op: OperationSpec) -> _Checks:
    def params(location: str) -> tuple[_ParamCheck, ...]:
        return tuple(_param_check(contract, p) for p in op.params if p.location == location)

    return cls(
        op.operation_id,
        params("path"),
        params("query"),
        params("header"),
        op.body_required,
        {mt: compile_schema(contract, s) if s is not None else None for mt, s in op.body.items()},
    )


@dataclass(frozen=True, slots=True)
class Phase1RequestCheck(_RequestChecks):
    generated: checkgen.ParseFn | None = None  # parse_walk as generated code (checkgen.py)

    def parse(
        self,
        path: Mapping[str, str],
        query: Mapping[str, str],
        headers: Mapping[str, str],
        content_type: str,
        body: bytes,
    ) -> ParsedRequest:
        generated = self.generated
        if generated is not None:
            return generated(path, query, headers, content_type, body)
        return self.parse_walk(path, query, headers, content_type, body)

    def parse_walk(
        self,
        path: Mapping[str, str],
        query: Mapping[str, str],
        headers: Mapping[str, str],
        content_type: str,
        body: bytes,
    ) -> ParsedRequest:
        """The loop over the checks: what the generated parse must equal."""
        try:
            # len() of a multi-valued mapping (aiohttp's query) counts every pair, keys()
            # each name once; a plain dict never differs: one comparison per request.
            if len(query) != len(query.keys()):
                self._refuse_repeats(query)
            return ParsedRequest(
                operation=self.operation,
                path=self._params(self.path, path),
                query=self._params(self.query, query),
                headers=headers,
                body=self._body(content_type, body),
            )
        except Invalid as exc:
            raise BadRequest(str(exc)) from exc

    def _refuse_repeats(self, query: Mapping[str, str]) -> None:
        """`?page=1&page=2` is refused, not resolved: which one the client meant is a guess.
        Parameters the contract does not declare are ignored, repeated or not."""
        names = [name for name, _ in query.items()]
        for check in self.query:
            count = names.count(check.key)
            if count > 1 and not check.is_array:
                raise Invalid(f"{check.label}: given {count} times; it takes one value")

    @staticmethod
    def _params(checks: tuple[_ParamCheck, ...], raw: Mapping[str, str]) -> dict[str, Any]:
        out: dict[str, Any] = {}
        for check in checks:
            text = raw.get(check.key)
            if text is None:
                if check.required:
                    raise Invalid(f"{check.label}: is required")
                if check.default is not ABSENT:
                    out[check.name] = check.default
                continue
            value = check.cast(text)
            check.schema.check(value, check.label)
            out[check.name] = value
        return out

    def _body(self, content_type: str, body: bytes) -> Any:
        if not self.body:
            return ABSENT  # the operation takes no body; whatever came is ignored
        if not body:
            if self.body_required:
                raise Invalid("body: a request body is required")
            return ABSENT
        media = _media(content_type)
        if media not in self.body:
            raise Invalid(
                f"body: content type {media or '(none)'!r} is not accepted; "
                f"send {' or '.join(self.body)}"
            )
        try:
            data = jsoncodec.loads(body)
        except ValueError as exc:
            raise Invalid(f"body: not valid JSON ({exc})") from exc
        schema = self.body[media]
        if schema is not None:
            schema.check(data, "body")
        return data


def phase1_request_check(contract: Contract, op: OperationSpec) -> Phase1RequestCheck:
    check = _request_checks(Phase1RequestCheck, contract, op)
    return dataclasses.replace(check, generated=checkgen.phase1_parser(check))


# --- Phase 2 out --------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Phase2RequestCheck(_RequestChecks):
    sources: Sources = field(default_factory=dict)  # /v2 location → the Phase 1 field
    generated: checkgen.CheckFn | None = None  # check_walk as generated code (checkgen.py)

    def check(self, request: V2Request) -> None:
        try:
            (self.generated or self.check_walk)(request)
        except Invalid as exc:
            words = blame(self.sources, exc.location, exc.path) if exc.location else None
            if words is None:  # a rule's own constant or a bug: say what /v2 refused
                raise UntranslatableRequest(f"the /v2 call would break phase2.yaml: {exc}") from exc
            # The client is told about the field it sent, never about /v2's names.
            raise UntranslatableRequest(
                f"{words}: this value is valid but cannot be carried to the job service"
            ) from exc

    def check_walk(self, request: V2Request) -> None:
        """The loop over the checks (Invalid out): what the generated check must equal."""
        for location, checks, values in (
            ("path", self.path, request.path_params),
            ("query", self.query, request.query),
        ):
            for check in checks:
                value = values.get(check.name, ABSENT)
                if value is ABSENT:
                    if check.required:
                        raise Invalid(f"{check.label}: is required")
                    continue
                try:
                    check.schema.check(value, check.label)
                except Invalid as exc:
                    raise Invalid(str(exc), location, (check.name, *exc.path)) from None
        known = {c.name for c in self.query}
        for name in request.query:
            if name not in known:
                raise Invalid(f"query parameter {name!r}: not in the contract")
        for check in self.headers:
            header = request.headers.get(check.name)
            if header is None:
                if check.required:
                    raise Invalid(f"{check.label}: is required")
                continue
            try:
                check.schema.check(check.cast(header), check.label)
            except Invalid as exc:
                raise Invalid(str(exc), "header", (check.key,)) from None
        if request.body is ABSENT:
            if self.body_required:
                raise Invalid("body: a request body is required")
            return
        media = _media(request.content_type or "")
        if media not in self.body:
            raise Invalid(f"body: content type {media!r} is not accepted")
        schema = self.body[media]
        if schema is not None:
            try:
                schema.check(request.body, "body")
            except Invalid as exc:
                raise Invalid(str(exc), "body", exc.path) from None


def phase2_request_check(
    contract: Contract, op: OperationSpec, sources: Sources | None = None
) -> Phase2RequestCheck:
    check = _request_checks(Phase2RequestCheck, contract, op)
    return dataclasses.replace(
        check, sources=sources or check.sources, generated=checkgen.phase2_checker(check)
    )


# --- answers ------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class _CompiledResponse:
    headers: tuple[_ParamCheck, ...]
    content: Mapping[str, CompiledSchema | None]


@dataclass(frozen=True, slots=True)
class ResponseCheck:
    operation: str
    exact: Mapping[int, _CompiledResponse]
    ranges: Mapping[int, _CompiledResponse]  # 4 → the 4XX response
    default: _CompiledResponse | None

    def declared_headers(self, status: int) -> tuple[str, ...]:
        """The (lower-case) headers the contract declares for `status`: all a check reads."""
        spec = self.exact.get(status) or self.ranges.get(status // 100) or self.default
        return tuple(check.key for check in spec.headers) if spec is not None else ()

    def check(self, status: int, headers: Mapping[str, str], content_type: str, body: bytes) -> Any:
        """Check an answer; returns the decoded body (ABSENT when it has none)."""
        spec = self.exact.get(status) or self.ranges.get(status // 100) or self.default
        if spec is None:
            raise UpstreamContractViolation(
                f"{self.operation}: status {status} is not in the contract"
            )
        try:
            self._headers(spec, headers)
            return self._body(spec, status, content_type, body)
        except Invalid as exc:
            raise UpstreamContractViolation(f"{self.operation} {status}: {exc}") from exc

    def check_encoded(
        self, status: int, headers: Mapping[str, str], content_type: str, body: bytes, data: Any
    ) -> None:
        """`check` of a JSON body the gateway wrote itself, `body == jsoncodec.dumps(data)`,
        with `data` proven JSON's own (translate/exact.py): re-reading `body` would give the
        validator `data` back, so `data` is validated and the parse is saved. Any doubt —
        a failure, a value the validator cannot take — runs `check` on the bytes, so a
        refusal reads exactly as it always has."""
        spec = self.exact.get(status) or self.ranges.get(status // 100) or self.default
        if spec is not None and body and data is not ABSENT:
            media = _media(content_type)
            if media in spec.content and media.endswith("json"):
                schema = spec.content[media]
                try:
                    self._headers(spec, headers)
                    if schema is None or schema.validator.is_valid(data):
                        return
                except ValueError:  # Invalid, or a value the validator cannot take
                    pass  # the reference check below says why, in its own words
        self.check(status, headers, content_type, body)

    @staticmethod
    def _headers(spec: _CompiledResponse, headers: Mapping[str, str]) -> None:
        for check in spec.headers:
            value = headers.get(check.key)
            if value is None:
                if check.required:
                    raise Invalid(f"header {check.name!r}: is required")
                continue
            check.schema.check(check.cast(value), f"header {check.name!r}")

    @staticmethod
    def _body(spec: _CompiledResponse, status: int, content_type: str, body: bytes) -> Any:
        if not spec.content:
            if body:
                raise Invalid("body: the contract defines no body for this status")
            return ABSENT
        media = _media(content_type)
        if media not in spec.content:
            raise Invalid(f"content type {media or '(none)'!r} is not {' or '.join(spec.content)}")
        schema = spec.content[media]
        if not media.endswith("json"):
            data: Any = body.decode("utf-8", errors="strict")
        else:
            try:
                data = jsoncodec.loads(body)
            except ValueError as exc:
                raise Invalid(f"body: not valid JSON ({exc})") from exc
        if schema is not None:
            schema.check(data, "body")
        return data


def response_check(contract: Contract, op: OperationSpec) -> ResponseCheck:
    def compiled(spec: ResponseSpec) -> _CompiledResponse:
        headers = tuple(
            _ParamCheck(
                h.name,
                h.name.lower(),
                f"header {h.name!r}",
                h.required,
                ABSENT,
                _caster(contract.resolve(h.schema)),
                compile_schema(contract, h.schema),
            )
            for h in spec.headers
        )
        return _CompiledResponse(
            headers,
            {
                mt: compile_schema(contract, s) if s is not None else None
                for mt, s in spec.content.items()
            },
        )

    exact = {int(k): compiled(s) for k, s in op.responses.items() if k.isdigit()}
    ranges = {int(k[0]): compiled(s) for k, s in op.responses.items() if k.endswith("XX")}
    default = op.responses.get("default")
    return ResponseCheck(
        op.operation_id, exact, ranges, compiled(default) if default is not None else None
    )
