"""`manage.py backup ...`: vaults, items, backups, jobs, restore, verify and garbage collection from a shell.

    manage.py backup --user alice vault list
    manage.py backup --user alice backup-now --item 12 --wait
    manage.py backup --user alice job wait 345 --json
    manage.py backup --user alice discover --vault Payroll --wait
    manage.py backup --user alice register --vault Payroll web01 app-svc/web02 --wait
    manage.py backup --user alice protect --vault Payroll --policy DefaultPolicy web01 --wait
    manage.py backup --user alice host add kvm1 --uri qemu:///system --region "West US" --pool default

Tables by default, --json for scripts (the API's shapes). Exit codes: 0 done, 1 the job or the request
failed or the input was refused, 2 bad command-line usage, 3 not found; the reason goes to stderr.
"""

import argparse

from django.core.management.base import BaseCommand

from backup.jobs.models import JobStatus, Operation
from backup.vaults.models import Vault
from backup.vms.models import RegisteredItem
from portal.cli import approvals, hosts, items, jobs, maintenance, policy, quick_start, resolve, safeguards, vaults
from portal.cli.output import to_json


def _common() -> argparse.ArgumentParser:
    # Accepted after the subcommand too; SUPPRESS keeps a value given before it.
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument("--json", action="store_true", default=argparse.SUPPRESS, help="print JSON for scripts")
    common.add_argument("--user", default=argparse.SUPPRESS, help="act as this user (default: the only superuser)")
    return common


def _wait_options(parser) -> None:
    parser.add_argument("--wait", action="store_true", help="follow the job to its end (progress on stderr)")
    parser.add_argument("--timeout", type=float, default=3600, help="seconds to wait at most (default 3600)")
    parser.add_argument("--interval", type=float, default=0.5, help=argparse.SUPPRESS)
    parser.add_argument("--quiet", action="store_true", help="no progress bar")


class Command(BaseCommand):
    help = (
        "Operate the backup portal from a shell: vault, discover, register, protect, policy, item, point, "
        "backup-now, job, restore, verify, gc, host."
    )

    def add_arguments(self, parser) -> None:
        parser.add_argument("--json", action="store_true", default=False, help="print JSON for scripts")
        parser.add_argument("--user", default=None, help="act as this user (default: the only superuser)")
        common = _common()
        commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

        def sub(subparsers, name, handler, help_text):
            p = subparsers.add_parser(name, parents=[common], help=help_text, description=help_text)
            p.set_defaults(handler=handler)
            return p

        vault = commands.add_parser("vault", help="backup vaults").add_subparsers(dest="vault_command", required=True)
        sub(vault, "list", vaults.vault_list, "List your backup vaults.")
        p = sub(vault, "create", vaults.vault_create, "Create a backup vault (Quick Create).")
        p.add_argument("--name", required=True)
        p.add_argument("--region", required=True, help='e.g. "West US"')
        p.add_argument("--subscription", help="id or name (default: your only subscription)")
        p = sub(vault, "show", vaults.vault_show, "Show a vault with its item counts and storage used.")
        p.add_argument("vault", help="id or name")
        p = sub(vault, "soft-delete", safeguards.vault_soft_delete, "Set a vault's soft delete (state, days).")
        p.add_argument("vault", help="id or name")
        p.add_argument("--state", choices=Vault.SoftDelete.values)
        p.add_argument("--days", type=int, help="days soft-deleted data is kept (14-180)")
        p.add_argument("--approval", help="the approved request's id, where a resource guard needs one")
        p = sub(vault, "immutability", safeguards.vault_immutability, "Set a vault's immutability (Locked is final).")
        p.add_argument("vault", help="id or name")
        p.add_argument("--state", required=True, choices=Vault.Immutability.values)
        p.add_argument("--approval", help="the approved request's id, where a resource guard needs one")

        vms_help = "virtual machine: id, name, or CLOUD_SERVICE/NAME when two share a name"
        p = sub(commands, "discover", quick_start.discover, "Discover the virtual machines a vault can register.")
        p.add_argument("--vault", required=True, help="id or name")
        _wait_options(p)
        p = sub(commands, "register", quick_start.register, "Register virtual machines with a vault (one job each).")
        p.add_argument("--vault", required=True, help="id or name")
        p.add_argument("vms", nargs="+", metavar="VM", help=vms_help)
        _wait_options(p)
        p = sub(commands, "protect", quick_start.protect, "Protect registered virtual machines under a backup policy.")
        p.add_argument("--vault", required=True, help="id or name")
        p.add_argument("--policy", required=True, help="the vault's backup policy: id or name (see: policy list)")
        p.add_argument("vms", nargs="+", metavar="VM", help=vms_help)
        _wait_options(p)

        item = commands.add_parser("item", help="protected and registered items").add_subparsers(
            dest="item_command", required=True
        )
        p = sub(item, "list", items.item_list, "List a vault's protected items.")
        p.add_argument("--vault", required=True, help="id or name")
        p = sub(item, "registered", quick_start.registered_list, "List a vault's registered (and discovered) items.")
        p.add_argument("--vault", required=True, help="id or name")
        p.add_argument("--status", choices=RegisteredItem.Status.values)

        point = commands.add_parser("point", help="recovery points").add_subparsers(dest="point_command", required=True)
        p = sub(point, "list", items.point_list, "List a vault's recovery points, newest first.")
        p.add_argument("--vault", required=True, help="id or name")
        p.add_argument("--item", help="only this protected item (id, or VM name)")

        p = sub(commands, "backup-now", items.backup_now, "Back up a protected item now.")
        p.add_argument("--item", required=True, help="protected item id, or VM name with --vault")
        p.add_argument("--vault", help="id or name")
        _wait_options(p)

        job = commands.add_parser("job", help="jobs").add_subparsers(dest="job_command", required=True)
        p = sub(job, "list", jobs.job_list, "List jobs, newest first.")
        p.add_argument("--vault", help="id or name")
        p.add_argument("--status", choices=JobStatus.values)
        p.add_argument("--operation", choices=Operation.values)
        p.add_argument("--limit", type=int, default=50)
        for name, handler, text in (
            ("show", jobs.job_show, "Show a job with its sub-tasks."),
            ("cancel", jobs.job_cancel, "Cancel a running job."),
        ):
            sub(job, name, handler, text).add_argument("job", help="job id")
        p = sub(job, "wait", jobs.job_wait, "Wait for a job to end; exits non-zero unless it completed.")
        p.add_argument("job", help="job id")
        _wait_options(p)
        p = sub(job, "retry", jobs.job_retry, "Retry a failed or cancelled job (as a new job).")
        p.add_argument("job", help="job id")
        _wait_options(p)

        p = sub(commands, "restore", items.restore, "Restore a virtual machine from a recovery point.")
        p.add_argument("--point", required=True, help="recovery point: id or name (see: point list)")
        p.add_argument("--vm-name", dest="vm_name")
        p.add_argument("--cloud-service", dest="cloud_service")
        p.add_argument("--storage-account", dest="storage_account")
        p.add_argument("--virtual-network", dest="virtual_network")
        p.add_argument("--subnet")
        p.add_argument(
            "--create-cloud-service",
            dest="create_cloud_service",
            action="store_true",
            help="create the cloud service named by --cloud-service",
        )
        p.add_argument(
            "--disks-only",
            dest="disks_only",
            action="store_true",
            help="restore the disks only, e.g. for a domain controller in a multi-DC domain",
        )
        p.add_argument("--disk", action="append", help="restore only this disk (repeat; with --disks-only)")
        p.add_argument(
            "--start",
            dest="start_vm",
            action="store_true",
            help="start the virtual machine after restore (a restore to a KVM host)",
        )
        p.add_argument(
            "--from",
            dest="restore_from",
            choices=["primary", "secondary"],
            default="primary",
            help="the copy to restore from: secondary reads a geo-redundant vault's copy in the paired region "
            "and restores into that region",
        )
        _wait_options(p)

        p = sub(commands, "stop-protection", items.stop_protection, "Stop protecting an item.")
        p.add_argument("--item", required=True, help="protected item id, or VM name with --vault")
        p.add_argument("--vault", help="id or name")
        p.add_argument(
            "--delete-data",
            dest="delete_data",
            action="store_true",
            help="also delete the backup data (default: keep it)",
        )
        p.add_argument("--reason", default="")
        p.add_argument("--comment", default="")
        p.add_argument("--approval", help="the approved request's id, where a resource guard needs one")
        _wait_options(p)

        approval = commands.add_parser("approval", help="a resource guard's approval requests").add_subparsers(
            dest="approval_command", required=True
        )
        sub(approval, "list", approvals.approval_list, "Your requests, and those you may decide.")
        for name, handler, text in (
            ("approve", approvals.approval_approve, "Approve a request (once, for 1 h)."),
            ("reject", approvals.approval_reject, "Reject a request."),
        ):
            p = sub(approval, name, handler, text)
            p.add_argument("request", help="request id")
            p.add_argument("--reason", required=True, help="why (kept in the audit log)")

        suspicious = commands.add_parser("suspicious", help="suspicious recovery points").add_subparsers(
            dest="suspicious_command", required=True
        )
        sub(suspicious, "list", approvals.suspicious_list, "Suspicious recovery points and their verdicts.")
        for name, handler, text in (
            ("confirm", approvals.suspicious_confirm, "Confirm an attack (older points stay held)."),
            ("dismiss", approvals.suspicious_dismiss, "Dismiss it as a legitimate change (the hold ends)."),
        ):
            p = sub(suspicious, name, handler, text)
            p.add_argument("anomaly", help="its id (see: suspicious list)")
            p.add_argument("--reason", required=True, help="why (kept in the audit log)")

        p = sub(commands, "undelete", safeguards.undelete, "Undelete a soft-deleted item (back to Protection stopped).")
        p.add_argument("--item", required=True, help="protected item id, or VM name with --vault")
        p.add_argument("--vault", help="id or name")

        p = sub(commands, "verify", maintenance.verify, "Verify the backup data of a vault or of a recovery point.")
        group = p.add_mutually_exclusive_group(required=True)
        group.add_argument("--vault", help="id or name")
        group.add_argument("--point", help="recovery point: id or name (see: point list)")
        p.add_argument(
            "--due",
            choices=["new", "old"],
            help="with --vault: only the points the daily (new) or weekly (old) verification would check",
        )
        _wait_options(p)

        host = commands.add_parser("host", help="KVM hosts").add_subparsers(dest="host_command", required=True)
        p = sub(host, "add", hosts.host_add, "Add a KVM host (libvirt) and list its domains as virtual machines.")
        p.add_argument("name", help="the host's name in the portal (also its cloud service's name)")
        p.add_argument("--uri", required=True, help="libvirt URI, e.g. qemu:///system or qemu+ssh://root@kvm2/system")
        p.add_argument("--region", required=True, help='the region the host stands in, e.g. "West US"')
        p.add_argument("--pool", required=True, help="libvirt storage pool for the disks of restored machines")
        p.add_argument("--subscription", help="id or name (default: your only subscription)")
        sub(host, "list", hosts.host_list, "List the KVM hosts.")
        for name, handler, text in (
            ("sync", hosts.host_sync, "List a host's domains again now (as Discover and the scheduler do)."),
            ("remove", hosts.host_remove, "Remove a host and its machines (refused while any is protected)."),
        ):
            sub(host, name, handler, text).add_argument("host", help="host name or id")

        policy.add_commands(commands, sub)

        p = sub(commands, "gc", maintenance.gc, "Run garbage collection on a vault's store now.")
        p.add_argument("--vault", required=True, help="id or name")
        _wait_options(p)

    def handle(self, *args, handler, **options) -> None:
        user = resolve.acting_user(options.get("user"))
        data, text = handler(user, options, self.stderr)
        self.stdout.write(to_json(data) if options.get("json") else text)
