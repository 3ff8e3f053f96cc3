"""Compiling rule trees into closures, and operation rules plus contracts into plans.

See the theory of operation in `engine.py`. Everything here runs when a
snapshot is built, never per request.
"""

from __future__ import annotations

import operator
from collections.abc import Callable, Mapping
from typing import Any

from shimgw.messages import ABSENT
from shimgw.translate import transforms as tf
from shimgw.translate.codegen import FieldSpec, object_builder
from shimgw.translate.nodes import (
    All,
    AnyOf,
    Apply,
    Arith,
    Concat,
    Cond,
    Const,
    Contains,
    Each,
    Eq,
    Filter,
    From,
    If,
    Not,
    Obj,
    Present,
    Step,
    Value,
)
from shimgw.translate.transforms import TransformFailed

Ctx = Mapping[str, Any]
Evaluator = Callable[[Ctx, Any], Any]
StepFn = Callable[[Ctx, Any], Any]
Test = Callable[[Ctx, Any], bool]

_ARITH: Mapping[str, Callable[[Any, Any], Any]] = {
    "add": operator.add,
    "sub": operator.sub,
    "mul": operator.mul,
}


def compile_value(value: Value) -> Evaluator:
    base = _compile_base(value.base)
    default = value.default
    if not value.pipe and default is ABSENT:
        return base
    plain = [_plain(s) for s in value.pipe]
    if all(fn is not None for fn in plain):
        # Value transforms only (the common case): call them directly, one or two
        # unrolled, so a field costs as few Python calls as it can.
        return _compile_plain(base, tuple(fn for fn in plain if fn is not None), default)
    steps = tuple(compile_step(s) for s in value.pipe)

    def run(ctx: Ctx, it: Any) -> Any:
        result = base(ctx, it)
        if result is ABSENT:
            return default
        for step in steps:
            result = step(ctx, result)
        return result

    return run


def _plain(step: Step) -> Callable[[Any], Any] | None:
    """The step as a function of the value alone, when it needs nothing else."""
    if isinstance(step, Each | Filter | Apply):
        return None
    if isinstance(step, tf.Simple):
        return step.fn
    return step.apply


def _compile_plain(
    base: Evaluator, fns: tuple[Callable[[Any], Any], ...], default: Any
) -> Evaluator:
    if not fns:
        return lambda ctx, it: default if (r := base(ctx, it)) is ABSENT else r
    if len(fns) == 1:
        (f,) = fns
        return lambda ctx, it: default if (r := base(ctx, it)) is ABSENT else f(r)
    if len(fns) == 2:
        f, g = fns
        return lambda ctx, it: default if (r := base(ctx, it)) is ABSENT else g(f(r))

    def run(ctx: Ctx, it: Any) -> Any:
        result = base(ctx, it)
        if result is ABSENT:
            return default
        for fn in fns:
            result = fn(result)
        return result

    return run


def _compile_base(base: Any) -> Evaluator:
    if isinstance(base, From):
        return _compile_from(base)
    if isinstance(base, Const):
        constant = base.value
        return lambda ctx, it: constant
    if isinstance(base, Obj):
        return _compile_object(base)
    if isinstance(base, Concat):
        return _compile_concat(base)
    if isinstance(base, If):
        test, then, otherwise = (
            compile_cond(base.cond),
            *map(compile_value, (base.then, base.otherwise)),
        )
        return lambda ctx, it: then(ctx, it) if test(ctx, it) else otherwise(ctx, it)
    if isinstance(base, Arith):
        return _compile_arith(base)
    raise TypeError(f"unknown value node {base!r}")  # pragma: no cover - language.py forbids


def _compile_from(node: From) -> Evaluator:
    root, path = node.root, node.path
    if root == "header":
        name = path[0].lower()
        return lambda ctx, it: ctx["header"].get(name, ABSENT)

    def walk(ctx: Ctx, it: Any) -> Any:
        current = it if root == "it" else ctx.get(root, ABSENT)
        for segment in path:
            # JSON objects are dicts; the ABC check is only for other mappings.
            if type(current) is not dict and not isinstance(current, Mapping):
                return ABSENT
            current = current.get(segment, ABSENT)
        return current

    if root == "it" and len(path) == 1:
        (only,) = path

        def field(ctx: Ctx, it: Any) -> Any:
            return it.get(only, ABSENT) if type(it) is dict else walk(ctx, it)

        return field
    if root == "it" and len(path) == 2:
        first, second = path

        def nested(ctx: Ctx, it: Any) -> Any:
            if type(it) is dict:
                inner = it.get(first, ABSENT)
                if type(inner) is dict:
                    return inner.get(second, ABSENT)
            return walk(ctx, it)

        return nested
    return walk


def _compile_object(node: Obj) -> Evaluator:
    fields = tuple((name, compile_value(v)) for name, v in node.fields)

    def build(ctx: Ctx, it: Any) -> Any:
        out = {}
        for name, fn in fields:
            try:
                result = fn(ctx, it)
            except TransformFailed as exc:  # free unless raised: name the field
                exc.path = (name, *exc.path)
                raise
            if result is not ABSENT:
                out[name] = result
        # An object none of whose fields is present vanishes, so optional nested
        # blocks (notification.webhook.url) are omitted rather than sent empty.
        return out if out or not fields else ABSENT

    specs = tuple(
        _field_spec(name, v, fn) for (name, v), (_, fn) in zip(node.fields, fields, strict=True)
    )
    return object_builder(specs, build)


def _field_spec(name: str, value: Value, compiled: Evaluator) -> FieldSpec:
    """How codegen.py may inline a field: a path under `it`, with plain transforms only."""
    base, fns = value.base, tuple(_plain(s) for s in value.pipe)
    if (
        isinstance(base, From)
        and base.root == "it"
        and len(base.path) >= 1
        and all(fn is not None for fn in fns)
    ):
        plain = tuple(fn for fn in fns if fn is not None)
        return FieldSpec(name, compiled, _compile_from(base), base.path, plain, value.default)
    return FieldSpec(name, compiled, compiled, None)


def _compile_concat(node: Concat) -> Evaluator:
    parts = tuple(compile_value(p) for p in node.parts)

    def concat(ctx: Ctx, it: Any) -> Any:
        texts = []
        for part in parts:
            result = part(ctx, it)
            if result is ABSENT:
                return ABSENT
            texts.append(result if isinstance(result, str) else tf.SIMPLE["to_str"](result))
        return "".join(texts)

    return concat


def _compile_arith(node: Arith) -> Evaluator:
    op, left, right = _ARITH[node.op], compile_value(node.left), compile_value(node.right)

    def arith(ctx: Ctx, it: Any) -> Any:
        a, b = left(ctx, it), right(ctx, it)
        if a is ABSENT or b is ABSENT:
            return ABSENT
        for operand in (a, b):
            if isinstance(operand, bool) or not isinstance(operand, int | float):
                raise TransformFailed(f"not a number: {operand!r}")
        return op(a, b)

    return arith


def compile_step(step: Step) -> StepFn:
    if isinstance(step, Each):
        inner = tuple(compile_step(s) for s in step.steps)

        def each(ctx: Ctx, value: Any) -> Any:
            if not isinstance(value, list):
                raise TransformFailed(f"not a list: {value!r}")
            out = []
            for index, item in enumerate(value):
                try:
                    for fn in inner:
                        item = fn(ctx, item)
                except TransformFailed as exc:
                    exc.path = (index, *exc.path)
                    raise
                out.append(item)
            return out

        return each
    if isinstance(step, Filter):
        test = compile_cond(step.cond)

        def keep(ctx: Ctx, value: Any) -> Any:
            if not isinstance(value, list):
                raise TransformFailed(f"not a list: {value!r}")
            return [item for item in value if test(ctx, item)]

        return keep
    if isinstance(step, Apply):
        return compile_value(step.value)
    transform = step.apply
    return lambda ctx, value: transform(value)  # the transform ignores ctx


def compile_cond(cond: Cond) -> Test:
    if isinstance(cond, Eq):
        left, right = compile_value(cond.left), compile_value(cond.right)
        return lambda ctx, it: bool(left(ctx, it) == right(ctx, it))
    if isinstance(cond, Contains):
        hay, needle = compile_value(cond.haystack), compile_value(cond.needle)

        def contains(ctx: Ctx, it: Any) -> bool:
            values = hay(ctx, it)
            return isinstance(values, list | tuple) and needle(ctx, it) in values

        return contains
    if isinstance(cond, Present):
        fn = compile_value(cond.value)
        return lambda ctx, it: fn(ctx, it) is not ABSENT
    if isinstance(cond, Not):
        inner = compile_cond(cond.cond)
        return lambda ctx, it: not inner(ctx, it)
    if isinstance(cond, All | AnyOf):
        tests = tuple(compile_cond(c) for c in cond.conds)
        combine = all if isinstance(cond, All) else any
        return lambda ctx, it: combine(t(ctx, it) for t in tests)
    raise TypeError(f"unknown condition {cond!r}")  # pragma: no cover
