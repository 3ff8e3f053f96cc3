"""Generated request checks against the loops they replace (parse_walk, check_walk: the oracle).

Every operation of both contracts gets the same inputs both ways — good ones, missing
and repeated parameters, wrong types, odd text, bad bodies and content types, and /v2
calls with odd values in every place. The result, or the error's type and words (and,
on the /v2 side, where it points), must be equal.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from typing import Any

import orjson
import pytest
from multidict import CIMultiDict, MultiDict

from shimgw import resources
from shimgw.contracts.document import Contract, load_contract
from shimgw.contracts.validators import Invalid, phase1_request_check, phase2_request_check
from shimgw.errors import BadRequest
from shimgw.messages import ABSENT, V2Request


@pytest.fixture(scope="module")
def docs() -> tuple[Contract, Contract]:
    return (
        load_contract(resources.phase1_contract(), "phase1"),
        load_contract(resources.phase2_contract(), "phase2"),
    )


def outcome(fn: Callable[..., Any], *args: Any) -> Any:
    try:
        result = fn(*args)
    except BadRequest as exc:
        return ("bad request", exc.message)
    except Invalid as exc:
        return ("invalid", str(exc), exc.location, exc.path)
    if result is None:
        return ("ok",)
    return ("ok", tuple(getattr(result, f.name) for f in dataclasses.fields(result)))


TEXTS = ("", "0", "1", "42", "-3", "007", "1" * 20, "٣", "²", "1.5", "true", "x", "QUEUED", " 1")
BODIES: tuple[tuple[str, bytes], ...] = (
    ("", b""),
    ("application/json", b""),
    ("application/json", b"{"),
    ("application/json", b"[]"),
    ("application/json", b'{"name": "n", "engine": "e", "owner": "o"}'),
    ("application/json", b'{"name": "n", "engine": "E!", "owner": "o"}'),
    ("Application/JSON; charset=utf-8", b'{"priority": "high"}'),
    ("application/json", b'{"priority": "urgent"}'),
    ("text/plain", b"x"),
)


def test_every_check_uses_its_generated_code(docs: tuple[Contract, Contract]) -> None:
    for spec in docs[0].operations.values():
        generated = phase1_request_check(docs[0], spec).generated
        assert generated is not None
        assert generated.__code__.co_filename == f"<shimgw phase1 check {spec.operation_id}>"
    for spec in docs[1].operations.values():
        checker = phase2_request_check(docs[1], spec).generated
        assert checker is not None
        assert checker.__code__.co_filename == f"<shimgw phase2 check {spec.operation_id}>"


def test_phase1_parse_equals_the_loop(docs: tuple[Contract, Contract]) -> None:
    names = ("job_id", "status", "owner", "page", "per_page", "tail", "X-Api-Key")
    for spec in docs[0].operations.values():
        check = phase1_request_check(docs[0], spec)
        inputs: list[tuple[Any, Any, Any, str, bytes]] = []
        for text in TEXTS:
            values = dict.fromkeys(names, text)
            inputs.append((values, MultiDict(values), CIMultiDict(values), "", b""))
            inputs.append(({}, {"page": text}, {}, "", b""))
        inputs.append(({"job_id": "1"}, MultiDict([("page", "1"), ("page", "2")]), {}, "", b""))
        inputs.append(({"job_id": "1"}, MultiDict([("x", "1"), ("x", "2")]), {}, "", b""))
        inputs += [({"job_id": "5"}, {}, {}, ctype, body) for ctype, body in BODIES]
        for path, query, headers, ctype, body in inputs:
            fast = outcome(check.parse, path, query, headers, ctype, body)
            slow = outcome(check.parse_walk, path, query, headers, ctype, body)
            assert fast == slow, (spec.operation_id, path, query, ctype, body)


ODD: tuple[Any, ...] = (ABSENT, None, 0, 7, -1, True, 2.5, "", "run-1", "x y", [], ["a"], {})


QUERY = {"pageSize": 20, "skip": 0, "label": ["owner=o"], "state": ["PENDING"], "limit": 10}


def calls(spec: Any) -> list[V2Request]:
    body = {"displayName": "n", "plugin": {"id": "e"}, "labels": {"owner": "o"}, "priority": 50}
    ctype = next(iter(spec.body), None)
    good = V2Request(
        operation=spec.operation_id,
        method=spec.method,
        path=spec.path,
        path_params={"runId": "run-1"},
        query={  # only the names the operation knows: the odd values below must reach every check
            name: value for name, value in QUERY.items() if spec.param("query", name) is not None
        },
        headers={"X-Correlation-ID": "c", "Idempotency-Key": "k", "If-Match": '"1"'},
        body=body if ctype else ABSENT,
        content_type=ctype,
    )
    out = [
        good,
        dataclasses.replace(good, query={}, headers={}, path_params={}),
        dataclasses.replace(good, query={**good.query, "nope": 1}),
    ]
    for odd in ODD:
        present = {} if odd is ABSENT else odd
        out += [
            dataclasses.replace(good, path_params={"runId": odd} if odd is not ABSENT else {}),
            dataclasses.replace(good, query=dict.fromkeys(good.query, present)),
            dataclasses.replace(good, headers=dict.fromkeys(good.headers, present)),
            dataclasses.replace(good, body=odd),
            dataclasses.replace(
                good, body=body, content_type=odd if isinstance(odd, str) else None
            ),
        ]
    out.append(dataclasses.replace(good, content_type="Application/Merge-Patch+JSON; x=1"))
    return out


def test_phase2_check_equals_the_loop(docs: tuple[Contract, Contract]) -> None:
    for spec in docs[1].operations.values():
        check = phase2_request_check(docs[1], spec)
        assert check.generated is not None
        for call in calls(spec):
            fast, slow = outcome(check.generated, call), outcome(check.check_walk, call)
            assert fast == slow, (spec.operation_id, call)


def test_phase1_body_is_still_decoded_and_checked(docs: tuple[Contract, Contract]) -> None:
    check = phase1_request_check(docs[0], docs[0].operations["createJob"])
    body = {"name": "n", "engine": "e", "owner": "o"}
    parsed = check.parse({}, {}, {}, "application/json", orjson.dumps(body))
    assert parsed.body == body
    with pytest.raises(BadRequest, match="engine"):
        check.parse({}, {}, {}, "application/json", orjson.dumps({**body, "engine": "E!"}))
