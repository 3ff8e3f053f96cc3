"""Issue 8's defects as tables: ids both ways, exact big integers, repeated parameters,
Phase 1 words in Phase 1 errors. Plain data, no sockets."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import orjson
import pytest
from multidict import MultiDict

from shimgw.contracts.document import Contract
from shimgw.contracts.validators import (
    phase1_request_check,
    phase2_request_check,
    response_check,
)
from shimgw.errors import BadRequest, TranslatedError, UntranslatableRequest
from shimgw.messages import ABSENT, ParsedRequest, V2Response
from shimgw.translate.engine import to_phase1, to_v2
from shimgw.translate.nodes import Translations
from shimgw.translate.plan import OperationPlan

RUN: dict[str, Any] = {
    "id": "run-42",
    "displayName": "nightly",
    "plugin": {"id": "spark", "version": "3"},
    "state": "RUNNING",
    "priority": 50,
    "labels": {"owner": "ana"},
    "tags": [],
    "parameters": {},
    "createTime": "2024-01-01T00:00:00Z",
    "updateTime": "2024-01-01T00:00:10Z",
    "etag": "e",
}
BIG = 123456789012345678901234567890


def _answer(
    plans: Mapping[str, OperationPlan], translations: Translations, op: str, data: Any
) -> Any:
    status = 202 if op == "createJob" else 200
    req = ParsedRequest(
        operation=op, path={"job_id": 1}, query={"page": 1, "per_page": 20}, headers={}, body=ABSENT
    )
    return to_phase1(
        plans[op],
        translations.errors,
        req,
        V2Response(status=status, headers={}, content_type="application/json", body=b"", data=data),
    )


ID_OPS = ["getJob", "createJob", "cancelJob", "setJobPriority"]


@pytest.mark.parametrize("op", [*ID_OPS, "listJobs"])
@pytest.mark.parametrize(("run_id", "reason"), [("run-007", "'007'"), ("run-0", "0")])
def test_non_canonical_or_zero_run_id_is_a_502_with_the_reason(
    plans: Mapping[str, OperationPlan],
    translations: Translations,
    op: str,
    run_id: str,
    reason: str,
) -> None:
    run = {**RUN, "id": run_id}
    data = {"runs": [run], "totalSize": 1} if op == "listJobs" else run
    with pytest.raises(TranslatedError) as caught:
        _answer(plans, translations, op, data)
    assert caught.value.status == 502
    assert "job_id" in caught.value.message and reason in caught.value.message


def test_canonical_ids_round_trip(
    plans: Mapping[str, OperationPlan], translations: Translations
) -> None:
    for digits in ("1", "10", "999999999999999999"):
        job = orjson.loads(
            _answer(plans, translations, "getJob", {**RUN, "id": f"run-{digits}"}).body
        )
        call = to_v2(
            plans["getJob"],
            ParsedRequest(operation="getJob", path={"job_id": job["job_id"]}, query={}, headers={}),
        )
        assert call.path_params["runId"] == f"run-{digits}"


def test_big_integers_in_params_stay_exact_both_ways(
    contracts: tuple[Contract, Contract],
    plans: Mapping[str, OperationPlan],
    translations: Translations,
) -> None:
    from shimgw.jsoncodec import dumps

    phase1, phase2 = contracts
    raw = b'{"name":"n","engine":"spark","owner":"o","params":{"big":%d,"neg":-%d,"f":1.5}}' % (
        BIG,
        BIG,
    )
    parsed = phase1_request_check(phase1, phase1.operations["createJob"]).parse(
        {}, {}, {}, "application/json", raw
    )
    assert parsed.body["params"] == {"big": BIG, "neg": -BIG, "f": 1.5}
    call = to_v2(plans["createJob"], parsed)
    assert b"%d" % BIG in dumps(call.body) and b"-%d" % BIG in dumps(call.body)
    answer = dumps({**RUN, "parameters": {"big": BIG}})
    data = response_check(phase2, phase2.operations["getRun"]).check(
        200, {}, "application/json", answer
    )
    assert data["parameters"]["big"] == BIG
    assert b'"params":{"big":%d}' % BIG in _answer(plans, translations, "getJob", data).body


@pytest.mark.parametrize("number", [2**64, -(2**63) - 1, -(10**19) + 1])
def test_the_first_integers_beyond_orjson_stay_exact_alone_in_a_body(
    contracts: tuple[Contract, Contract], number: int
) -> None:
    """Alone, so no longer number elsewhere in the body sends it down the exact path."""
    raw = b'{"name":"n","engine":"spark","owner":"o","params":{"n":%d}}' % number
    phase1 = contracts[0]
    parsed = phase1_request_check(phase1, phase1.operations["createJob"]).parse(
        {}, {}, {}, "application/json", raw
    )
    assert parsed.body["params"]["n"] == number
    assert type(parsed.body["params"]["n"]) is int


def test_a_string_of_digits_is_not_a_big_integer(contracts: tuple[Contract, Contract]) -> None:
    phase1 = contracts[0]
    raw = b'{"name":"%s","engine":"spark","owner":"o"}' % (b"1" * 40)
    parsed = phase1_request_check(phase1, phase1.operations["createJob"]).parse(
        {}, {}, {}, "application/json", raw
    )
    assert parsed.body["name"] == "1" * 40


@pytest.mark.parametrize("name", ["page", "per_page", "status", "owner"])
def test_a_repeated_scalar_query_parameter_is_a_400_naming_it(
    contracts: tuple[Contract, Contract], name: str
) -> None:
    phase1 = contracts[0]
    values = {"page": "1", "per_page": "2", "status": "RUNNING", "owner": "a"}
    query = MultiDict([(name, values[name]), ("per_page", "5"), (name, values[name])])
    if name == "per_page":
        query = MultiDict([("per_page", "5"), ("per_page", "6")])
    check = phase1_request_check(phase1, phase1.operations["listJobs"])
    with pytest.raises(BadRequest, match=f"query parameter '{name}': given 2 times"):
        check.parse({}, query, {}, "", b"")


def test_a_repeated_unknown_query_parameter_is_ignored_like_any_unknown_one(
    contracts: tuple[Contract, Contract],
) -> None:
    phase1 = contracts[0]
    check = phase1_request_check(phase1, phase1.operations["listJobs"])
    parsed = check.parse({}, MultiDict([("x", "1"), ("x", "2")]), {}, "", b"")
    assert parsed.query == {"page": 1, "per_page": 20}


def test_an_untranslatable_value_is_named_in_phase1_terms(
    contracts: tuple[Contract, Contract],
    plans: Mapping[str, OperationPlan],
    translations: Translations,
) -> None:
    from shimgw.translate.provenance import request_sources

    phase2 = contracts[1]
    plan = plans["listJobs"]
    check = phase2_request_check(
        phase2,
        phase2.operations["listRuns"],
        request_sources(translations.operations["listJobs"], translations.every_call),
    )
    call = to_v2(
        plan,
        ParsedRequest(
            operation="listJobs",
            path={},
            query={"owner": "a\nb", "page": 1, "per_page": 20},
            headers={},
        ),
    )
    with pytest.raises(UntranslatableRequest) as caught:
        check.check(call)
    message = caught.value.message
    assert message.startswith("query parameter 'owner': "), message
    assert "label" not in message and "phase2" not in message and "/v2" not in message
