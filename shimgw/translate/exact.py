"""Which answers may be checked as the object they were encoded from: a proof at build time.

Theory of operation
-------------------
The last check before an answer leaves (wirecheck.py) holds the gateway's own
Phase 1 answer to phase1.yaml. Its reference form re-reads the bytes just
written: `jsoncodec.loads(jsoncodec.dumps(data))` then the validator. Checking
`data` itself skips a parse the size of the answer, and is the same check
whenever that round trip gives the validator back what it was given.

It does for JSON's own values: dict with str keys, list, str, int (any size:
jsoncodec writes and reads big ones digit for digit), finite float, bool, None
(a tuple is written and validated as an array). It does not for a non-finite
float (orjson writes NaN and ±Infinity as `null`, which the validator may
refuse where it let the float pass) nor for anything else orjson writes in its
own way (dates, enums, UUIDs, subclasses).

So a response rule earns the object check only when this module proves, from
its rule tree, that every value it can put in the answer is JSON's own and
finite:
- values read from the /v2 answer or the Phase 1 request were decoded by
  jsoncodec.loads (finite floats only, both decoders) or cast from text by the
  request check (a non-finite float stays text) — except a parameter's
  default, which comes from phase1.yaml and is vetted here like a constant;
- constants, defaults and the outputs of `map` and `buckets` are vetted;
- every step is one whose output is text, an integer, or values it was given
  (checked against an explicit list: a new transform is unproven until added);
- arithmetic is refused outright (a product of finite floats can overflow).

Anything the proof does not know makes the answer fall back to the reference
check. The proof is conservative, never clever: a false "no" costs a parse, a
false "yes" would let an answer through unchecked.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

from shimgw.messages import ABSENT
from shimgw.translate import nodes as n
from shimgw.translate import transforms as tf

# Plain transforms whose output is text, an integer or (a list of) values they were given.
_SIMPLE_EXACT = frozenset(
    {
        "to_int",
        "to_str",
        "rfc3339_to_epoch",
        "epoch_to_rfc3339",
        "http_date",
        "escape_line",
        "values",
        "sort",
        "unique",
    }
)
_INPUT_ROOTS = frozenset({"body", "header", "status"})  # the /v2 answer, decoded or parsed
UNKNOWN = object()  # a parameter whose default the proof cannot see (a $ref)


def is_exact(value: Any) -> bool:
    """Whether `value` is JSON's own: what jsoncodec writes, it reads back the same."""
    kind = type(value)
    if value is None or kind is str or kind is bool or kind is int:
        return True
    if kind is float:
        return math.isfinite(value)
    if kind is list or kind is tuple:
        return all(is_exact(item) for item in value)
    if kind is dict:
        return all(type(k) is str and is_exact(v) for k, v in value.items())
    return False


def proven_exact(value: n.Value, defaults: Mapping[tuple[str, str], Any]) -> bool:
    """Whether every value `value` can produce is JSON's own (see the module docstring).

    `defaults` maps a Phase 1 parameter (`("query", "page")`) to its default in
    phase1.yaml (ABSENT: none; UNKNOWN: not visible), for reads of `request`.
    """
    return _value(value, defaults)


def _value(value: n.Value, defaults: Mapping[tuple[str, str], Any]) -> bool:
    if value.default is not ABSENT and not is_exact(value.default):
        return False
    return _base(value.base, defaults) and all(_step(s, defaults) for s in value.pipe)


def _base(base: Any, defaults: Mapping[tuple[str, str], Any]) -> bool:
    if isinstance(base, n.From):
        return _read(base, defaults)
    if isinstance(base, n.Const):
        return is_exact(base.value)
    if isinstance(base, n.Obj):
        return all(_value(v, defaults) for _, v in base.fields)
    if isinstance(base, n.Concat):  # text
        return all(_value(v, defaults) for v in base.parts)
    if isinstance(base, n.If):
        return _value(base.then, defaults) and _value(base.otherwise, defaults)
    return False  # Arith, or a node this proof does not know


def _read(read: n.From, defaults: Mapping[tuple[str, str], Any]) -> bool:
    if read.root in _INPUT_ROOTS or read.root == "it":
        return True
    if read.root != "request":
        return False
    if read.path[:1] == ("body",):
        return True
    if read.path[:1] in (("query",), ("path",)):
        location = read.path[0]
        named = [d for (loc, name), d in defaults.items() if loc == location]
        if len(read.path) > 1:
            named = [defaults.get((location, read.path[1]), ABSENT)]
        return all(d is ABSENT or (d is not UNKNOWN and is_exact(d)) for d in named)
    return False  # all of `request` at once, or a part the proof does not know


def _step(step: Any, defaults: Mapping[tuple[str, str], Any]) -> bool:
    if isinstance(step, tf.Simple):
        return step.name in _SIMPLE_EXACT
    if isinstance(step, tf.Template | tf.StripPrefix | tf.Within | tf.Pluck | tf.Join):
        return True  # text, or the value (or items) it was given
    if isinstance(step, tf.EnumMap):
        return all(is_exact(v) for v in step.table.values())
    if isinstance(step, tf.Buckets):
        return all(is_exact(out) for _, out in step.bounds)
    if isinstance(step, n.Each):
        return all(_step(s, defaults) for s in step.steps)
    if isinstance(step, n.Filter):
        return True  # keeps some of the values it was given
    if isinstance(step, n.Apply):
        return _value(step.value, defaults)
    return False
