"""Byte-range arithmetic on sorted (offset, length) lists.

Every range list the fabric hands out is (offset, length) pairs, sorted,
non-overlapping and non-adjacent (adjacent ranges are merged), matching the
engine's SnapshotDisk protocol. Internally we work on (start, end) spans,
which make subtraction and union simple.
"""

from __future__ import annotations

from collections.abc import Iterable

Range = tuple[int, int]  # (offset, length)
Span = tuple[int, int]  # (start, end), end exclusive


def to_spans(ranges: Iterable[Range]) -> list[Span]:
    return [(off, off + length) for off, length in ranges if length > 0]


def to_ranges(spans: Iterable[Span]) -> list[Range]:
    return [(start, end - start) for start, end in spans if end > start]


def merge_spans(spans: Iterable[Span]) -> list[Span]:
    """Sort and coalesce overlapping or touching spans."""
    out: list[list[int]] = []
    for start, end in sorted(s for s in spans if s[1] > s[0]):
        if out and start <= out[-1][1]:
            if end > out[-1][1]:
                out[-1][1] = end
        else:
            out.append([start, end])
    return [(s, e) for s, e in out]


def merge_ranges(ranges: Iterable[Range]) -> list[Range]:
    return to_ranges(merge_spans(to_spans(ranges)))


def subtract_spans(base: list[Span], cut: list[Span]) -> list[Span]:
    """base minus cut; both must already be merged (sorted, disjoint)."""
    out: list[Span] = []
    j = 0
    for start, end in base:
        cur = start
        while j < len(cut) and cut[j][1] <= cur:
            j += 1
        k = j
        while k < len(cut) and cut[k][0] < end:
            c_start, c_end = cut[k]
            if c_start > cur:
                out.append((cur, c_start))
            cur = max(cur, c_end)
            if cur >= end:
                break
            k += 1
        if cur < end:
            out.append((cur, end))
    return out
