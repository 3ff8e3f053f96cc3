"""YAML as the gateway reads its own files: safe, and a mapping key written twice refused.

PyYAML keeps the last of two equal keys without a word, so an operator who writes
`upstreams:` twice, or a second `url:` in one upstream, silently loses the first.
Config and translation files are read with this loader instead, which names the
key and the line of its second appearance (`yaml.YAMLError`, so callers report it
as any other YAML fault). Merge keys (`<<: *anchor`) keep YAML's meaning: a key
merged in and then written out is an override, not a duplicate.
"""

from __future__ import annotations

from collections.abc import Hashable
from typing import Any

import yaml

_BASE: Any = getattr(yaml, "CSafeLoader", yaml.SafeLoader)  # libyaml when built with it
_MERGE = "tag:yaml.org,2002:merge"


class _StrictLoader(_BASE):  # type: ignore[misc]
    def construct_mapping(self, node: yaml.MappingNode, deep: bool = False) -> dict[Any, Any]:
        seen: set[Hashable] = set()
        for key_node, _ in node.value:
            if key_node.tag == _MERGE:
                continue
            key = self.construct_object(key_node, deep=True)
            if not isinstance(key, Hashable):
                # A sequence or mapping as a key (`? [a, b]`): the safe loader below
                # refuses it as "found unhashable key", with its line.
                continue
            if key in seen:
                line = key_node.start_mark.line + 1
                raise yaml.constructor.ConstructorError(
                    None, None, f"key {key!r} written twice (again at line {line})"
                )
            seen.add(key)
        return dict(super().construct_mapping(node, deep))


def load(text: str | bytes) -> Any:
    return yaml.load(text, Loader=_StrictLoader)
