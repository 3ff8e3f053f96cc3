"""phase2.yaml as an oracle: does this request / response conform?

openapi-core does the checking; this module only adapts aiohttp objects to
its protocols and turns its exceptions into one-line messages a failing test
can print. Authentication is deliberately not checked here: a call without a
token is a legitimate 401, which the app decides, not a contract violation.
"""

from __future__ import annotations

import functools
import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from aiohttp import web
from openapi_core import Config, OpenAPI
from openapi_core.datatypes import RequestParameters
from openapi_core.security.factories import SecurityProviderFactory
from openapi_core.validation.request.exceptions import (
    ParameterValidationError,
    RequestBodyValidationError,
)
from openapi_core.validation.response.exceptions import (
    DataValidationError,
    HeaderValidationError,
)
from werkzeug.datastructures import Headers, ImmutableMultiDict

# Only the scheme and host matter to openapi-core; the spec's server is "/".
_HOST_URL = "http://reference"
_METHODS = ("get", "put", "post", "delete", "patch", "head", "options", "trace")


def default_phase2_path() -> Path:
    """The repository's contract, or the copy a wheel carries inside the package."""
    repo = Path(__file__).resolve().parents[2] / "openapi" / "phase2.yaml"
    if repo.exists():
        return repo
    return Path(__file__).resolve().parents[1] / "_bundled" / "openapi" / "phase2.yaml"


def _json_loads(value: bytes, **_parameters: str) -> Any:
    return json.loads(value)


class _AcceptAnyCredentials:
    def __call__(self, parameters: RequestParameters) -> Any:
        return None


class _NoSecurityCheck(SecurityProviderFactory):
    # openapi-core stops checking parameters and body once security fails, so
    # security has to pass for it to report the problems we do care about.
    def create(self, scheme: Any) -> Any:
        return _AcceptAnyCredentials()


@dataclass(frozen=True)
class RequestInfo:
    """What the contract needs to know about a request, detached from aiohttp."""

    method: str
    path: str
    query: tuple[tuple[str, str], ...] = ()
    headers: tuple[tuple[str, str], ...] = ()

    @classmethod
    def of(cls, request: web.BaseRequest) -> RequestInfo:
        return cls(
            method=request.method,
            path=request.path,
            query=tuple(request.query.items()),
            headers=tuple(request.headers.items()),
        )


class _OpenAPIRequest:
    """openapi_core.protocols.Request over a RequestInfo and the raw body."""

    def __init__(self, info: RequestInfo, body: bytes | None) -> None:
        self._info = info
        self._body = body or None
        self._headers = Headers(list(info.headers))
        self.parameters = RequestParameters(
            query=ImmutableMultiDict(list(info.query)),
            header=self._headers,
        )

    @property
    def host_url(self) -> str:
        return _HOST_URL

    @property
    def path(self) -> str:
        return self._info.path

    @property
    def method(self) -> str:
        return self._info.method.lower()

    @property
    def body(self) -> bytes | None:
        return self._body

    @property
    def content_type(self) -> str:
        return str(self._headers.get("Content-Type", "")).lower()


class _OpenAPIResponse:
    """openapi_core.protocols.Response over status, headers and raw body."""

    def __init__(self, status: int, headers: Headers, body: bytes) -> None:
        self._status = status
        self._headers = headers
        self._body = body

    @property
    def status_code(self) -> int:
        return self._status

    @property
    def content_type(self) -> str:
        return str(self._headers.get("Content-Type", "")).lower()

    @property
    def headers(self) -> Headers:
        return self._headers

    @property
    def data(self) -> bytes | None:
        return self._body or None


@dataclass(frozen=True)
class Operation:
    operation_id: str
    method: str
    path: str
    query: frozenset[str]
    # Query parameters that may repeat (array, form style, exploded).
    repeatable: frozenset[str]


def _describe(exc: BaseException) -> str:
    """One line per problem; openapi-core's own str() dumps whole schemas."""
    cause = exc.__cause__
    schema_errors = list(getattr(cause, "schema_errors", None) or [])
    if not schema_errors:
        return str(exc)
    if isinstance(exc, ParameterValidationError):
        head = str(exc)
    elif isinstance(exc, RequestBodyValidationError):
        head = "Invalid request body"
    elif isinstance(exc, HeaderValidationError):
        head = f"Invalid response header: {exc.name}"
    elif isinstance(exc, DataValidationError):
        head = "Invalid response body"
    else:
        head = type(exc).__name__
    parts = []
    for error in schema_errors:
        where = "/".join(str(p) for p in getattr(error, "absolute_path", ()))
        message = getattr(error, "message", str(error))
        parts.append(f"at /{where}: {message}" if where else message)
    return f"{head}: {'; '.join(parts)}"


class Contract:
    def __init__(self, path: Path) -> None:
        self.path = path
        self._api = OpenAPI.from_file_path(
            str(path),
            config=Config(
                extra_media_type_deserializers={
                    "application/problem+json": _json_loads,
                    "application/merge-patch+json": _json_loads,
                },
                security_provider_factory=_NoSecurityCheck(),
            ),
        )
        self.operations = self._read_operations()

    def _read_operations(self) -> dict[str, Operation]:
        found: dict[str, Operation] = {}
        for template, item in (self._api.spec / "paths").str_items():
            shared = list(item.get("parameters", []))
            for method in _METHODS:
                if method not in item:
                    continue
                op = item / method
                params = shared + list(op.get("parameters", []))
                query = {
                    (p / "name").read_str(): p for p in params if (p / "in").read_str() == "query"
                }
                repeatable = {
                    name
                    for name, p in query.items()
                    if (p / "schema").get("type", None) is not None
                    and (p / "schema" / "type").read_value() == "array"
                }
                op_id = (op / "operationId").read_str()
                found[op_id] = Operation(
                    op_id, method.upper(), template, frozenset(query), frozenset(repeatable)
                )
        return found

    def check_request(
        self,
        request: web.BaseRequest | RequestInfo,
        body: bytes,
        *,
        operation: str | None = None,
    ) -> list[str]:
        """Every way the request breaks the contract; empty when it conforms.

        Given the operation, also flags what openapi-core lets through: query
        parameters the operation does not declare, and single-valued ones sent
        twice (a translation bug either way).
        """
        info = request if isinstance(request, RequestInfo) else RequestInfo.of(request)
        problems = [
            _describe(e) for e in self._api.iter_request_errors(_OpenAPIRequest(info, body))
        ]
        op = self.operations.get(operation) if operation else None
        if op is not None:
            counts: dict[str, int] = {}
            for name, _ in info.query:
                counts[name] = counts.get(name, 0) + 1
            for name, count in counts.items():
                if name not in op.query:
                    problems.append(f"Undeclared query parameter: {name}")
                elif count > 1 and name not in op.repeatable:
                    problems.append(f"Query parameter repeated {count} times: {name}")
        return problems

    def check_response(
        self,
        request: RequestInfo,
        status: int,
        headers: Mapping[str, str] | Iterable[tuple[str, str]],
        body: bytes,
    ) -> list[str]:
        """Every way the response breaks the contract for that request."""
        pairs = list(headers.items()) if isinstance(headers, Mapping) else list(headers)
        response = _OpenAPIResponse(status, Headers(pairs), body)
        errors = self._api.iter_response_errors(_OpenAPIRequest(request, None), response)
        return [_describe(e) for e in errors]


@functools.cache
def _load(path: Path) -> Contract:
    return Contract(path)


def load_contract(path: Path | None = None) -> Contract:
    """The contract at `path`, parsed once per process (it takes a few hundred ms)."""
    return _load((path or default_phase2_path()).resolve())
