"""A memo of translated answers, keyed by the exact /v2 answer bytes (sans-IO).

Checking an answer against phase2.yaml and translating it are pure functions of
the answer (status, content type, the headers the contract declares, body
bytes) and of the Phase 1 request values a rule reads. Legacy clients poll: the
same page of jobs comes back byte for byte again and again, and for such an
answer the memo returns the Phase 1 answer it produced before instead of
decoding, validating and translating twenty runs anew.

Only what cannot differ is shared: the key holds the whole body (compared
byte for byte, not by a digest), only successful, contract-valid answers are
stored, and the memo belongs to one snapshot, so a reload (new contracts or
translations) starts empty. Its size is bounded in bytes (`cache.max_bytes`);
least recently used entries go first.

`AnswerKey` names what an entry is keyed by; `AnswerKey.cost` counts the bytes
an entry holds, so the budget and the key's layout cannot drift apart.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Hashable, Iterable
from typing import Any, NamedTuple

from shimgw.messages import ParsedRequest, Phase1Response, V2Response

# What an entry costs beyond the bytes it holds (key tuple, response object, dict slot),
# measured at a few kilobytes; counting it keeps `max_bytes` a real memory bound.
ENTRY_OVERHEAD = 4096


class AnswerKey(NamedTuple):
    """Everything a translated answer depends on (a tuple: hashed and compared natively)."""

    operation: str
    status: int
    content_type: str
    headers: tuple[str | None, ...]  # values of the headers phase2.yaml declares for `status`
    body: bytes  # compared byte for byte, not by a digest
    query: tuple[tuple[str, Any], ...]  # the checked Phase 1 request values
    path: tuple[tuple[str, Any], ...]

    @classmethod
    def of(
        cls, answer: V2Response, declared_headers: Iterable[str], request: ParsedRequest
    ) -> AnswerKey:
        return cls(
            request.operation,
            answer.status,
            answer.content_type,
            tuple(answer.headers.get(h) for h in declared_headers),
            answer.body,
            tuple(request.query.items()),
            tuple(request.path.items()),
        )

    def cost(self, result: Phase1Response) -> int:
        """The bytes an entry holds beyond `ENTRY_OVERHEAD`: both bodies and the values."""
        return len(self.body) + len(result.body) + len(str(self.query)) + len(str(self.path))


class AnswerCache:
    """One memo per snapshot, shared by all operations (the key names the operation)."""

    def __init__(self, max_bytes: int) -> None:
        self.max_bytes = max_bytes
        self.size = 0
        self.hits = 0
        self.misses = 0
        self._entries: OrderedDict[Hashable, tuple[Phase1Response, int]] = OrderedDict()

    def get(self, key: Hashable) -> Phase1Response | None:
        entry = self._entries.get(key)
        if entry is None:
            self.misses += 1
            return None
        self._entries.move_to_end(key)
        self.hits += 1
        return entry[0]

    def put(self, key: Hashable, answer: Phase1Response, cost: int) -> None:
        cost += ENTRY_OVERHEAD
        if cost > self.max_bytes // 4 or key in self._entries:
            return  # one huge answer must not flush everything else
        self._entries[key] = (answer, cost)
        self.size += cost
        while self.size > self.max_bytes:
            _, (_, dropped) = self._entries.popitem(last=False)
            self.size -= dropped

    def __len__(self) -> int:
        return len(self._entries)
