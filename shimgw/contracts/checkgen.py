"""The request checks as generated Python: one function per operation and contract.

Theory of operation
-------------------
`Phase1RequestCheck.parse` and `Phase2RequestCheck.check` (validators.py) loop
over an operation's parameter checks on every request: per parameter a handful
of attribute reads, a cast through a lambda, a schema call that checks and, on
failure, explains; per section a loop even when the operation has none of
those parameters. Here, once per snapshot, each operation's checks are written
out as the source of one function and compiled, as translate/codegen.py does
for the translation's object rules:

- a section the operation does not have is not written (getJob's Phase 1 check
  reads no query and no body; a /v2 call with no query has no name to refuse);
- a parameter is one lookup, its cast inlined (text stays text; an integer made
  of ASCII digits only is `int()`, anything else goes the regex caster), and one
  `is_valid` call: only an invalid value pays for the explaining `check`, which
  raises the very `Invalid` the loop raises;
- the body is the loop's own `_body` (decoding and its schema cost what they cost).

The loops stay (`parse_walk`, `check_walk`): they are what the generated code must
equal, and what runs should a check's source not compile. Names reach the
source only through repr(); values only through the namespace.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable, Mapping
from types import ModuleType
from typing import TYPE_CHECKING, Any

from shimgw.errors import BadRequest
from shimgw.messages import ABSENT, ParsedRequest

if TYPE_CHECKING:  # validators.py imports this module (its checks hold what this builds)
    from shimgw.contracts.validators import Phase1RequestCheck, Phase2RequestCheck, _ParamCheck


def _validators() -> ModuleType:
    """validators.py, read when a check is built (it imports this module as it loads)."""
    return importlib.import_module("shimgw.contracts.validators")


ParseFn = Callable[
    [Mapping[str, str], Mapping[str, str], Mapping[str, str], str, bytes], ParsedRequest
]
CheckFn = Callable[[Any], None]


class _Source:
    def __init__(self, namespace: dict[str, Any]) -> None:
        self.namespace = namespace
        self.lines: list[str] = []
        self.count = 0

    def const(self, value: Any) -> str:
        self.count += 1
        name = f"k{self.count}"
        self.namespace[name] = value
        return name

    def compile(self, name: str, label: str) -> Any:
        code = compile("\n".join(self.lines) + "\n", f"<shimgw {label}>", "exec")
        exec(code, self.namespace)
        return self.namespace[name]


def _cast(src: _Source, check: _ParamCheck, text: str, ind: str) -> list[str]:
    """`value = check.cast(text)`, inlined for the two casts parameters mostly have."""
    v = _validators()
    if check.cast is v.cast_text:
        return [f"{ind}value = {text}"]
    if check.cast is v.cast_integer:
        # isdigit() alone takes other scripts' digits; with isascii() only 0-9 remain,
        # which _INTEGER takes too (1 to 19 of them, no sign: the sign goes the regex way).
        return [
            f"{ind}if {text}.isdigit() and {text}.isascii() and len({text}) <= 19:",
            f"{ind}    value = int({text})",
            f"{ind}else:",
            f"{ind}    value = {src.const(check.cast)}({text})",
        ]
    return [f"{ind}value = {src.const(check.cast)}({text})"]


def _schema(src: _Source, check: _ParamCheck, ind: str, wrap: str | None = None) -> list[str]:
    """Only an invalid value calls the explaining check, which raises the loop's Invalid."""
    valid = src.const(check.schema.validator.is_valid)
    explain = f"{src.const(check.schema.check)}(value, {check.label!r})"
    if wrap is None:
        return [f"{ind}if not {valid}(value):", f"{ind}    {explain}"]
    return [
        f"{ind}if not {valid}(value):",
        f"{ind}    try:",
        f"{ind}        {explain}",
        f"{ind}    except Invalid as exc:",
        f"{ind}        raise Invalid(str(exc), {wrap}) from None",
    ]


# --- Phase 1 in -----------------------------------------------------------------------------


def phase1_parser(check: Phase1RequestCheck) -> ParseFn | None:
    """The generated `parse` of `check`, or None (then the loop runs)."""
    src = _Source(
        {
            "ABSENT": ABSENT,
            "Invalid": _validators().Invalid,
            "BadRequest": BadRequest,
            "ParsedRequest": ParsedRequest,
        }
    )
    src.lines += ["def parse(path, query, headers, content_type, body):", "    try:"]
    if check.query:
        # `?page=1&page=2` is refused (the loop's _refuse_repeats); a plain dict never differs.
        refuse = src.const(check._refuse_repeats)
        src.lines += [
            "        if len(query) != len(query.keys()):",
            f"        {' ' * 4}{refuse}(query)",
        ]
    for section, checks, raw in (("P", check.path, "path"), ("Q", check.query, "query")):
        src.lines.append(f"        {section} = {{}}")
        for param in checks:
            src.lines += _phase1_param(src, param, section, raw)
    body = f"{src.const(check._body)}(content_type, body)" if check.body else "ABSENT"
    src.lines += [
        f"        return ParsedRequest(operation={check.operation!r}, path=P, query=Q, "
        f"headers=headers, body={body})",
        "    except Invalid as exc:",
        "        raise BadRequest(str(exc)) from exc",
    ]
    try:
        parser: ParseFn = src.compile("parse", f"phase1 check {check.operation}")
    except (SyntaxError, RecursionError, MemoryError):  # pragma: no cover - the loop runs
        return None
    return parser


def _phase1_param(src: _Source, param: _ParamCheck, out: str, raw: str) -> list[str]:
    ind = "            "
    lines = [f"        text = {raw}.get({param.key!r})", "        if text is None:"]
    if param.required:
        lines.append(f"{ind}raise Invalid({param.label + ': is required'!r})")
    elif param.default is not ABSENT:
        lines.append(f"{ind}{out}[{param.name!r}] = {src.const(param.default)}")
    else:
        lines.append(f"{ind}pass")
    lines += ["        else:", *_cast(src, param, "text", ind), *_schema(src, param, ind)]
    lines.append(f"{ind}{out}[{param.name!r}] = value")
    return lines


# --- Phase 2 out ----------------------------------------------------------------------------


def phase2_checker(check: Phase2RequestCheck) -> CheckFn | None:
    """The generated `_check` of `check` (Invalid out, as the loop), or None."""
    v = _validators()
    src = _Source({"ABSENT": ABSENT, "Invalid": v.Invalid, "media_of": v._media})
    src.lines.append("def check(request):")
    for location, checks, values in (
        ("path", check.path, "request.path_params"),
        ("query", check.query, "request.query"),
    ):
        if checks:
            src.lines.append(f"    values = {values}")
        for param in checks:
            src.lines += _phase2_value(src, param, location)
    # Every name of the call's query must be one the contract knows.
    known = src.const(frozenset(c.name for c in check.query))
    src.lines += [
        "    for name in request.query:",
        f"        if name not in {known}:",
        "            raise Invalid(f'query parameter {name!r}: not in the contract')",
    ]
    if check.headers:
        src.lines.append("    headers = request.headers")
    for param in check.headers:
        src.lines += _phase2_header(src, param)
    src.lines += _phase2_body(src, check)
    try:
        checker: CheckFn = src.compile("check", f"phase2 check {check.operation}")
    except (SyntaxError, RecursionError, MemoryError):  # pragma: no cover - the loop runs
        return None
    return checker


def _phase2_value(src: _Source, param: _ParamCheck, location: str) -> list[str]:
    lines = [f"    value = values.get({param.name!r}, ABSENT)", "    if value is ABSENT:"]
    if param.required:
        lines.append(f"        raise Invalid({param.label + ': is required'!r})")
    else:
        lines.append("        pass")
    wrap = f"{location!r}, ({param.name!r}, *exc.path)"
    return [*lines, "    else:", *_schema(src, param, "        ", wrap)]


def _phase2_header(src: _Source, param: _ParamCheck) -> list[str]:
    lines = [f"    text = headers.get({param.name!r})", "    if text is None:"]
    if param.required:
        lines.append(f"        raise Invalid({param.label + ': is required'!r})")
    else:
        lines.append("        pass")
    wrap = f"'header', ({param.key!r},)"  # the loop names the header alone
    return [
        *lines,
        "    else:",
        *_cast(src, param, "text", "        "),
        *_schema(src, param, "        ", wrap),
    ]


def _phase2_body(src: _Source, check: Phase2RequestCheck) -> list[str]:
    required = (
        "raise Invalid('body: a request body is required')" if check.body_required else "return"
    )
    lines = ["    if request.body is ABSENT:", f"        {required}"]
    # The plan's content type is one of these: its media type is looked up, not parsed.
    media_of = src.namespace["media_of"]
    known = src.const({mt: media_of(mt) for mt in check.body})
    lines += [
        "    ctype = request.content_type or ''",
        f"    media = {known}.get(ctype) or media_of(ctype)",
        f"    if media not in {src.const(check.body)}:",
        "        raise Invalid(f'body: content type {media!r} is not accepted')",
        f"    schema = {src.const(check.body)}[media]",
        "    if schema is not None:",
        "        try:",
        "            schema.check(request.body, 'body')",
        "        except Invalid as exc:",
        "            raise Invalid(str(exc), 'body', exc.path) from None",
    ]
    return lines
