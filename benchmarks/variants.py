"""The shimgw configurations the benchmark measures, each stated in the report.

`default` is what `pip install .` gives: only the addresses are set (listen,
the upstream, a free admin port), every other key keeps its default — access
log on at level info, answer memo on, every check on. The others change one key.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class Variant:
    name: str
    label: str  # the config, as the report states it
    yaml: str  # the YAML lines added to the default config
    src: str | None = None  # run the shimgw package found here (an A/B against other code)
    mirror: bool = False  # a second arm `mirror` (same upstream, weight 0) for shadow calls


def at_ref(variant: Variant, src: str) -> Variant:
    """The same config served by the code in another checkout (`--compare-with`)."""
    label = f"{variant.label}, code of {src}"
    return Variant(f"{variant.name}@ref", label, variant.yaml, src, variant.mirror)


VARIANTS = {
    v.name: v
    for v in (
        Variant("default", "default config (access log on, memo on)", ""),
        Variant("no-memo", "default + `cache.max_bytes: 0` (memo off)", "cache: {max_bytes: 0}\n"),
        Variant("no-access", "default + `logging.access: false`", "logging: {access: false}\n"),
        # Recorded spans exported over OTLP/HTTP to the upstream's address (it answers the
        # POSTs with 404: the gateway still builds, encodes and sends every batch).
        Variant(
            "trace-100",
            "default + every request traced and exported (`tracing: {sample_ratio: 1,"
            " exporter: otlp}`)",
            "tracing: {sample_ratio: 1.0, exporter: otlp, endpoint: UPSTREAM}\n",
        ),
        Variant(
            "trace-1",
            "default + 1 % of requests traced and exported (`tracing: {sample_ratio: 0.01,"
            " exporter: otlp}`)",
            "tracing: {sample_ratio: 0.01, exporter: otlp, endpoint: UPSTREAM}\n",
        ),
        Variant(
            "shadow-10",
            "default + 10 % of getJob shadowed to a second /v2 arm and compared"
            " (`routing.shadow: [{operations: [getJob], to: mirror, sample: 0.1}]`)",
            "routing: {shadow: [{operations: [getJob], to: mirror, sample: 0.1}]}\n",
            mirror=True,
        ),
    )
}


def shimgw_config(variant: Variant, port: int, admin_port: int, upstream: str) -> str:
    # The mirror is the same upstream under a second name: shadow calls cost the gateway
    # (and that upstream) what a real second arm would.
    arms = (
        f'{{stable: {{url: "{upstream}", weight: 1}}, mirror: {{url: "{upstream}", weight: 0}}}}'
        if variant.mirror
        else f'{{stable: {{url: "{upstream}"}}}}'
    )
    return (
        f"listen: {{host: 127.0.0.1, port: {port}}}\n"
        f"upstreams: {arms}\n"
        f"admin: {{host: 127.0.0.1, port: {admin_port}}}\n"
        + variant.yaml.replace("UPSTREAM", upstream)
    )
