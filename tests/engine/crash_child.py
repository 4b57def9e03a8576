"""Run by test_crash.py in a subprocess that gets SIGKILLed mid-backup."""

import json
import sys
import time
from datetime import UTC, datetime
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from conftest import FakeSnapshot, FakeSnapshotDisk  # noqa: E402

from backup.engine import backup as engine_backup  # noqa: E402
from backup.engine import backup_snapshot, open_store  # noqa: E402

# Chunks are made durable in batches of FLUSH_BYTES; a batch per chunk here, so that the kills land between
# flushes, in the middle of one, and before any.
engine_backup.FLUSH_BYTES = 1


class _NoTracking:
    def changes_between(self, change_id, gen):
        return None


def main() -> None:
    location, options, image, point_id = sys.argv[1], json.loads(sys.argv[2]), Path(sys.argv[3]), sys.argv[4]
    delay = float(sys.argv[5])
    store = open_store(location, options)
    snap = FakeSnapshot([FakeSnapshotDisk("os", image, "x:1", _NoTracking(), 1)])

    def slow(done: int, total: int) -> None:
        print(f"progress {done} {total}", flush=True)
        time.sleep(delay)

    backup_snapshot(
        store,
        item="vm1",
        point_id=point_id,
        snapshot=snap,
        time=datetime(2025, 1, 1, tzinfo=UTC),
        base=None,
        progress=slow,
        workers=2,
    )
    print("done", flush=True)


if __name__ == "__main__":
    main()
