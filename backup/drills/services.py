"""The Restore Drill job: restore, prove byte-exact, record the RTO, remove everything made (backup/drills)."""

from __future__ import annotations

import logging
import os
import random
import time
from datetime import timedelta
from pathlib import Path

from django.conf import settings
from django.core.exceptions import ValidationError
from django.db.models import Max
from django.utils import timezone

from backup import engine, kvm
from backup.engine.chunkformat import hash_data
from backup.engine.manifest import check_id
from backup.jobs import services as jobs
from backup.jobs.context import JobContext
from backup.jobs.errors import JobFailed, describe
from backup.jobs.locks import Subject
from backup.jobs.models import Job, Operation
from backup.jobs.registry import handler
from backup.vms.models import HypervisorHost, ProtectedItem, RecoveryPoint
from backup.vms.services import hosts
from backup.vms.services.stores import open_vault_store

from .models import DrillPlan, DrillResult

VAULT_UNAVAILABLE = "The backup vault's storage cannot be opened, so the drill cannot restore anything."
NOTHING_TO_DRILL = "The drill plan '{name}' found no recovery point to restore: nothing was proven."
DRILL_FAILED = "The restore drill failed for {names}: see each item's result on the vault's DRILLS tab."
_READ = 4 << 20
NO_BOOT_SIMULATED = "No boot check for simulated machines."
NO_BOOT_HOST = "No boot check: the machine's KVM host is no longer known."
BOOT_ANSWERED = "Boot check: agent answered in {seconds:.0f} s."
BOOT_NO_CHANNEL = "Boot check failed: the sandbox domain has no guest agent channel, so its boot cannot be proven."
BOOT_SILENT = "Boot check failed: the sandbox domain's guest agent did not answer within {seconds:.0f} s."
BOOT_SKIPPED_BAD = "No boot check: the restored disks differ from the manifest."

log = logging.getLogger(__name__)


def start_drill(plan: DrillPlan, *, user=None) -> Job:
    if plan.sandbox_account.subscription_id != plan.vault.subscription_id:
        raise ValidationError({"sandbox_account": "The sandbox storage account must be of the vault's subscription."})
    return jobs.start(
        subscription=plan.vault.subscription,
        operation=Operation.DRILL,
        subject=Subject(vault_id=plan.vault_id, item_type="drill_plan", item_id=plan.pk, item_name=plan.name),
        lock_key=f"drill:plan:{plan.pk}",
        params={"plan_id": plan.pk},
        user=user,
        scheduled=user is None,
    )


def start_due_drills(now=None) -> list[Job]:
    """Beat's task: every enabled plan whose last drill started at least `every_hours` ago (or never)."""
    now = now or timezone.now()
    started = []
    last = dict(
        Job.objects.filter(operation=Operation.DRILL, item_type="drill_plan")
        .values("item_id")
        .annotate(last=Max("started_at"))
        .values_list("item_id", "last")
    )
    for plan in DrillPlan.objects.filter(enabled=True).select_related("vault__subscription", "sandbox_account"):
        previous = last.get(plan.pk)
        if previous is None or now - previous >= timedelta(hours=plan.every_hours):
            started.append(start_drill(plan))
    return started


def choose_point(plan: DrillPlan, item: ProtectedItem, rng: random.Random) -> RecoveryPoint | None:
    points = RecoveryPoint.objects.filter(protected_item=item, damaged_at__isnull=True).order_by("-created_at")
    if plan.point_choice == DrillPlan.PointChoice.RANDOM:
        recent = list(points.filter(created_at__gte=timezone.now() - timedelta(days=plan.within_days)))
        return rng.choice(recent) if recent else None
    return points.first()


def sandbox_paths(plan: DrillPlan, job_id: int, point: RecoveryPoint, keys: list[str]) -> dict[str, Path]:
    folder = plan.sandbox_account.folder
    return {key: folder / f"drill-{job_id}-{point.pk}-{check_id(key, 'disk key')}.vhd" for key in keys}


def _allocated(fd: int, size: int) -> list[tuple[int, int]]:
    """The file's data extents: a restore leaves holes where the manifest has none, and reading a 100 GiB disk's
    holes byte by byte would take longer than the drill should."""
    extents, offset = [], 0
    while offset < size:
        try:
            start = os.lseek(fd, offset, os.SEEK_DATA)
        except OSError:  # ENXIO: only a hole remains
            break
        end = os.lseek(fd, start, os.SEEK_HOLE)
        extents.append((start, end))
        offset = end
    return extents


def check_restored(disk: engine.DiskManifest, path: Path) -> tuple[int, list[int]]:
    """Read the restored disk back and compare each chunk with the manifest: its hash, or zeros for a hole (a hole
    of the file is zeros without reading it). Returns (chunks checked, indexes that differ)."""
    if path.stat().st_size != disk.size:
        return 0, [-1]
    bad = []
    with open(path, "rb") as fh:
        fd = fh.fileno()
        with_data = {
            index
            for start, end in _allocated(fd, disk.size)
            for index in range(start // disk.chunk_size, (end - 1) // disk.chunk_size + 1)
        }
        for index, expected in enumerate(disk.chunks):
            if expected is None and index not in with_data:
                continue
            data = os.pread(fd, disk.chunk_length(index), index * disk.chunk_size)
            if expected is None:
                if data.count(0) != len(data):
                    bad.append(index)
            elif hash_data(data) != expected:
                bad.append(index)
    return len(disk.chunks), bad


def _drill_item(
    ctx: JobContext, plan: DrillPlan, store: engine.VaultStore, item: ProtectedItem, rng: random.Random
) -> DrillResult | None:
    point = choose_point(plan, item, rng)
    if point is None:
        return None
    result = DrillResult(
        plan=plan,
        vault=plan.vault,
        job_id=ctx.job.pk,
        protected_item=item,
        vm_name=item.vm_name,
        point_id=point.point_id,
        point_created_at=point.created_at,
        status=DrillResult.Status.FAILED,
    )
    host = _boot_host(item, point) if plan.boot_check else None
    with ctx.step(f"Restore and check {item.vm_name}"):
        try:
            manifest = store.load_manifest(point.point_id)
            if host is not None:
                problems = _drill_on_host(ctx, store, point, manifest, host, result)
            else:
                if plan.boot_check:
                    result.boot_result = NO_BOOT_SIMULATED if not point.machine_config else NO_BOOT_HOST
                problems = _drill_in_sandbox(ctx, plan, store, point, manifest, result)
            result.status = DrillResult.Status.FAILED if problems else DrillResult.Status.PASSED
            result.message = "; ".join(problems) or (
                f"{result.disks} disk(s) restored byte-exact: {result.chunks_checked} chunks checked."
            )
        except (engine.EngineError, kvm.KvmError, OSError, ValueError) as error:
            result.message = f"The restore failed: {describe(error)}"
    result.save()
    return result


def _check_all(manifest: engine.Manifest, targets: dict[str, Path], result: DrillResult) -> list[str]:
    problems = []
    for disk in manifest.disks:
        checked, bad = check_restored(disk, targets[disk.key])
        result.chunks_checked += checked
        if bad:
            problems.append(f"{disk.key}: {len(bad)} chunk(s) differ from the manifest")
    result.disks = len(manifest.disks)
    return problems


def _drill_in_sandbox(
    ctx: JobContext,
    plan: DrillPlan,
    store: engine.VaultStore,
    point: RecoveryPoint,
    manifest: engine.Manifest,
    result: DrillResult,
) -> list[str]:
    targets = sandbox_paths(plan, ctx.job.pk, point, [d.key for d in manifest.disks])
    plan.sandbox_account.folder.mkdir(parents=True, exist_ok=True)
    try:
        started = time.monotonic()
        restored = engine.restore_point(store, point.point_id, targets)
        result.restore_seconds = round(time.monotonic() - started, 3)
        result.bytes_restored = restored.bytes_written
        return _check_all(manifest, targets, result)
    finally:
        for target in targets.values():
            target.unlink(missing_ok=True)


# -- Boot check: a KVM machine's point restored into its host's pool and started as a sandbox domain ----------
def _boot_host(item: ProtectedItem, point: RecoveryPoint) -> HypervisorHost | None:
    if not point.machine_config or item.vm is None:
        return None
    return item.vm.host


def domain_name(job_id: int) -> str:
    return f"azbk-drill-{job_id}"


def _record(job: Job, made: dict) -> None:
    """What the drill made on a host, in its job's row before it exists: the clean-up reads it from there."""
    job.result = {**(job.result or {}), "made": made}
    Job.objects.filter(pk=job.pk).update(result=job.result)


def _drill_on_host(
    ctx: JobContext,
    store: engine.VaultStore,
    point: RecoveryPoint,
    manifest: engine.Manifest,
    host: HypervisorHost,
    result: DrillResult,
) -> list[str]:
    """Restore each disk into a staging raw file in the host's pool, check it against the manifest, import it into
    a new volume (azbk-drill-<job>-...), define and start azbk-drill-<job> and wait for its guest agent; remove
    all of it, whatever happened."""
    made: dict = {"host_id": host.pk, "staging": [], "volumes": [], "domains": []}
    connection = hosts.connect(host)
    try:
        pool_dir = connection.pool_path(host.storage_pool)
        prefix = f"{domain_name(ctx.job.pk)}-{point.pk}-"
        names = {d.key: f"{prefix}{check_id(d.key, 'disk key')}.qcow2" for d in manifest.disks}
        staging = {key: pool_dir / f".{name}.raw" for key, name in names.items()}
        made["staging"] = [str(p) for p in staging.values()]
        made["volumes"] = [str(pool_dir / name) for name in names.values()]
        _record(ctx.job, made)
        started = time.monotonic()
        restored = engine.restore_point(store, point.point_id, staging)
        result.bytes_restored = restored.bytes_written
        problems = _check_all(manifest, staging, result)
        sizes = {d.key: d.size for d in manifest.disks}
        volumes = {}
        for key, name in names.items():
            volume = connection.create_volume(host.storage_pool, name, sizes[key])
            if str(volume) not in made["volumes"]:
                made["volumes"].append(str(volume))
                _record(ctx.job, made)
            connection.import_raw_image(staging[key], volume)
            staging[key].unlink(missing_ok=True)
            volumes[key] = volume
        result.restore_seconds = round(time.monotonic() - started, 3)
        if problems:
            result.boot_result = BOOT_SKIPPED_BAD
            return problems
        return _boot(ctx, connection, point, volumes, made, result)
    finally:
        try:
            _remove_made(made, connection)
        finally:
            connection.close()
        ctx.job.result.pop("made", None)
        Job.objects.filter(pk=ctx.job.pk).update(result=ctx.job.result)


def _boot(
    ctx: JobContext,
    connection: kvm.Host,
    point: RecoveryPoint,
    volumes: dict[str, Path],
    made: dict,
    result: DrillResult,
) -> list[str]:
    name = domain_name(ctx.job.pk)
    made["domains"].append(name)
    _record(ctx.job, made)
    timeout = float(settings.DRILL_BOOT_TIMEOUT_S)
    started = time.monotonic()
    uuid = connection.define_restored_domain(point.machine_config, name, volumes, start=True)
    if not connection.domain(uuid).agent_channel:
        result.boot_result = BOOT_NO_CHANNEL
    elif connection.wait_for_agent(uuid, timeout):
        result.boot_result = BOOT_ANSWERED.format(seconds=time.monotonic() - started)
        return []
    else:
        result.boot_result = BOOT_SILENT.format(seconds=timeout)
    return [result.boot_result]


def _remove_made(made: dict, connection: kvm.Host | None = None) -> None:
    """Undefine the sandbox domains (found by name: a worker killed while defining one never learnt its UUID) and
    delete the volumes and staging files a drill made on a host."""
    for path in made.get("staging") or []:
        Path(path).unlink(missing_ok=True)
    host = HypervisorHost.objects.filter(pk=made.get("host_id") or 0).first()
    if host is None or not (made.get("domains") or made.get("volumes")):
        return
    own = connection is None
    try:
        if connection is None:
            connection = hosts.connect(host)
        try:
            names = set(made.get("domains") or [])
            for info in connection.list_domains() if names else []:
                if info.name in names:
                    try:
                        connection.undefine_domain(info.uuid)
                    except kvm.DomainNotFound:
                        pass
            for volume in made.get("volumes") or []:
                connection.delete_volume(Path(volume))
        finally:
            if own:
                connection.close()
    except kvm.KvmError as error:
        log.warning("the drill's sandbox domain or volumes on %s could not be removed: %s", host.name, error)


@handler(Operation.DRILL, clean_up=lambda job: remove_leftovers(job))
def run_drill(ctx: JobContext) -> None:
    plan = DrillPlan.objects.select_related("vault", "sandbox_account").filter(pk=ctx.job.params["plan_id"]).first()
    if plan is None:
        raise JobFailed("The drill plan no longer exists.", "Refresh the vault's DRILLS tab.", code="PlanNotFound")
    store = open_vault_store(plan.vault, VAULT_UNAVAILABLE)
    items = list(plan.items.all()) or list(ProtectedItem.objects.filter(vault=plan.vault))
    rng = random.Random(ctx.job.pk)
    results = [r for r in (_drill_item(ctx, plan, store, item, rng) for item in items) if r is not None]
    passed = [r for r in results if r.status == DrillResult.Status.PASSED]
    ctx.show(
        {
            "Items drilled": len(results),
            "Passed": len(passed),
            "Longest restore (RTO)": f"{max((r.restore_seconds or 0 for r in results), default=0):.1f} s",
        }
    )
    if not results:
        raise JobFailed(
            NOTHING_TO_DRILL.format(name=plan.name), "Back up the plan's items first.", code="NothingToDrill"
        )
    failed = [r.vm_name for r in results if r.status != DrillResult.Status.PASSED]
    if failed:
        raise JobFailed(
            DRILL_FAILED.format(names=", ".join(failed)),
            "Verify the vault, then back the items up again.",
            code="DrillFailed",
        )


def remove_leftovers(job: Job) -> None:
    """However the drill ended: nothing it restored stays in the sandbox."""
    made = (job.result or {}).get("made")
    if made:
        _remove_made(made)
        job.result.pop("made", None)
        Job.objects.filter(pk=job.pk).update(result=job.result)
    plan = DrillPlan.objects.select_related("sandbox_account").filter(pk=job.params.get("plan_id")).first()
    if plan is None:
        return None
    for leftover in plan.sandbox_account.folder.glob(f"drill-{job.pk}-*.vhd"):
        leftover.unlink(missing_ok=True)
    return None


TREND = 10  # results per item in the trend


def item_rows(plan: DrillPlan) -> list[dict]:
    """The last result of each item the plan drilled, with its last TREND restore durations (oldest first)."""
    rows: dict[str, dict] = {}
    for result in DrillResult.objects.filter(plan=plan).order_by("-created_at", "-id")[:500]:
        row = rows.setdefault(result.vm_name, {"last": result, "trend": []})
        if len(row["trend"]) < TREND and result.restore_seconds is not None:
            row["trend"].insert(0, result.restore_seconds)
    for row in rows.values():
        top = max(row["trend"], default=0) or 1
        row["bars"] = [{"seconds": s, "percent": max(4, round(100 * s / top))} for s in row["trend"]]
    return sorted(rows.values(), key=lambda r: r["last"].vm_name)
