"""Begins a backup of a domain, reads a little, and dies by SIGKILL: a worker killed mid-backup."""

import os
import signal
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from backup import kvm  # noqa: E402

uri, work_dir, uuid, checkpoint, since = sys.argv[1:6]
host = kvm.Host(uri, work_dir=Path(work_dir))
snap = host.begin_backup(uuid, checkpoint=checkpoint, since=since or None)
snap.disks[0].read(0, 1 << 20)
print("begun", flush=True)
os.kill(os.getpid(), signal.SIGKILL)
