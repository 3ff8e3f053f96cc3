"""Value trees written out as Python statements, for the generated /v2 call (callgen.py).

Theory of operation. `ValueWriter.value(v, out, it, indent)` returns the lines
that leave in the local `out` what `compiler.compile_value(v)(ctx, it)` returns,
where `it` names a local holding the current `it` ("None" at the top of a rule).
Each construct is written exactly as its closure behaves:

- `from`: the roots are locals read once (P, Q, H, B; `it` a local); a path is
  `dict.get` per segment while every step is a dict, else `walk` from the root
  (the closures' walk: any Mapping, ABSENT at the first non-mapping). A header
  is one `get` of its lower-case name, as in the closure.
- a pipe: nothing when the base is absent (the default instead), then each step
  on the value; a plain transform is a direct call (`template` inlined), an
  `apply` (a `shape`) writes its value with `it` bound to the piped value.
- `concat` stops at the first absent part (later parts are not evaluated, so
  cannot fail), constant text is folded; `object` names the field in a
  TransformFailed and vanishes when no field is present; `add`/`sub`/`mul`
  refuse what is not a number with the closure's words.
- anything else (`if`, `each`, `filter`, a root unknown to requests) calls its
  compiled closure with `ctx`; `needs_ctx` tells the caller to build it.
"""

from __future__ import annotations

from typing import Any

from shimgw.messages import ABSENT
from shimgw.translate import transforms as tf
from shimgw.translate.compiler import compile_step, compile_value
from shimgw.translate.nodes import Apply, Arith, Concat, Const, Each, Filter, From, Obj, Step, Value

ROOTS = {"path": "P", "query": "Q", "header": "H", "body": "B"}  # root → local name
_ARITH = {"add": "+", "sub": "-", "mul": "*"}


class ValueWriter:
    """Writes statements; `namespace` holds every value the source refers to by name."""

    def __init__(self, namespace: dict[str, Any]) -> None:
        self.namespace = namespace
        self.count = 0
        self.roots: set[str] = set()  # the root locals the lines read
        self.needs_ctx = False  # some line calls a closure with ctx

    def const(self, value: Any) -> str:
        self.count += 1
        name = f"k{self.count}"
        self.namespace[name] = value
        return name

    def temp(self) -> str:
        self.count += 1
        return f"t{self.count}"

    def closure(self, fn: Any, out: str, it: str, ind: str) -> list[str]:
        self.needs_ctx = True
        return [f"{ind}{out} = {self.const(fn)}(ctx, {it})"]

    # --- values -------------------------------------------------------------------------

    def value(self, v: Value, out: str, it: str, ind: str) -> list[str]:
        lines = self.base(v, out, it, ind)
        steps: list[str] = []
        for step in v.pipe:
            steps += self.step(step, out, ind + "    ")
        if v.default is not ABSENT:
            lines += [f"{ind}if {out} is ABSENT:", f"{ind}    {out} = {self.const(v.default)}"]
            if steps:
                lines += [f"{ind}else:", *steps]
        elif steps:
            lines += [f"{ind}if {out} is not ABSENT:", *steps]
        return lines

    def base(self, v: Value, out: str, it: str, ind: str) -> list[str]:
        node = v.base
        if isinstance(node, Const):
            return [f"{ind}{out} = {self.const(node.value)}"]
        if isinstance(node, From):
            return self.read(node, v, out, it, ind)
        if isinstance(node, Concat):
            return self.concat(node, out, it, ind)
        if isinstance(node, Obj):
            return self.obj(node, out, it, ind)
        if isinstance(node, Arith):
            return self.arith(node, out, it, ind)
        return self.closure(compile_value(Value(node)), out, it, ind)

    def read(self, node: From, v: Value, out: str, it: str, ind: str) -> list[str]:
        if node.root == "header":
            self.roots.add("H")
            return [f"{ind}{out} = H.get({node.path[0].lower()!r}, ABSENT)"]
        if node.root == "it":
            root = it
        elif node.root in ROOTS:
            root = ROOTS[node.root]
            self.roots.add(root)
        else:  # a root requests do not have: the closure reads it from ctx (ABSENT)
            return self.closure(compile_value(Value(node)), out, it, ind)
        path = node.path
        if not path:
            return [f"{ind}{out} = {root}"]
        if len(path) == 1:
            return [
                f"{ind}{out} = {root}.get({path[0]!r}, ABSENT) if type({root}) is dict"
                f" else walk({root}, {self.const(path)})"
            ]
        # Every step a dict: one get per segment; otherwise the generic walk from the root.
        cond, current = [f"type({root}) is dict"], root
        for segment in path[:-1]:
            step = self.temp()
            cond.append(f"type({step} := {current}.get({segment!r}, ABSENT)) is dict")
            current = step
        return [
            f"{ind}if {' and '.join(cond)}:",
            f"{ind}    {out} = {current}.get({path[-1]!r}, ABSENT)",
            f"{ind}else:",
            f"{ind}    {out} = walk({root}, {self.const(path)})",
        ]

    def step(self, step: Step, var: str, ind: str) -> list[str]:
        if isinstance(step, Each | Filter):
            return self.closure(compile_step(step), var, var, ind)
        if isinstance(step, Apply):
            it = self.temp()
            return [f"{ind}{it} = {var}", *self.value(step.value, var, it, ind)]
        if isinstance(step, tf.Template):
            # Template.apply, inlined: an int or a str is its own text; to_str for the rest.
            text = (
                f"(str({var}) if type({var}) is int"
                f" else {var} if type({var}) is str else to_str({var}))"
            )
            parts = [self.const(p) for p in (step.prefix, step.suffix) if p]
            whole = " + ".join(
                ([parts[0]] if step.prefix else []) + [text] + ([parts[-1]] if step.suffix else [])
            )
            return [f"{ind}{var} = {whole}"]
        fn = step.fn if isinstance(step, tf.Simple) else step.apply
        return [f"{ind}{var} = {self.const(fn)}({var})"]

    def concat(self, node: Concat, out: str, it: str, ind: str) -> list[str]:
        lines = [f"{ind}{out} = ABSENT"]
        texts: list[str] = []
        depth = ind
        for part in node.parts:
            if isinstance(part.base, Const) and not part.pipe and isinstance(part.base.value, str):
                texts.append(self.const(part.base.value))  # constant text: never absent
                continue
            var = self.temp()
            lines += self.value(part, var, it, depth)
            lines += [
                f"{depth}if {var} is not ABSENT:",
                f"{depth}    {var} = {var} if isinstance({var}, str) else to_str({var})",
            ]
            texts.append(var)
            depth += "    "
        joined = " + ".join(texts) if len(texts) <= 3 else f"''.join(({', '.join(texts)},))"
        lines.append(f"{depth}{out} = {joined if texts else repr('')}")
        return lines

    def obj(self, node: Obj, out: str, it: str, ind: str) -> list[str]:
        built = self.temp()
        lines = [f"{ind}{built} = {{}}"]
        for name, value in node.fields:
            var = self.temp()
            lines += [
                f"{ind}try:",
                *self.value(value, var, it, ind + "    "),
                f"{ind}except TransformFailed as exc:",
                f"{ind}    exc.path = ({name!r}, *exc.path)",
                f"{ind}    raise",
                f"{ind}if {var} is not ABSENT:",
                f"{ind}    {built}[{name!r}] = {var}",
            ]
        # An object none of whose fields is present vanishes (compiler._compile_object).
        empty = "ABSENT" if node.fields else built
        lines.append(f"{ind}{out} = {built} if {built} else {empty}")
        return lines

    def arith(self, node: Arith, out: str, it: str, ind: str) -> list[str]:
        left, right = self.temp(), self.temp()
        lines = [*self.value(node.left, left, it, ind), *self.value(node.right, right, it, ind)]
        lines += [
            f"{ind}if {left} is ABSENT or {right} is ABSENT:",
            f"{ind}    {out} = ABSENT",
            f"{ind}else:",
        ]
        for operand, value in ((left, node.left), (right, node.right)):
            if _number(value):
                continue  # a constant number: the check below cannot fail
            # An int is the common case: one type() comparison before the closure's test.
            lines += [
                f"{ind}    if type({operand}) is not int and (isinstance({operand}, bool)"
                f" or not isinstance({operand}, int | float)):",
                f"{ind}        raise TransformFailed(f'not a number: {{{operand}!r}}')",
            ]
        lines.append(f"{ind}    {out} = {left} {_ARITH[node.op]} {right}")
        return lines


def _number(value: Value) -> bool:
    """A constant int or float (not a bool): what add/sub/mul accept without a check."""
    if value.pipe or not isinstance(value.base, Const):
        return False
    constant = value.base.value
    return not isinstance(constant, bool) and isinstance(constant, int | float)
