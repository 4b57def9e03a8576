"""Lock keys and subjects: what a job is about, and what it needs to itself.

A job may hold one lock key; while it is active (In progress or Cancelling) a partial unique index lets no
other job hold the same key, and the later request is recorded Failed with its operation's "another
operation is in progress" message (backup/jobs/services.py, start). Keys exclude only their equals, so
which operations block which is decided by who shares a key:

=============================  ==========================================================  =====================
key                            held by                                                     blocks
=============================  ==========================================================  =====================
vm:<vm id>                     Register, Configure Protection, Backup, Stop Protection,    each other, on the
                               Delete Backup Data, Unregister                              same machine
protected-item:<item id>       Backup, Stop Protection, Delete Backup Data of a protected  each other, on the
                               item whose machine no longer exists                         same item
registered-item:<item id>      Unregister of an item whose machine no longer exists        a second Unregister
prune:<protected item id>      Prune                                                       a second Prune
discovery:vault:<vault id>     Discovery                                                   a second Discovery
gc:vault:<vault id>            Garbage Collection                                          a second GC
replicate:vault:<vault id>     Replicate (to a geo-redundant vault's secondary copy)       a second Replicate
verify:vault:<vault id>        Verify (one point, or the scheduled scopes)                 a second Verify
vault:<vault id>:create        Create Vault                                                a second creation
vault:<vault id>:delete        Delete Vault                                                a second Delete Vault
restore-target:<cs>:<vm>       Restore to a new machine (names lower-cased)                a restore to the
                                                                                           same name
(none)                         Restore of disks only                                       nothing
=============================  ==========================================================  =====================

A Backup and its Prune hold different keys on purpose: expiring points runs beside the next backup.
"""

from dataclasses import dataclass


@dataclass(frozen=True)
class Subject:
    """What a job is about, as the Jobs list names it: the vault it belongs to and the item it acts on."""

    vault_id: int | None = None
    item_type: str = ""
    item_id: int | None = None
    item_name: str = ""
    # The item's container as the product names it (a VM's cloud service): two web01 are told apart by it.
    item_parent: str = ""

    @classmethod
    def of_vault(cls, vault) -> "Subject":
        return cls(vault_id=vault.pk, item_type="vault", item_id=vault.pk, item_name=vault.name)

    @classmethod
    def of_vm(cls, vault_id: int | None, vm_id: int | None, name: str, cloud_service: str = "") -> "Subject":
        return cls(vault_id=vault_id, item_type="vm", item_id=vm_id, item_name=name, item_parent=cloud_service)

    @classmethod
    def of_item(cls, item) -> "Subject":
        """A registered or protected item of a vault (anything with vault_id, vm_id, vm_name, cloud_service_name)."""
        return cls.of_vm(item.vault_id, item.vm_id, item.vm_name, item.cloud_service_name)


def vm(vm_id: int | None) -> str:
    return f"vm:{vm_id}"


def protected_item(vm_id: int | None, item_id: int) -> str:
    return vm(vm_id) if vm_id else f"protected-item:{item_id}"


def registered_item(vm_id: int | None, item_id: int) -> str:
    return vm(vm_id) if vm_id else f"registered-item:{item_id}"


def prune(protected_item_id: int) -> str:
    return f"prune:{protected_item_id}"


def discovery(vault_id: int) -> str:
    return f"discovery:vault:{vault_id}"


def garbage_collection(vault_id: int) -> str:
    return f"gc:vault:{vault_id}"


def replicate(vault_id: int) -> str:
    return f"replicate:vault:{vault_id}"


def verify(vault_id: int) -> str:
    return f"verify:vault:{vault_id}"


def vault_create(vault_id: int) -> str:
    return f"vault:{vault_id}:create"


def vault_delete(vault_id: int) -> str:
    return f"vault:{vault_id}:delete"


def restore_target(cloud_service_name: str, vm_name: str) -> str:
    return f"restore-target:{cloud_service_name.lower()}:{vm_name.lower()}"
