"""`verify --integrity`: each subject's hash chain recomputed from the stored events, and checked
against the recorded chain heads (cortex_runtime.chain, docs/audit.md)."""

from dataclasses import dataclass, field

from cortex_runtime.chain import GENESIS, HASH, PREV_HASH, HeadAnchor, chain_hash
from cortex_runtime.reader import StoredEvent


@dataclass(frozen=True)
class Finding:
    kind: str  # altered | removed | reordered | unchained
    stream: str
    subject: str
    seq: int
    detail: str

    def __str__(self) -> str:
        return f"{self.kind:<9} {self.stream} {self.subject} seq {self.seq}: {self.detail}"


@dataclass
class _Chain:
    """One subject's chain as read so far."""

    last_hash: str = GENESIS
    last_seq: int = 0
    seq_of: dict[str, int] = field(default_factory=dict)  # hash -> sequence of its event
    # a predecessor named by an event but not met yet -> (that event's seq, the seq before it)
    missing: dict[str, tuple[int, int]] = field(default_factory=dict)
    legacy: int = 0  # events stored before the chain existed (no headers, at the start)


class ChainCheck:
    """Fed every event of one stream in stream order; `findings` names each one out of place."""

    def __init__(self, stream: str) -> None:
        self.stream = stream
        self.events = 0
        self.findings: list[Finding] = []
        self._chains: dict[str, _Chain] = {}

    @property
    def legacy_events(self) -> int:
        return sum(chain.legacy for chain in self._chains.values())

    def add(self, event: StoredEvent) -> None:
        self.events += 1
        chain = self._chains.get(event.subject)
        if chain is None:  # not setdefault: a _Chain built per event was a third of the check
            chain = self._chains[event.subject] = _Chain()
        headers = event.headers or {}
        own, prev = headers.get(HASH), headers.get(PREV_HASH)
        if own is None or prev is None:
            if chain.seq_of:
                self._find("unchained", event, "carries no hash chain (headers stripped)")
            else:
                chain.legacy += 1
            return
        if chain_hash(prev, event.subject, event.data) != own:
            self._find("altered", event, "its content or headers do not match its hash")
        out_of_place = []
        if own in chain.missing:  # a later event named this one as its predecessor
            after, _ = chain.missing.pop(own)
            out_of_place.append(f"belongs before seq {after}")
        if prev != chain.last_hash:
            if prev in chain.seq_of:
                out_of_place.append(f"belongs right after seq {chain.seq_of[prev]}")
            else:
                chain.missing[prev] = (event.seq, chain.last_seq)
        if out_of_place:
            self._find("reordered", event, ", ".join(out_of_place))
        chain.seq_of.setdefault(own, event.seq)
        chain.last_hash, chain.last_seq = own, event.seq

    def finish(self, heads: dict[str, HeadAnchor]) -> list[Finding]:
        """After the last event: predecessors never met were removed; so was a recorded head
        that is not in its chain (`heads`: this stream's subjects' recorded heads)."""
        for subject, chain in self._chains.items():
            for seq, before in chain.missing.values():
                detail = f"the event before it is missing (stored between seq {before} and {seq})"
                self.findings.append(Finding("removed", self.stream, subject, seq, detail))
        for subject, head in heads.items():
            chain = self._chains.get(subject, _Chain())
            if head.hash not in chain.seq_of:
                end = f"seq {chain.last_seq}" if chain.last_seq else "no event at all"
                detail = f"its newest event is missing (the chain now ends at {end})"
                self.findings.append(Finding("removed", self.stream, subject, head.seq, detail))
        return self.findings

    def _find(self, kind: str, event: StoredEvent, detail: str) -> None:
        self.findings.append(Finding(kind, self.stream, event.subject, event.seq, detail))
