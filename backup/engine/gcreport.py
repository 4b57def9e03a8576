"""What a garbage collection of either kind of store reports (gc.py: folders, s3gc.py: buckets)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta

DEFAULT_GRACE = timedelta(hours=1)


@dataclass(frozen=True)
class GcReport:
    chunks_removed: int
    bytes_freed: int
    chunks_kept: int
    tmp_files_removed: int = 0
    postponed: bool = False  # an object store's GC found a running backup and did nothing (s3gc.py)
