"""Every product message the portal shows is the reference's text, verbatim (typos and dashes included):
each constant is pinned to the row of the spec's error table (or the notes) it comes from."""

import re
from pathlib import Path

import pytest

from backup.fabric import messages as fabric
from backup.jobs import errors
from backup.jobs.models import Operation
from backup.vms.services import backup as backups
from backup.vms.services import policies, registration, restore

REFERENCE = Path("/work/shared/reference")
pytestmark = pytest.mark.skipif(not REFERENCE.is_dir(), reason="the product reference is not on this machine")


def _error_table() -> set[tuple[str, str]]:
    spec = (REFERENCE / "azure-backup-spec.md").read_text()
    table = spec.split("## 4. Error table")[1].split("\n## ")[0]
    rows = set()
    for line in table.splitlines():
        cells = [c.strip() for c in line.strip().strip("|").split("|")]
        if line.startswith("| ") and len(cells) == 3 and cells[0] not in ("Op",) and not cells[0].startswith("-"):
            rows.add((cells[0], cells[1]))
    return rows


def _notes_errors() -> set[str]:
    notes = (REFERENCE / "azure-backup-notes.md").read_text().split("## Errors")[1]
    return {" ".join(m.split()) for m in re.findall(r'"(.*?)"', notes, re.S)}


TABLE = [
    ("Discovery", errors.DISCOVERY_INTERNAL_ERROR),
    ("Discovery", errors.DISCOVERY_BUSY),
    ("Register", fabric.TOO_MANY_DATA_DISKS),
    ("Register", errors.INTERNAL_ERROR),
    ("Register", fabric.UNSUPPORTED_OS),
    ("Register", errors.REGISTER_BUSY),
    ("Reg/Backup", fabric.PREMIUM_STORAGE_NOT_SUPPORTED),
    ("Reg/Backup", backups.AGENT_MISSING),
    ("Register *pre*", fabric.VM_NOT_RUNNING),
    ("Backup", backups.SNAPSHOT_TIMED_OUT),
    ("Backup", errors.BACKUP_INTERNAL_ERROR),
    ("Backup (2016)", backups.VM_NO_LONGER_EXISTS),
    ("Backup", fabric.NO_VM_AGENT),
    ("Backup", errors.BACKUP_BUSY),
    ("Backup (2015)", fabric.LOAD_BALANCED),
    ("Backup (2015)", fabric.MULTIPLE_NICS),
    ("Backup", registration.VM_NOT_FOUND),
    ("Cancel", errors.CANCEL_NOT_SUPPORTED),
    ("Cancel", errors.CANCEL_NOT_NOW),
    ("Cancel", errors.CANCEL_NOT_IN_PROGRESS),
    ("Restore", restore.CLOUD_INTERNAL_ERROR),
    ("Restore", restore.DNS_NAME_TAKEN),
    ("Restore", restore.BAD_VNET),
    ("Restore", restore.RESERVED_IP_CONFLICT),
    ("Restore", restore.WRONG_REGION),
    ("Restore", restore.UNSUPPORTED_ACCOUNT),
    ("Restore", restore.NO_SUCH_SUBNET),
]


@pytest.mark.parametrize(("operation", "message"), TABLE, ids=[f"{op}: {m[:40]}" for op, m in TABLE])
def test_each_message_is_its_operations_row_of_the_error_table(operation, message):
    assert (operation, message) in _error_table()


def test_each_operation_that_has_its_own_busy_text_gets_it():
    rows = _error_table()
    assert set(errors.BUSY_MESSAGES) | set(errors.INTERNAL_ERRORS) <= set(Operation.values)
    assert errors.busy_message_for("discovery") == errors.DISCOVERY_BUSY
    assert errors.busy_message_for("register") == errors.REGISTER_BUSY
    assert errors.busy_message_for("backup") == errors.BACKUP_BUSY
    assert {op for op, m in rows if "in progress" in m and "Cancel" not in op} == {"Discovery", "Register", "Backup"}
    # Operations without a row of their own use the notes' wording for Registration/Backup.
    assert errors.busy_message_for("restore") == errors.ANOTHER_OPERATION_IN_PROGRESS in _notes_errors()
    assert errors.internal_error_for("discovery") == errors.DISCOVERY_INTERNAL_ERROR
    assert errors.internal_error_for("backup") == errors.BACKUP_INTERNAL_ERROR
    assert errors.internal_error_for("register") == errors.INTERNAL_ERROR


def test_the_quoted_texts_outside_the_table_are_verbatim():
    spec = (REFERENCE / "azure-backup-spec.md").read_text()
    assert f'"{policies.NAME_CLASH}"' in spec
    # Backup sub-tasks, as the job details show them.
    assert f'"{backups.STEP_SNAPSHOT}", "{backups.STEP_TRANSFER}"' in spec
    assert backups.VAULT_UNAVAILABLE.endswith("Backup failed with an internal error.")
    assert "Backup failed with an internal error" in _notes_errors()
