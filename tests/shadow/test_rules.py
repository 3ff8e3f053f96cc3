"""Config of the cutover: legacy arms, shadow_only arms, shadow rules (refused with a line)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from shimgw.config import parse_config
from shimgw.errors import ConfigError
from shimgw.shadow.rules import ShadowLimits
from shimgw.snapshot import build_snapshot

BASE: dict[str, Any] = {
    "upstreams": {
        "legacy": {"url": "http://127.0.0.1:9000", "protocol": "phase1", "weight": 100},
        "stable": {"url": "http://127.0.0.1:9001", "weight": 0},
        "mirror": {"url": "http://127.0.0.1:9002", "shadow_only": True},
    },
    "routing": {
        "groups": [
            {"name": "internal", "header": "X-Client-Group", "values": ["i"], "upstream": "stable"}
        ]
    },
}


def config(**changes: Any) -> dict[str, Any]:
    out = {**BASE, **changes}
    if "routing" in changes:
        out["routing"] = {**BASE["routing"], **changes["routing"]}
    return out


def load(raw: dict[str, Any]) -> Any:
    return build_snapshot(parse_config(raw, base=Path.cwd()))


def test_defaults_and_a_good_cutover_config() -> None:
    rules = [
        {"operations": ["getJob", "listJobs"], "to": "stable", "sample": 0.1, "group": "internal"},
        {
            "operations": ["createJob"],
            "to": "mirror",
            "sample": 1,
            "unsafe": True,
            "ignore": ["/jobs/0/created"],
        },
    ]
    snapshot = load(config(routing={"shadow": rules}, shadowing={"queue": 8}))
    cfg = snapshot.config
    assert cfg.upstreams["legacy"].protocol == "phase1" and cfg.upstreams["stable"].protocol == "v2"
    assert cfg.upstreams["mirror"].shadow_only and not cfg.upstreams["stable"].shadow_only
    assert cfg.shadowing == ShadowLimits(queue=8)
    first, second = cfg.routing.shadow
    assert (first.key, first.to, first.sample, first.group) == (
        "routing.shadow[0]",
        "stable",
        0.1,
        "internal",
    )
    assert second.ignore == {"/jobs/*/created"}
    assert snapshot.cutover.legacy == {"legacy"} and snapshot.cutover.shadow_only == {"mirror"}
    assert [r.to for r in snapshot.cutover.rules["getJob"]] == ["stable"]
    assert (
        parse_config({"upstreams": {"a": {"url": "http://x"}}}, base=Path.cwd()).shadowing
        == ShadowLimits()
    )


@pytest.mark.parametrize(
    ("changes", "key", "words"),
    [
        # never replay a createJob onto a live backend
        (
            {
                "routing": {
                    "shadow": [
                        {"operations": ["createJob"], "to": "stable", "sample": 1, "unsafe": True}
                    ]
                }
            },
            "routing.shadow[0]",
            "serves clients",
        ),
        (
            {
                "routing": {
                    "shadow": [
                        {"operations": ["getJob"], "to": "stable"},
                        {"operations": ["deleteJob"], "to": "mirror"},
                    ]
                }
            },
            "routing.shadow[1]",
            "unsafe: true",
        ),
        (
            {
                "routing": {
                    "shadow": [{"operations": ["cancelJob"], "to": "legacy", "unsafe": True}]
                }
            },
            "routing.shadow[0]",
            "serves clients",
        ),
        (
            {"routing": {"shadow": [{"operations": ["getJobz"], "to": "stable"}]}},
            "routing.shadow[0].operations",
            "not a phase1.yaml operation",
        ),
        (
            {"routing": {"shadow": [{"operations": ["getJob"], "to": "nowhere"}]}},
            "routing.shadow[0].to",
            "known upstream",
        ),
        (
            {"routing": {"shadow": [{"operations": ["getJob"], "to": "stable", "sample": 0}]}},
            "routing.shadow[0].sample",
            "fraction",
        ),
        (
            {"routing": {"shadow": [{"operations": ["getJob"], "to": "stable", "group": "x"}]}},
            "routing.shadow[0].group",
            "no routing.groups",
        ),
        (
            {"routing": {"shadow": [{"operations": ["getJob"], "to": "stable", "wat": 1}]}},
            "routing.shadow[0].wat",
            "unknown key",
        ),
        ({"routing": {"shadow": {"operations": ["getJob"]}}}, "routing.shadow", "list"),
        (
            {"routing": {"routes": {"getJob": {"mirror": 1}}}},
            "routing.routes.getJob.mirror",
            "never serves",
        ),
        (
            {
                "upstreams": {
                    **BASE["upstreams"],
                    "mirror": {"url": "http://x", "shadow_only": True, "weight": 1},
                }
            },
            "upstreams.mirror.weight",
            "weight 0",
        ),
        (
            {"upstreams": {**BASE["upstreams"], "legacy": {"url": "http://x", "protocol": "v1"}}},
            "upstreams.legacy.protocol",
            "phase1",
        ),
        ({"shadowing": {"concurrency": 0}}, "shadowing.concurrency", "≥ 1"),
        ({"shadowing": {"queues": 1}}, "shadowing.queues", "unknown key"),
    ],
)
def test_refused_with_a_line_naming_the_key(changes: dict[str, Any], key: str, words: str) -> None:
    with pytest.raises(ConfigError) as raised:
        load(config(**changes))
    assert raised.value.key == key and words in str(raised.value)
