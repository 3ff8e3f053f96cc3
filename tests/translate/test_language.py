"""The mapping language rejects what it cannot mean, naming file and key."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from shimgw import resources
from shimgw.errors import TranslationError
from shimgw.messages import ABSENT
from shimgw.translate.compiler import compile_value
from shimgw.translate.language import load_translations, parse_documents

ERRORS = {"errors": {"status": {404: 404}}}


def value(raw: Any) -> Any:
    docs = [("_c.yaml", {**ERRORS, "shapes": {"v": raw}})]
    return parse_documents(docs).shapes["v"]


def evaluate(raw: Any, ctx: dict[str, Any] | None = None, it: Any = None) -> Any:
    return compile_value(value(raw))(ctx or {}, it)


@pytest.mark.parametrize(
    ("raw", "ctx", "expected"),
    [
        ({"from": "body.a.b"}, {"body": {"a": {"b": 1}}}, 1),
        ({"from": "body.a.b"}, {"body": {"a": {}}}, ABSENT),
        ({"from": "body.a.b"}, {"body": {"a": 5}}, ABSENT),
        ({"from": "body.a", "default": None}, {"body": {}}, None),
        ({"from": "header.X-Api-Key"}, {"header": {"x-api-key": "k"}}, "k"),
        ({"const": [1, 2]}, {}, [1, 2]),
        ({"object": {"a": {"from": "body.x"}, "b": {"const": 1}}}, {"body": {}}, {"b": 1}),
        ({"object": {"a": {"from": "body.x"}}}, {"body": {}}, ABSENT),
        ({"object": {"a": {"from": "body.x"}}, "default": {}}, {"body": {}}, {}),
        ({"concat": ["a", {"from": "body.n"}, "c"]}, {"body": {"n": 2}}, "a2c"),
        ({"concat": ["a", {"from": "body.n"}]}, {"body": {}}, ABSENT),
        ({"sub": [{"from": "body.n"}, 1]}, {"body": {"n": 3}}, 2),
        ({"mul": [{"from": "body.n"}, {"from": "body.m"}]}, {"body": {"n": 3, "m": 4}}, 12),
        ({"add": [{"from": "body.n"}, 1]}, {"body": {}}, ABSENT),
        (
            {"if": {"present": {"from": "body.n"}}, "then": {"const": "y"}, "else": {"const": "n"}},
            {"body": {"n": 0}},
            "y",
        ),
        (
            {
                "if": {
                    "any": [
                        {"eq": [{"from": "body.n"}, {"const": 1}]},
                        {"contains": [{"from": "body.l"}, {"const": 2}]},
                    ]
                },
                "then": {"const": "y"},
                "else": {"const": "n"},
            },
            {"body": {"l": [2]}},
            "y",
        ),
        (
            {
                "if": {"not": {"all": [{"eq": [{"from": "body.n"}, {"const": 1}]}]}},
                "then": {"const": "y"},
                "else": {"const": "n"},
            },
            {"body": {"n": 1}},
            "n",
        ),
        (
            {"from": "body.l", "pipe": [{"each": [{"apply": {"from": "it.x"}}]}]},
            {"body": {"l": [{"x": 1}, {"x": 2}]}},
            [1, 2],
        ),
        (
            {"from": "body.l", "pipe": [{"filter": {"eq": [{"from": "it"}, {"const": 1}]}}]},
            {"body": {"l": [1, 2, 1]}},
            [1, 1],
        ),
        (
            {"from": "body.p", "pipe": [{"map": {"a": ["x", "y"]}}]},
            {"body": {"p": "a"}},
            ("x", "y"),
        ),
    ],
)
def test_values(raw: Any, ctx: dict[str, Any], expected: Any) -> None:
    assert evaluate(raw, ctx) == expected


@pytest.mark.parametrize(
    ("raw", "message"),
    [
        ("body.x", "expected a value rule"),
        ({"from": "body.x", "const": 1}, "exactly one of"),
        ({"from": "nowhere.x"}, "unknown root"),
        ({"from": "header.a.b"}, "header.NAME"),
        ({"from": "body.x", "pipe": ["no_such"]}, "unknown transform"),
        ({"from": "body.x", "pipe": [{"template": "run-"}]}, "exactly one `{}`"),
        (
            {"from": "body.x", "pipe": [{"buckets": [{"value": 1}, {"min": 2, "value": 2}]}]},
            "only the last bucket",
        ),
        (
            {
                "from": "body.x",
                "pipe": [{"buckets": [{"min": 2, "value": 1}, {"min": 5, "value": 2}]}],
            },
            "ordered",
        ),
        ({"from": "body.x", "pipe": [{"shape": "missing"}]}, "unknown shape"),
        ({"from": "body.x", "extra": 1}, "unknown keys"),
        ({"if": {"eq": [{"const": 1}]}, "then": {"const": 1}, "else": {"const": 2}}, "two values"),
        ({"if": {"eq": [{"const": 1}, {"const": 1}]}, "then": {"const": 1}}, "needs `then`"),
        ({"sub": [1]}, "two operands"),
        ({"from": "body.x", "pipe": [{"eval": "1+1"}]}, "unknown step"),
    ],
)
def test_rejected_values(raw: Any, message: str) -> None:
    with pytest.raises(TranslationError) as caught:
        value(raw)
    assert message in str(caught.value)
    assert "_c.yaml: shapes.v" in str(caught.value)


def test_self_referencing_shape() -> None:
    docs = [("_c.yaml", {**ERRORS, "shapes": {"a": {"from": "it", "pipe": [{"shape": "a"}]}}})]
    with pytest.raises(TranslationError, match="refers to itself"):
        parse_documents(docs)


@pytest.mark.parametrize(
    ("doc", "message"),
    [
        ({"operation": "x", "target": "y", "local": {}}, "not both"),
        ({"operation": "x"}, "not both or neither"),
        ({"operation": "x", "target": "y", "responses": {}}, "rules keyed by /v2 status"),
        ({"operation": "x", "target": "y", "responses": {"abc": {"status": 200}}}, "HTTP status"),
        (
            {"operation": "x", "target": "y", "responses": {200: {"status": 200, "x": 1}}},
            "expected {status, body, headers}",
        ),
        (
            {"operation": "x", "target": "y", "request": {"cookies": {}}, "responses": {}},
            "any of path, query",
        ),
        ({"operation": "x", "target": "y", "wat": 1}, "unknown top-level keys"),
        ({"operation": "x", "local": {"status": 410}}, "error"),
    ],
)
def test_rejected_operations(doc: dict[str, Any], message: str) -> None:
    with pytest.raises(TranslationError) as caught:
        parse_documents([("_c.yaml", ERRORS), ("op.yaml", doc)])
    assert message in str(caught.value)
    assert "op.yaml" in str(caught.value)


def test_duplicates_and_missing_errors_table() -> None:
    op = {"operation": "x", "local": {"status": 410, "error": "gone"}}
    with pytest.raises(TranslationError, match="also translated in a.yaml"):
        parse_documents([("_c.yaml", ERRORS), ("a.yaml", op), ("b.yaml", op)])
    with pytest.raises(TranslationError, match="no file defines the `errors` table"):
        parse_documents([("a.yaml", op)])
    with pytest.raises(TranslationError, match="also defined in _c.yaml"):
        parse_documents([("_c.yaml", ERRORS), ("_d.yaml", ERRORS)])


def test_bad_files(tmp_path: Path) -> None:
    with pytest.raises(TranslationError, match="translations folder not found"):
        load_translations(tmp_path / "nope")
    with pytest.raises(TranslationError, match="no \\*.yaml"):
        load_translations(tmp_path)
    (tmp_path / "bad.yaml").write_text("operation: [unclosed")
    with pytest.raises(TranslationError, match="bad.yaml: cannot read"):
        load_translations(tmp_path)
    (tmp_path / "bad.yaml").write_text("- a list")
    with pytest.raises(TranslationError, match="bad.yaml: expected a mapping"):
        load_translations(tmp_path)


def test_bundled_translations_cover_every_operation() -> None:
    loaded = load_translations(resources.translations_dir())
    assert len(loaded.operations) == 10


@pytest.mark.parametrize("name", ["Content-Length", "transfer-encoding", "Connection", "Date"])
@pytest.mark.parametrize("where", ["keep_headers", "responses", "local"])
def test_an_answer_header_the_edge_writes_itself_is_refused(name: str, where: str) -> None:
    # The edge renders the framing (Content-Length, Connection, ...) of every Phase 1 answer
    # itself (reply.py); a translation that also wrote one sent two Content-Length lines
    # with different values (a /v2 429's length kept beside the Phase 1 body's): a framing
    # a client or a proxy in between reads its own way.
    errors: dict[str, Any] = {"status": {404: 404}}
    op: dict[str, Any] = {"operation": "x", "target": "getRun", "responses": {200: {"status": 200}}}
    if where == "keep_headers":
        errors["keep_headers"] = {429: ["Retry-After", name]}
    elif where == "responses":
        op["responses"][200]["headers"] = {name: {"const": "1"}}
    else:
        op = {
            "operation": "x",
            "local": {"status": 410, "error": "gone", "headers": {name: {"const": "1"}}},
        }
    with pytest.raises(TranslationError, match=f"{name}.*written by the gateway"):
        parse_documents([("_c.yaml", {"errors": errors}), ("a.yaml", op)])


@pytest.mark.parametrize("name", ["Host", "content-length", "Transfer-Encoding", "Connection"])
@pytest.mark.parametrize("where", ["every_call", "request"])
def test_a_call_header_the_transport_writes_itself_is_refused(name: str, where: str) -> None:
    # The /v2 transport writes Host and the framing of every call on a pooled keep-alive
    # connection; a rule writing one too would send a second, different framing line.
    common: dict[str, Any] = {"errors": {"status": {404: 404}}}
    op: dict[str, Any] = {"operation": "x", "target": "getRun", "responses": {200: {"status": 200}}}
    if where == "every_call":
        common["every_call"] = {"headers": {name: {"const": "1"}}}
    else:
        op["request"] = {"headers": {name: {"const": "1"}}}
    with pytest.raises(TranslationError, match=f"{name}.*frames the /v2 call"):
        parse_documents([("_c.yaml", common), ("a.yaml", op)])
