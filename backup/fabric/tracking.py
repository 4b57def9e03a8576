"""Change tracking (like VMware CBT / Azure incremental snapshots).

Sidecar ``<image>.cbt``, a small append-only text log, written only while the
disk's exclusive lock is held (and read under at least the shared lock)::

    cbt1 <epoch> <floor> <seq>      header (rewritten on reset / compaction)
    w <seq> <offset> <length>       one guest write; seq increases by one
    m <seq>                         a change id was handed out at this seq

A change id is ``f"{epoch}:{seq}"``. Ids are only handed out through
:meth:`ChangeLog.change_id`, which appends an ``m`` line, so the log knows
every id anyone can hold. "Ranges since X" is the merged union of the ``w``
records with seq > X: exact bytes, not rounded to blocks.

Bounding the log: when it grows past ``COMPACT_AT_BYTES`` it is rewritten
keeping only the last ``KEEP_CHANGE_IDS`` marks. Writes between two kept
marks are merged into records tagged with the later mark, which keeps every
answer for a kept mark exact; writes at or before the oldest kept mark are
dropped and older ids answer None (the caller does a full read). A reset
starts a new epoch, so every older id answers None too.
"""

from __future__ import annotations

import os
import uuid
from dataclasses import dataclass, field
from pathlib import Path

from .ranges import Range, Span, merge_spans, to_ranges

KEEP_CHANGE_IDS = 64
COMPACT_AT_BYTES = 256 * 1024
_HEADER = "cbt1"


@dataclass
class _Parsed:
    epoch: str
    floor: int
    seq: int
    marks: set[int] = field(default_factory=set)
    writes: list[tuple[int, int, int]] = field(default_factory=list)  # (seq, start, end)


def parse_change_id(change_id: str) -> tuple[str, int] | None:
    epoch, sep, seq = change_id.rpartition(":")
    if not sep or not epoch or not seq.isdigit():
        return None
    return epoch, int(seq)


class ChangeLog:
    """The tracking sidecar of one disk. Callers hold the disk lock."""

    def __init__(
        self, path: Path, keep_change_ids: int = KEEP_CHANGE_IDS, compact_at_bytes: int = COMPACT_AT_BYTES
    ) -> None:
        self.path = path
        self.keep_change_ids = keep_change_ids
        self.compact_at_bytes = compact_at_bytes

    # -- writing (exclusive lock held) -------------------------------------
    def reset(self) -> str:
        """Start a new epoch; returns the new epoch id."""
        epoch = uuid.uuid4().hex
        self._rewrite(f"{_HEADER} {epoch} 0 0\n")
        return epoch

    def ensure(self) -> None:
        if not self.path.exists():
            self.reset()

    def record_write(self, offset: int, length: int) -> None:
        seq = self._tail_seq() + 1
        self._append(f"w {seq} {offset} {length}\n")

    def change_id(self) -> str:
        """Hand out (and remember) the id of the disk's current state."""
        epoch = self._epoch()
        last = self._last_line()
        seq = self._seq_of(last)
        if last != f"m {seq}":
            self._append(f"m {seq}\n")
        return f"{epoch}:{seq}"

    # -- reading (shared lock is enough) ------------------------------------
    def ranges_between(self, since: str, until: str | None = None) -> list[Range] | None:
        """Exact merged ranges written after ``since`` up to ``until`` (default: now).

        None when either id is from another epoch, unknown, or compacted away.
        """
        parsed = self._parse()
        since_id = parse_change_id(since)
        if since_id is None or since_id[0] != parsed.epoch:
            return None
        since_seq = since_id[1]
        if since_seq not in parsed.marks or since_seq < parsed.floor:
            return None
        if until is None:
            until_seq = parsed.seq
        else:
            until_id = parse_change_id(until)
            if until_id is None or until_id[0] != parsed.epoch or until_id[1] not in parsed.marks:
                return None
            until_seq = until_id[1]
        if since_seq > until_seq:
            return None
        spans: list[Span] = [(s, e) for seq, s, e in parsed.writes if since_seq < seq <= until_seq]
        return to_ranges(merge_spans(spans))

    # -- internals -----------------------------------------------------------
    def _append(self, line: str) -> None:
        fd = os.open(self.path, os.O_WRONLY | os.O_APPEND | os.O_CLOEXEC)
        try:
            os.write(fd, line.encode())
            size = os.fstat(fd).st_size
        finally:
            os.close(fd)
        if size > self.compact_at_bytes:
            self.compact()

    def _rewrite(self, text: str) -> None:
        # Atomic replace: a reader in another process sees the old or the new
        # log, never half of one.
        tmp = self.path.with_name(self.path.name + f".tmp-{os.getpid()}")
        tmp.write_text(text)
        os.replace(tmp, self.path)

    def _epoch(self) -> str:
        with open(self.path, "rb") as fh:
            header = fh.readline().decode().split()
        return header[1]

    def _last_line(self) -> str:
        with open(self.path, "rb") as fh:
            fh.seek(0, os.SEEK_END)
            end = fh.tell()
            fh.seek(max(0, end - 256))
            tail = fh.read()
        return tail.rstrip(b"\n").rsplit(b"\n", 1)[-1].decode()

    @staticmethod
    def _seq_of(line: str) -> int:
        parts = line.split()
        if parts[0] == _HEADER:
            return int(parts[3])
        return int(parts[1])

    def _tail_seq(self) -> int:
        return self._seq_of(self._last_line())

    def _parse(self) -> _Parsed:
        with open(self.path) as fh:
            lines = fh.read().splitlines()
        head = lines[0].split()
        parsed = _Parsed(epoch=head[1], floor=int(head[2]), seq=int(head[3]))
        for line in lines[1:]:
            parts = line.split()
            seq = int(parts[1])
            parsed.seq = max(parsed.seq, seq)
            if parts[0] == "w":
                start = int(parts[2])
                parsed.writes.append((seq, start, start + int(parts[3])))
            else:
                parsed.marks.add(seq)
        return parsed

    def compact(self) -> None:
        """Merge writes between kept marks; drop what no kept id can ask about."""
        parsed = self._parse()
        marks = sorted(parsed.marks)[-self.keep_change_ids :]
        floor = marks[0] if marks else parsed.seq
        # Group boundaries: each kept mark after the floor, then "now".
        bounds = [m for m in marks if m > floor] + (
            [parsed.seq] if parsed.seq > (marks[-1] if marks else floor) else []
        )
        groups: dict[int, list[Span]] = {b: [] for b in bounds}
        for seq, start, end in parsed.writes:
            if seq <= floor:
                continue
            tag = next(b for b in bounds if seq <= b)
            groups[tag].append((start, end))
        lines = [f"{_HEADER} {parsed.epoch} {floor} {parsed.seq}"]
        if marks and marks[0] == floor:
            lines.append(f"m {floor}")
        for bound in bounds:
            lines.extend(f"w {bound} {s} {e - s}" for s, e in merge_spans(groups[bound]))
            if bound in parsed.marks:
                lines.append(f"m {bound}")
        self._rewrite("\n".join(lines) + "\n")
