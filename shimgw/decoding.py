"""Content-Encoding decoding with a cap on the decoded size, in bounded steps (sans-IO).

Theory of operation
-------------------
A compressed body is a promise about a size nobody checked: 1 MiB of gzip can
inflate to 1 GiB. So the cap (`limits.max_body_bytes` for Phase 1 requests,
`limits.max_upstream_body_bytes` for /v2 answers) is counted on the DECODED
bytes, and decoding never produces more than `STEP` bytes per call: the
caller takes one step at a time and may yield to the event loop between
steps, so a large body never holds the loop, and a bomb stops one step after
it passes the cap, having cost at most cap + STEP bytes.

A gzip body may hold several members back to back (RFC 1952 §2.2); each one
is decoded in turn, so none is silently dropped. Zero padding after the last
member is ignored, as gzip(1) does; anything else after it is an error.
"""

from __future__ import annotations

import zlib
from collections.abc import Iterator

STEP = 256 << 10  # decoded bytes per step: ~0.3 ms of zlib work

_GZIP = 16 + zlib.MAX_WBITS
_ZLIB = zlib.MAX_WBITS


class DecodeError(ValueError):
    """A body that is not what its Content-Encoding says (or an encoding we do not speak)."""


class DecodedTooLarge(ValueError):
    """The decoded body passed the cap."""


def is_identity(encoding: str | None) -> bool:
    return encoding is None or encoding.strip().lower() in ("", "identity")


class BodyDecoder:
    """Decodes one body: `feed` compressed bytes, iterate the decoded steps, then `finish`."""

    def __init__(self, encoding: str, limit: int) -> None:
        name = encoding.strip().lower()
        if name in ("gzip", "x-gzip"):
            self._wbits = _GZIP
        elif name == "deflate":
            self._wbits = _ZLIB
        else:
            raise DecodeError(f"unsupported content encoding {encoding!r}")
        self.encoding = name
        self.limit = limit
        self.size = 0
        self._inflater = zlib.decompressobj(self._wbits)
        self._fed = False  # the current member has been given bytes (and may be unfinished)
        self._members_done = False  # the last member ended; only zero padding may follow
        self._members = 0  # gzip members decoded so far

    def feed(self, data: bytes) -> Iterator[bytes]:
        """The decoded bytes of `data`, at most `STEP` per item; raises past the cap."""
        while data:
            if self._members_done:
                if data.strip(b"\0"):
                    raise DecodeError(f"bytes after the end of the {self.encoding} body")
                return
            if self._members and not self._fed and not data.strip(b"\0"):
                return  # zero padding after the last gzip member, as gzip(1) allows
            self._fed = True
            try:
                out = self._inflater.decompress(data, STEP)
            except zlib.error as exc:
                raise DecodeError(f"undecodable {self.encoding} body: {exc}") from exc
            data = self._inflater.unconsumed_tail
            if self._inflater.eof:
                data = self._inflater.unused_data
                if self._wbits == _GZIP:  # another member may follow (RFC 1952 §2.2)
                    self._inflater, self._fed = zlib.decompressobj(self._wbits), False
                    self._members += 1
                else:
                    self._members_done = True
            if out:
                self.size += len(out)
                if self.size > self.limit:
                    raise DecodedTooLarge(f"decoded body over the limit of {self.limit} bytes")
                yield out

    def finish(self) -> None:
        """Raises when the body ended inside a member (truncated)."""
        if self._fed and not self._inflater.eof:
            raise DecodeError(f"truncated {self.encoding} body")


def decode_all(encoding: str, data: bytes, limit: int) -> bytes:
    """The whole decoded body at once (tests and small bodies)."""
    decoder = BodyDecoder(encoding, limit)
    out = b"".join(decoder.feed(data))
    decoder.finish()
    return out
