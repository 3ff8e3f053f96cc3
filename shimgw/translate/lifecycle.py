"""An operation's `lifecycle`: its Deprecation, Sunset and Link headers, as constants.

A translation file may say when its Phase 1 operation was deprecated, when it
goes away and where to read about it:

    lifecycle:
      deprecation: "2026-06-01T00:00:00Z"    # Deprecation: @1780272000 (RFC 9745)
      sunset: "2027-01-01T00:00:00Z"         # Sunset: Fri, 01 Jan 2027 00:00:00 GMT (RFC 8594)
      link:
        deprecation: https://example.com/p1  # Link: <…>; rel="deprecation"
        sunset: https://example.com/policy   # Link: <…>; rel="sunset"

It is read once per snapshot into the header lines themselves, so answering
with them costs the handler a few header writes; every Phase 1 answer of the
operation carries them (success, error, local or passed through). Everything
is checked at load: RFC 3339 date-times with an offset, a sunset no earlier
than the deprecation (RFC 9745 §3), absolute http(s) links that fit between
`<` and `>`. Pure: no contracts, no I/O.
"""

from __future__ import annotations

import datetime
from collections.abc import Iterable
from email.utils import formatdate
from typing import Any
from urllib.parse import urlsplit

from shimgw.errors import TranslationError
from shimgw.translate.transforms import TransformFailed, rfc3339_to_epoch

Headers = tuple[tuple[str, str], ...]
NAMES = frozenset({"deprecation", "sunset", "link"})  # lower case: the headers it writes
_LINK_RELS = ("deprecation", "sunset")


def parse_lifecycle(raw: Any, where: str) -> Headers:
    """The header lines of a `lifecycle` mapping (None: no lifecycle, no headers)."""
    if raw is None:
        return ()
    if not isinstance(raw, dict) or not raw:
        raise TranslationError(where, "expected a mapping of deprecation, sunset and/or link")
    unknown = sorted(str(k) for k in set(raw) - {"deprecation", "sunset", "link"})
    if unknown:
        raise TranslationError(
            f"{where}.{unknown[0]}", "unknown key (known: deprecation, sunset, link)"
        )
    deprecated = _epoch(raw.get("deprecation"), f"{where}.deprecation")
    sunset = _epoch(raw.get("sunset"), f"{where}.sunset")
    if deprecated is not None and sunset is not None and sunset < deprecated:
        raise TranslationError(
            f"{where}.sunset", "is earlier than deprecation (RFC 9745: it must not be)"
        )
    headers: list[tuple[str, str]] = []
    if deprecated is not None:
        headers.append(("Deprecation", f"@{deprecated}"))
    if sunset is not None:
        headers.append(("Sunset", formatdate(sunset, usegmt=True)))
    links = _links(raw.get("link"), f"{where}.link")
    if links:
        headers.append(("Link", links))
    return tuple(headers)


def refuse_rewrites(lifecycle: Headers, written: Iterable[tuple[str, str]]) -> None:
    """One source per header: a rule (`where`) that also wrote one of the lifecycle's
    headers (`name`) would send it twice."""
    names = {name.lower() for name, _ in lifecycle}
    for where, name in written:
        if name.lower() in names:
            raise TranslationError(where, f"{name} is written by `lifecycle`: set it there only")


# What the edge writes on every Phase 1 answer itself (reply.py): the framing, and the
# headers it owns. A translation naming one would put a second, differing line beside it
# (two Content-Length values: a framing each reader takes its own way).
_EDGE_WRITTEN = frozenset(
    {
        "content-length",
        "transfer-encoding",
        "connection",
        "keep-alive",
        "upgrade",
        "trailer",
        "te",
        "date",
        "server",
        "content-type",
        "x-request-id",
    }
)


# What the /v2 transport writes on every call itself: a rule writing one too would send a
# second framing line on a pooled keep-alive connection (two lengths, a chunked claim).
_CALL_FRAMING = frozenset(
    {
        "host",
        "content-length",
        "transfer-encoding",
        "connection",
        "keep-alive",
        "upgrade",
        "te",
        "trailer",
        "expect",
    }
)


def refuse_call_framing(names: Iterable[str], where: str) -> None:
    """A translation may not write a header that frames the /v2 call (the transport's)."""
    for name in names:
        if name.strip().lower() in _CALL_FRAMING:
            raise TranslationError(
                f"{where}.{name}", "this header frames the /v2 call: the gateway writes it"
            )


def refuse_edge_headers(names: Iterable[str], where: str) -> None:
    """A translation may not write a header the edge writes on every answer itself."""
    for name in names:
        if name.strip().lower() in _EDGE_WRITTEN:
            raise TranslationError(
                f"{where}.{name}", "this header is written by the gateway on every answer"
            )


def _epoch(raw: Any, where: str) -> int | None:
    """An RFC 3339 date-time with an offset, quoted or as YAML reads it unquoted."""
    if raw is None:
        return None
    if isinstance(raw, datetime.datetime):
        if raw.tzinfo is None:
            raise TranslationError(where, "a date-time needs its offset (`Z` for UTC)")
        epoch = int(raw.timestamp())
    elif isinstance(raw, str):
        try:
            epoch = rfc3339_to_epoch(raw)
        except TransformFailed as exc:
            raise TranslationError(where, f"{exc} (e.g. 2027-01-01T00:00:00Z)") from None
    else:
        raise TranslationError(
            where, f"expected an RFC 3339 date-time like 2027-01-01T00:00:00Z, got {raw!r}"
        )
    if epoch < 0:
        raise TranslationError(where, "is before 1970")
    return epoch


def _links(raw: Any, where: str) -> str:
    if raw is None:
        return ""
    if not isinstance(raw, dict) or not raw or set(raw) - set(_LINK_RELS):
        raise TranslationError(where, "expected {deprecation: URL, sunset: URL} (either or both)")
    return ", ".join(
        f'<{_url(raw[rel], f"{where}.{rel}")}>; rel="{rel}"' for rel in _LINK_RELS if rel in raw
    )


def _url(raw: Any, where: str) -> str:
    if not isinstance(raw, str) or not raw:
        raise TranslationError(where, "expected an absolute http(s) URL")
    if not raw.isascii() or not raw.isprintable() or any(c in raw for c in ' <>"'):
        raise TranslationError(
            where, "a link is printable ASCII without spaces, quotes or angle brackets"
        )
    parts = urlsplit(raw)
    if parts.scheme not in ("http", "https") or not parts.netloc:
        raise TranslationError(where, f"expected an absolute http(s) URL, got {raw!r}")
    return raw
