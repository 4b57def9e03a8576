"""The fabric: compute and storage that protected virtual machines live in.

Plain Python on real files - no Django, Celery or backup.engine imports (an
import-linter contract enforces it). The Django apps keep the inventory in the
database and call the fabric for anything touching disks, agents or guests.

What the portal needs from a fabric (protocols.py). The vms app talks to five
parts, each a structural protocol that this simulated fabric satisfies as it
is (tests/fabric/test_fabric_protocols.py binds them, and mypy checks the
bindings), so a second fabric can stand beside this one without the services
changing:

* ``Inventory``      - the product's limitations of a machine the portal
  describes with a ``MachineSpec`` (here: ``limits``).
* ``Agents``         - the backup extension in the guest: install, remove
  (here: ``agents``).
* ``Disks``          - create, open (change tracking starts) and measure disk
  images; each is a ``VirtualDisk``: read, write, allocated extents and
  ``changed_ranges_since(change_id)`` (here: the ``Disk`` class).
* ``Snapshots``      - take, reopen from another process and list
  consistent point-in-time views of all of a machine's disks; a
  ``Snapshot``'s disks are what backup.engine reads (here: ``snapshots``).
* ``RestoreTargets`` - where a storage account keeps its images and a
  machine its files, which is where a restore writes (here: ``layout``).

The engine never sees these: it reads a snapshot through its own protocols
(backup.engine.protocols), which the fabric's snapshot disks also satisfy.

Modules (one concept each):

* ``disks``     - ``Disk``: a raw sparse image file plus sidecars.
* ``tracking``  - change tracking log behind ``Disk.change_id`` /
  ``changed_ranges_since``.
* ``cow``       - per-snapshot copy-on-write stores (map + sparse data file).
* ``snapshots`` - ``take_snapshot`` / ``open_snapshot``: consistent,
  read-only point-in-time views of all of a VM's disks.
* ``locks``     - flock-based cross-process locking.
* ``ranges``    - (offset, length) range arithmetic.
* ``guest``     - the guest workload and the VM's guest-writer lock.
* ``machines``, ``limits``, ``messages``, ``agents``, ``layout`` - VM specs,
  registration limitations with the product's messages, the backup
  extension, and where files live.
* ``protocols`` - the five parts above, as the portal sees them.

Disk file format. A disk is a raw image: virtual offset N is file offset N.
It is created with truncate, so it is sparse; holes read as zeros and the
real footprint is measured with SEEK_DATA/SEEK_HOLE (``allocated_bytes``,
``data_ranges``), never with the maximum size. A 1023 GiB data disk with
30 MB written costs 30 MB.

Change tracking. ``<image>.cbt`` is an append-only log of
``w <seq> <offset> <length>`` lines, one per write, plus ``m <seq>`` lines for
every change id handed out (``"<epoch>:<seq>"``). Changed ranges since an id
are the exact merged byte ranges of later writes - not rounded to blocks.
The log is compacted once it grows: writes between two remembered ids are
merged (answers for remembered ids stay exact), only the last
``KEEP_CHANGE_IDS`` ids are remembered, and older or foreign-epoch ids answer
None, which tells the caller to do a full read. ``reset_tracking`` starts a
new epoch.

Copy-on-write snapshots. Taking a snapshot creates, for each disk, an empty
store in ``snapshots/<id>/`` next to the image: ``<image>.map`` (one byte per
64 KiB block, sparse) and ``<image>.cow`` (sparse, disk-sized). From then on
``Disk.write`` first copies the snapshot-time content of every block it is
about to touch into each live snapshot's store - data segments only, so
holes stay holes - marks the block saved, then writes. A snapshot read is a
pread of the live image with the saved blocks overlaid from the store, so an
idle disk reads at raw pread speed. Several live snapshots are independent.

Locking across processes. The guest workload, backups reading snapshots
(Celery workers, several threads each) and snapshot creation run in
different processes, so all coordination is ``fcntl.flock`` on sidecar files
(one descriptor per acquisition, which also makes threads exclude each
other). Per disk: ``<image>.lock`` - writers and snapshot creation take it
exclusive, readers shared (once per read call, not per block) - and a
``<image>.gate`` turnstile so a stream of readers cannot starve a writer.
Snapshot creation holds every disk's exclusive lock at once (taken in path
order, so no deadlock) - all disks are frozen at the same instant. For
application (and optionally file) consistency it first takes the VM's
guest-writer lock (``vm-dir/guest-writer.lock``), which guest file writes
hold for their whole multi-block write: the snapshot lands between files,
as after a VSS freeze. Lock order is always guest-writer lock, then disks.
"""
