"""The mapping language: `translations/*.yaml` → frozen rule trees.

This module only reads and checks the *shape* of the files; it knows nothing
of the contracts (`check.py` holds those checks) and nothing of evaluation
(`compiler.py` turns these trees into closures). The language is documented
in `translations/README.md`, its node classes are in `nodes.py`; the grammar:

value   := {from: ROOT.a.b} | {const: V} | {object: {k: value}} | {concat: [value | "text"]}
           | {if: cond, then: value, else: value} | {add|sub|mul: [value, value]}
           each optionally with `pipe: [step]` and `default: V`
step    := NAME | {template: "x{}y"} | {strip_prefix: P} | {map: {k: v}} | {buckets: [...]}
           | {within: {min, max}} | {pluck: F} | {join: SEP} | {each: [step]} | {filter: cond}
           | {shape: NAME}
           | {apply: value}
cond    := {eq: [value, value]} | {contains: [value, value]} | {present: value}
           | {not: cond} | {all: [cond]} | {any: [cond]}
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import replace
from pathlib import Path
from types import MappingProxyType
from typing import Any

import yaml

from shimgw import yamlfile
from shimgw.errors import TranslationError
from shimgw.files import read_regular
from shimgw.messages import ABSENT
from shimgw.translate import transforms as tf
from shimgw.translate.lifecycle import (
    parse_lifecycle,
    refuse_call_framing,
    refuse_edge_headers,
    refuse_rewrites,
)
from shimgw.translate.nodes import (
    All,
    AnyOf,
    Apply,
    Arith,
    Base,
    Concat,
    Cond,
    Const,
    Contains,
    Each,
    Eq,
    ErrorTable,
    Filter,
    From,
    If,
    LocalRule,
    Not,
    Obj,
    OperationRules,
    Present,
    RequestRules,
    ResponseRule,
    Step,
    Translations,
    Value,
)

REQUEST_ROOTS = frozenset({"path", "query", "header", "body", "it"})
RESPONSE_ROOTS = frozenset({"body", "header", "request", "status", "it"})

# --- parsing ----------------------------------------------------------------------------------


class _Parser:
    """Parses one set of files; `where` strings name file and key for every error."""

    def __init__(self, raw_shapes: Mapping[str, tuple[str, Any]]) -> None:
        self._raw_shapes = raw_shapes
        self.shapes: dict[str, Value] = {}
        self._resolving: set[str] = set()

    def shape(self, name: str, where: str) -> Value:
        if name in self.shapes:
            return self.shapes[name]
        if name not in self._raw_shapes:
            raise TranslationError(where, f"unknown shape {name!r}")
        if name in self._resolving:
            raise TranslationError(where, f"shape {name!r} refers to itself")
        self._resolving.add(name)
        src, raw = self._raw_shapes[name]
        value = self.value(raw, f"{src}: shapes.{name}", REQUEST_ROOTS | RESPONSE_ROOTS)
        self._resolving.discard(name)
        self.shapes[name] = value
        return value

    def value(self, raw: Any, where: str, roots: frozenset[str]) -> Value:
        if not isinstance(raw, dict):
            raise TranslationError(where, f"expected a value rule (a mapping), got {raw!r}")
        kinds = [
            k for k in ("from", "const", "object", "concat", "if", "add", "sub", "mul") if k in raw
        ]
        if len(kinds) != 1:
            raise TranslationError(
                where,
                "a value rule needs exactly one of from, const, object, concat, if, "
                f"add, sub, mul (got {sorted(raw)})",
            )
        kind = kinds[0]
        extra = set(raw) - {kind, "pipe", "default"} - ({"then", "else"} if kind == "if" else set())
        if extra:
            raise TranslationError(where, f"unknown keys {sorted(extra)}")
        base = self._base(kind, raw, where, roots)
        pipe_raw = raw.get("pipe", [])
        if not isinstance(pipe_raw, list):
            raise TranslationError(f"{where}.pipe", "expected a list of steps")
        pipe = tuple(self.step(s, f"{where}.pipe[{i}]", roots) for i, s in enumerate(pipe_raw))
        return Value(base, pipe, raw.get("default", ABSENT) if "default" in raw else ABSENT)

    def _base(self, kind: str, raw: dict[str, Any], where: str, roots: frozenset[str]) -> Base:
        arg = raw[kind]
        if kind == "from":
            if not isinstance(arg, str) or not arg:
                raise TranslationError(f"{where}.from", "expected a dotted path like body.name")
            root, *rest = arg.split(".")
            if root not in roots:
                raise TranslationError(
                    f"{where}.from", f"unknown root {root!r}; use one of {sorted(roots)}"
                )
            if root == "header" and len(rest) != 1:
                raise TranslationError(f"{where}.from", "a header is read as header.NAME")
            return From(root, tuple(rest))
        if kind == "const":
            return Const(arg)
        if kind == "object":
            if not isinstance(arg, dict):
                raise TranslationError(f"{where}.object", "expected a mapping of field rules")
            return Obj(
                tuple((str(k), self.value(v, f"{where}.object.{k}", roots)) for k, v in arg.items())
            )
        if kind == "concat":
            if not isinstance(arg, list) or not arg:
                raise TranslationError(f"{where}.concat", "expected a list of parts")
            return Concat(
                tuple(
                    Value(Const(p))
                    if isinstance(p, str)
                    else self.value(p, f"{where}.concat[{i}]", roots)
                    for i, p in enumerate(arg)
                )
            )
        if kind == "if":
            if "then" not in raw or "else" not in raw:
                raise TranslationError(where, "`if` needs `then` and `else`")
            return If(
                self.cond(arg, f"{where}.if", roots),
                self.value(raw["then"], f"{where}.then", roots),
                self.value(raw["else"], f"{where}.else", roots),
            )
        if not isinstance(arg, list) or len(arg) != 2:
            raise TranslationError(f"{where}.{kind}", "expected two operands")
        left, right = (
            Value(Const(a))
            if isinstance(a, int | float) and not isinstance(a, bool)
            else self.value(a, f"{where}.{kind}[{i}]", roots)
            for i, a in enumerate(arg)
        )
        return Arith(kind, left, right)

    def cond(self, raw: Any, where: str, roots: frozenset[str]) -> Cond:
        if not isinstance(raw, dict) or len(raw) != 1:
            raise TranslationError(
                where, "a condition is one of eq, contains, present, not, all, any"
            )
        ((kind, arg),) = raw.items()
        if kind in ("eq", "contains"):
            if not isinstance(arg, list) or len(arg) != 2:
                raise TranslationError(f"{where}.{kind}", "expected two values")
            a, b = (self.value(v, f"{where}.{kind}[{i}]", roots) for i, v in enumerate(arg))
            return Eq(a, b) if kind == "eq" else Contains(a, b)
        if kind == "present":
            return Present(self.value(arg, f"{where}.present", roots))
        if kind == "not":
            return Not(self.cond(arg, f"{where}.not", roots))
        if kind in ("all", "any"):
            if not isinstance(arg, list) or not arg:
                raise TranslationError(f"{where}.{kind}", "expected a list of conditions")
            conds = tuple(self.cond(c, f"{where}.{kind}[{i}]", roots) for i, c in enumerate(arg))
            return All(conds) if kind == "all" else AnyOf(conds)
        raise TranslationError(where, f"unknown condition {kind!r}")

    def step(self, raw: Any, where: str, roots: frozenset[str]) -> Step:
        if isinstance(raw, str):
            if raw not in tf.SIMPLE:
                raise TranslationError(
                    where, f"unknown transform {raw!r}; known: {sorted(tf.SIMPLE)}"
                )
            return tf.Simple(raw, tf.SIMPLE[raw])
        if not isinstance(raw, dict) or len(raw) != 1:
            raise TranslationError(where, "a step is a transform name or a one-key mapping")
        ((kind, arg),) = raw.items()
        inner_roots = roots | {"it"}
        if kind == "template":
            if not isinstance(arg, str) or arg.count("{}") != 1:
                raise TranslationError(f"{where}.template", "needs exactly one `{}`")
            prefix, suffix = arg.split("{}")
            return tf.Template(prefix, suffix)
        if kind in ("strip_prefix", "pluck", "join"):
            if not isinstance(arg, str):
                raise TranslationError(f"{where}.{kind}", "expected a string")
            if kind == "strip_prefix":
                return tf.StripPrefix(arg)
            return tf.Pluck(arg) if kind == "pluck" else tf.Join(arg)
        if kind == "map":
            if not isinstance(arg, dict) or not arg:
                raise TranslationError(f"{where}.map", "expected a non-empty mapping")
            return tf.EnumMap(
                MappingProxyType(
                    {k: tuple(v) if isinstance(v, list) else v for k, v in arg.items()}
                )
            )
        if kind == "buckets":
            return self._buckets(arg, f"{where}.buckets")
        if kind == "within":
            return self._within(arg, f"{where}.within")
        if kind == "each":
            if not isinstance(arg, list):
                raise TranslationError(f"{where}.each", "expected a list of steps")
            return Each(
                tuple(self.step(s, f"{where}.each[{i}]", inner_roots) for i, s in enumerate(arg))
            )
        if kind == "filter":
            return Filter(self.cond(arg, f"{where}.filter", inner_roots))
        if kind == "shape":
            if not isinstance(arg, str):
                raise TranslationError(f"{where}.shape", "expected a shape name")
            return Apply(self.shape(arg, f"{where}.shape"), shape=arg)
        if kind == "apply":
            return Apply(self.value(arg, f"{where}.apply", inner_roots))
        raise TranslationError(where, f"unknown step {kind!r}")

    @staticmethod
    def _within(arg: Any, where: str) -> tf.Within:
        if not isinstance(arg, dict) or not arg or set(arg) - {"min", "max"}:
            raise TranslationError(where, "expected {min: N, max: N} (either or both)")
        for key, bound in arg.items():
            if isinstance(bound, bool) or not isinstance(bound, int | float):
                raise TranslationError(f"{where}.{key}", "expected a number")
        return tf.Within(arg.get("min"), arg.get("max"))

    @staticmethod
    def _buckets(arg: Any, where: str) -> tf.Buckets:
        if not isinstance(arg, list) or not arg:
            raise TranslationError(where, "expected a list of {min, value}")
        bounds: list[tuple[float | None, Any]] = []
        for i, item in enumerate(arg):
            if not isinstance(item, dict) or "value" not in item or set(item) - {"min", "value"}:
                raise TranslationError(f"{where}[{i}]", "expected {min: N, value: V}")
            low = item.get("min")
            if low is not None and (isinstance(low, bool) or not isinstance(low, int | float)):
                raise TranslationError(f"{where}[{i}].min", "expected a number")
            bounds.append((low, item["value"]))
        floors = [b for b in bounds if b[0] is None]
        if len(floors) > 1 or (floors and bounds[-1][0] is not None):
            raise TranslationError(where, "only the last bucket may omit `min`")
        mins = [b[0] for b in bounds if b[0] is not None]
        if mins != sorted(mins, reverse=True):
            raise TranslationError(where, "buckets must be ordered from the highest `min` down")
        return tf.Buckets(tuple(bounds))

    def fields(self, raw: Any, where: str, roots: frozenset[str]) -> tuple[tuple[str, Value], ...]:
        if raw is None:
            return ()
        if not isinstance(raw, dict):
            raise TranslationError(where, "expected a mapping of name: value rule")
        return tuple((str(k), self.value(v, f"{where}.{k}", roots)) for k, v in raw.items())


_OPERATION_KEYS = {"operation", "target", "request", "responses", "local", "lifecycle"}
_OPERATION_KEYS |= {"description", "shapes"}
_COMMON_KEYS = {"shapes", "every_call", "errors", "description"}


def load_translations(folder: Path) -> Translations:
    """Read every `*.yaml` under `folder` into one `Translations`."""
    if not folder.is_dir():
        raise TranslationError(str(folder), "translations folder not found")
    docs: list[tuple[str, dict[str, Any]]] = []
    for path in sorted(folder.glob("*.yaml")):
        try:
            raw = yamlfile.load(read_regular(path).decode("utf-8"))
        except (OSError, UnicodeDecodeError, yaml.YAMLError) as exc:
            raise TranslationError(path.name, f"cannot read: {_one_line(exc)}") from exc
        if not isinstance(raw, dict):
            raise TranslationError(path.name, "expected a mapping at the top")
        docs.append((path.name, raw))
    if not docs:
        raise TranslationError(str(folder), "no *.yaml translation files")
    return parse_documents(docs)


def parse_documents(docs: list[tuple[str, dict[str, Any]]]) -> Translations:
    """Parse already-loaded documents (name, mapping); used by tests and `load_translations`."""
    raw_shapes, every_call, errors = _common_parts(docs)
    if errors is None:
        raise TranslationError("translations", "no file defines the `errors` table")
    parser = _Parser(raw_shapes)
    shapes = {n: parser.shape(n, f"{raw_shapes[n][0]}: shapes.{n}") for n in raw_shapes}
    common = RequestRules()
    if every_call is not None:
        src, raw = every_call
        if not isinstance(raw, dict) or set(raw) - {"headers"}:
            raise TranslationError(f"{src}: every_call", "only `headers` may be set for every call")
        every = parser.fields(raw.get("headers"), f"{src}: every_call.headers", REQUEST_ROOTS)
        refuse_call_framing((name for name, _ in every), f"{src}: every_call.headers")
        common = RequestRules(headers=every)
    operations: dict[str, OperationRules] = {}
    for name, doc in docs:
        if "operation" not in doc:
            continue
        rules = _operation(parser, name, doc)
        if rules.operation in operations:
            raise TranslationError(
                f"{name}: operation",
                f"{rules.operation!r} is also translated in {operations[rules.operation].source}",
            )
        operations[rules.operation] = rules
    return Translations(
        operations=MappingProxyType(operations),
        every_call=common,
        errors=_error_table(*errors),
        shapes=MappingProxyType(shapes),
        shape_files=MappingProxyType({n: raw_shapes[n][0] for n in raw_shapes}),
    )


_Sourced = tuple[str, Any]  # (file name, raw YAML value)


def _common_parts(
    docs: list[tuple[str, dict[str, Any]]],
) -> tuple[dict[str, _Sourced], _Sourced | None, _Sourced | None]:
    """The parts any file may hold, each defined once: shapes, every_call, errors."""
    raw_shapes: dict[str, _Sourced] = {}
    every_call: _Sourced | None = None
    errors: _Sourced | None = None
    for name, doc in docs:
        allowed = _OPERATION_KEYS if "operation" in doc else _COMMON_KEYS
        unknown = set(doc) - allowed
        if unknown:
            raise TranslationError(name, f"unknown top-level keys {sorted(unknown)}")
        shapes = doc.get("shapes") or {}
        if not isinstance(shapes, dict):
            raise TranslationError(f"{name}: shapes", "expected a mapping of name: value rule")
        for shape_name, shape in shapes.items():
            if shape_name in raw_shapes:
                raise TranslationError(
                    f"{name}: shapes.{shape_name}", f"also defined in {raw_shapes[shape_name][0]}"
                )
            raw_shapes[shape_name] = (name, shape)
        for key, slot in (("every_call", every_call), ("errors", errors)):
            if key in doc and slot is not None:
                raise TranslationError(f"{name}: {key}", f"also defined in {slot[0]}")
        if "every_call" in doc:
            every_call = (name, doc["every_call"])
        if "errors" in doc:
            errors = (name, doc["errors"])
    return raw_shapes, every_call, errors


def _operation(parser: _Parser, src: str, doc: dict[str, Any]) -> OperationRules:
    rules = _operation_rules(parser, src, doc)
    lifecycle = parse_lifecycle(doc.get("lifecycle"), f"{src}: lifecycle")
    if not lifecycle:
        return rules
    written = (
        [(f"{src}: local.headers.{n}", n) for n, _ in rules.local.headers] if rules.local else []
    )
    for status, rule in rules.responses.items():
        written += [(f"{src}: responses.{status}.headers.{n}", n) for n, _ in rule.headers]
    refuse_rewrites(lifecycle, written)
    return replace(rules, lifecycle=lifecycle)


def _operation_rules(parser: _Parser, src: str, doc: dict[str, Any]) -> OperationRules:
    op = doc["operation"]
    if not isinstance(op, str):
        raise TranslationError(f"{src}: operation", "expected an operationId")
    if ("target" in doc) == ("local" in doc):
        raise TranslationError(
            src,
            "an operation has either `target` (a /v2 operationId) or "
            "`local` (answered by the gateway), not both or neither",
        )
    if "local" in doc:
        if "request" in doc or "responses" in doc:
            raise TranslationError(src, "a `local` operation has no request or responses rules")
        return OperationRules(
            operation=op,
            source=src,
            target=None,
            request=RequestRules(),
            responses=MappingProxyType({}),
            local=_local(parser, src, doc["local"]),
        )
    request = doc.get("request") or {}
    where = f"{src}: request"
    if not isinstance(request, dict) or set(request) - {"path", "query", "headers", "body"}:
        raise TranslationError(where, "expected any of path, query, headers, body")
    call_headers = parser.fields(request.get("headers"), f"{where}.headers", REQUEST_ROOTS)
    refuse_call_framing((name for name, _ in call_headers), f"{where}.headers")
    rules = RequestRules(
        parser.fields(request.get("path"), f"{where}.path", REQUEST_ROOTS),
        parser.fields(request.get("query"), f"{where}.query", REQUEST_ROOTS),
        call_headers,
        parser.value(request["body"], f"{where}.body", REQUEST_ROOTS)
        if "body" in request
        else None,
    )
    responses = _responses(parser, src, doc.get("responses"))
    return OperationRules(
        operation=op,
        source=src,
        target=str(doc["target"]),
        request=rules,
        responses=responses,
        local=None,
    )


def _local(parser: _Parser, src: str, raw: Any) -> LocalRule:
    where = f"{src}: local"
    if not isinstance(raw, dict) or set(raw) - {"status", "error", "headers"}:
        raise TranslationError(where, "expected {status, error, headers}")
    headers = parser.fields(raw.get("headers"), f"{where}.headers", REQUEST_ROOTS)
    refuse_edge_headers((name for name, _ in headers), f"{where}.headers")
    return LocalRule(
        _status(raw.get("status"), f"{where}.status"),
        _text(raw.get("error"), f"{where}.error"),
        headers,
    )


def _responses(parser: _Parser, src: str, raw_responses: Any) -> Mapping[int, ResponseRule]:
    if not isinstance(raw_responses, dict) or not raw_responses:
        raise TranslationError(f"{src}: responses", "expected rules keyed by /v2 status")
    responses: dict[int, ResponseRule] = {}
    for key, raw in raw_responses.items():
        w = f"{src}: responses.{key}"
        v2_status = _status(key, w)
        if not isinstance(raw, dict) or set(raw) - {"status", "body", "headers"}:
            raise TranslationError(w, "expected {status, body, headers}")
        headers = parser.fields(raw.get("headers"), f"{w}.headers", RESPONSE_ROOTS)
        refuse_edge_headers((name for name, _ in headers), f"{w}.headers")
        responses[v2_status] = ResponseRule(
            _status(raw.get("status"), f"{w}.status"),
            parser.value(raw["body"], f"{w}.body", RESPONSE_ROOTS) if "body" in raw else None,
            headers,
        )
    return MappingProxyType(responses)


def _error_table(src: str, raw: Any) -> ErrorTable:
    where = f"{src}: errors"
    if not isinstance(raw, dict):
        raise TranslationError(where, "expected a mapping")
    unknown = set(raw) - {"status", "other_4xx", "other_5xx", "keep_headers", "message"}
    if unknown:
        raise TranslationError(where, f"unknown keys {sorted(unknown)}")
    table = raw.get("status") or {}
    keep = raw.get("keep_headers") or {}
    message = raw.get("message") or ["detail", "title"]
    if not isinstance(table, dict) or not isinstance(keep, dict) or not isinstance(message, list):
        raise TranslationError(where, "status and keep_headers are mappings, message a list")
    for status, names in keep.items():
        refuse_edge_headers((str(h) for h in names), f"{where}.keep_headers.{status}")
    return ErrorTable(
        status=MappingProxyType(
            {
                _status(k, f"{where}.status"): _status(v, f"{where}.status.{k}")
                for k, v in table.items()
            }
        ),
        other_4xx=_status(raw.get("other_4xx", 400), f"{where}.other_4xx"),
        other_5xx=_status(raw.get("other_5xx", 502), f"{where}.other_5xx"),
        keep_headers=MappingProxyType(
            {_status(k, f"{where}.keep_headers"): tuple(str(h) for h in v) for k, v in keep.items()}
        ),
        message_fields=tuple(str(m) for m in message),
    )


def _status(raw: Any, where: str) -> int:
    try:
        status = int(raw)
    except (TypeError, ValueError):
        raise TranslationError(where, f"expected an HTTP status, got {raw!r}") from None
    if not 100 <= status <= 599:
        raise TranslationError(where, f"{status} is not an HTTP status")
    return status


def _text(raw: Any, where: str) -> str:
    if not isinstance(raw, str) or not raw:
        raise TranslationError(where, "expected a non-empty string")
    return raw


def _one_line(exc: BaseException) -> str:
    return " ".join(str(exc).split())
