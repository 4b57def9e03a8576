"""API of the vms app: the fabric's inventory, and Discover -> Register -> Protect with policies.

Operations return the jobs they started (202); a job refused because another operation holds the
item comes back already Failed, with the product's message, exactly as in the portal.
"""

from datetime import datetime, time

from django.core.exceptions import ValidationError
from ninja import Router, Schema, Status

from backup.jobs.api import JobOut, job_out
from backup.tenancy.api_errors import ErrorOut, bad_request
from backup.vaults.access import get_vault_for_user

from . import access
from .models import BackupPolicy
from .services import discovery, inventory, policies, protection, registration

router = Router(tags=["virtual machines"])


class VmOut(Schema):
    id: int
    name: str
    subscription_id: int
    cloud_service: str
    region: str
    deployment_model: str
    os_family: str
    os_version: str
    power_state: str
    size: str
    agent_installed: bool
    backup_extension_installed: bool
    protected_in: str | None


class CloudServiceOut(Schema):
    id: int
    name: str
    dns_name: str
    subscription_id: int
    region: str
    virtual_network: str
    vm_count: int


class StorageAccountOut(Schema):
    id: int
    name: str
    subscription_id: int
    region: str
    kind: str
    used_bytes: int


class RegisteredItemOut(Schema):
    id: int
    vm_id: int | None
    name: str
    cloud_service: str
    status: str
    status_reason: str
    registered_at: datetime | None


class ProtectedItemOut(Schema):
    id: int
    vm_id: int | None
    name: str
    cloud_service: str
    policy_id: int | None
    policy: str | None
    status: str
    recovery_points: int
    newest_recovery_point: datetime | None


class PolicyIn(Schema):
    name: str = ""
    frequency: str = "daily"
    days_of_week: list[int] = []
    time_of_day: str = "22:00"
    timezone: str = "UTC"
    daily_retention_days: int | None = None
    weekly_retention_weeks: int | None = None
    monthly_retention_months: int | None = None
    yearly_retention_years: int | None = None


class PolicyOut(Schema):
    id: int
    name: str
    frequency: str
    days_of_week: list[int]
    time_of_day: time
    timezone: str
    daily_retention_days: int | None
    weekly_retention_weeks: int | None
    monthly_retention_months: int | None
    yearly_retention_years: int | None
    protected_items: int


class RegisterIn(Schema):
    vm_ids: list[int]


class ProtectIn(Schema):
    vm_ids: list[int]
    policy_id: int | None = None
    policy: PolicyIn | None = None


class ProtectOut(Schema):
    policy_id: int
    jobs: list[JobOut]


def policy_out(policy: BackupPolicy) -> dict:
    fields = {field: getattr(policy, field) for field in policies.POLICY_FIELDS}
    in_use = policy.protected_items.exclude(status="stopped").count()
    return {"id": policy.pk, **fields, "protected_items": in_use}


# -- Inventory ------------------------------------------------------------------------------------


@router.get("/vms", response=list[VmOut])
def list_vms(request):
    return [
        {"id": vm.pk, "name": vm.name, "subscription_id": vm.subscription_id, "cloud_service": vm.cloud_service.name,
         "region": vm.cloud_service.region, "deployment_model": vm.deployment_model, "os_family": vm.os_family,
         "os_version": vm.os_version, "power_state": vm.power_state, "size": vm.size,
         "agent_installed": vm.agent_installed, "backup_extension_installed": vm.backup_extension_installed,
         "protected_in": vm.protected_in}
        for vm in inventory.machines_for(request.auth)
    ]


@router.get("/cloud-services", response=list[CloudServiceOut])
def list_cloud_services(request):
    return [
        {"id": s.pk, "name": s.name, "dns_name": s.dns_name, "subscription_id": s.subscription_id,
         "region": s.region, "virtual_network": s.virtual_network, "vm_count": s.vm_count}
        for s in inventory.cloud_services_for(request.auth)
    ]


@router.get("/storage-accounts", response=list[StorageAccountOut])
def list_storage_accounts(request):
    return [
        {"id": a.pk, "name": a.name, "subscription_id": a.subscription_id, "region": a.region, "kind": a.kind,
         "used_bytes": a.used_bytes}
        for a in inventory.storage_accounts_for(request.auth)
    ]


# -- Discover, register, protect -----------------------------------------------------------------


@router.post("/vaults/{vault_id}/discover", response={202: JobOut, 400: ErrorOut})
def discover(request, vault_id: int):
    vault = get_vault_for_user(request.auth, vault_id)
    try:
        return Status(202, job_out(discovery.start_discovery(vault, request.auth)))
    except ValidationError as error:
        return bad_request(error)


@router.get("/vaults/{vault_id}/registered-items", response=list[RegisteredItemOut])
def list_registered_items(request, vault_id: int, status: str | None = None):
    vault = get_vault_for_user(request.auth, vault_id)
    items = vault.registered_items.all()
    if status:
        items = items.filter(status=status)
    return [
        {"id": i.pk, "vm_id": i.vm_id, "name": i.vm_name, "cloud_service": i.cloud_service_name,
         "status": i.status, "status_reason": i.status_reason, "registered_at": i.registered_at}
        for i in map(registration.reconcile, items)
    ]


@router.post("/vaults/{vault_id}/register", response={202: list[JobOut], 400: ErrorOut})
def register(request, vault_id: int, payload: RegisterIn):
    vault = get_vault_for_user(request.auth, vault_id)
    try:
        return Status(202, [job_out(j) for j in registration.start_registration(vault, payload.vm_ids, request.auth)])
    except ValidationError as error:
        return bad_request(error)


@router.post("/vaults/{vault_id}/protect", response={202: ProtectOut, 400: ErrorOut})
def protect(request, vault_id: int, payload: ProtectIn):
    vault = get_vault_for_user(request.auth, vault_id)
    policies.ensure_default_policy(vault)
    try:
        if payload.policy is not None:
            policy, jobs = protection.protect_with_new_policy(vault, payload.vm_ids, payload.policy.dict(),
                                                              request.auth)
        else:
            if payload.policy_id is None:
                raise ValidationError({"policy_id": "Give policy_id (an existing policy) or policy (a new one)."})
            policy = vault.policies.filter(pk=payload.policy_id).first()
            jobs = protection.start_protection(vault, payload.vm_ids, policy, request.auth)
    except ValidationError as error:
        return bad_request(error)
    return Status(202, {"policy_id": policy.pk, "jobs": [job_out(j) for j in jobs]})


@router.get("/vaults/{vault_id}/protected-items", response=list[ProtectedItemOut])
def list_protected_items(request, vault_id: int):
    vault = get_vault_for_user(request.auth, vault_id)
    return [
        {"id": p.pk, "vm_id": p.vm_id, "name": p.vm_name, "cloud_service": p.cloud_service_name,
         "policy_id": p.policy_id, "policy": p.policy.name if p.policy else None, "status": p.status,
         "recovery_points": p.point_count, "newest_recovery_point": p.newest_point}
        for p in protection.protected_items(vault)
    ]


# -- Policies -------------------------------------------------------------------------------------


@router.get("/vaults/{vault_id}/policies", response=list[PolicyOut])
def list_policies(request, vault_id: int):
    vault = get_vault_for_user(request.auth, vault_id)
    policies.ensure_default_policy(vault)
    return [policy_out(p) for p in vault.policies.all()]


@router.post("/vaults/{vault_id}/policies", response={201: PolicyOut, 400: ErrorOut})
def create_policy(request, vault_id: int, payload: PolicyIn):
    vault = get_vault_for_user(request.auth, vault_id)
    try:
        return Status(201, policy_out(policies.create_policy(vault, payload.dict())))
    except ValidationError as error:
        return bad_request(error)


@router.get("/vaults/{vault_id}/policies/{policy_id}", response=PolicyOut)
def get_policy(request, vault_id: int, policy_id: int):
    vault = get_vault_for_user(request.auth, vault_id)
    return policy_out(access.get_policy(vault, policy_id))


@router.put("/vaults/{vault_id}/policies/{policy_id}", response={200: PolicyOut, 400: ErrorOut})
def update_policy(request, vault_id: int, policy_id: int, payload: PolicyIn):
    vault = get_vault_for_user(request.auth, vault_id)
    policy = access.get_policy(vault, policy_id)
    try:
        return Status(200, policy_out(policies.update_policy(policy, payload.dict(), user=request.auth)))
    except ValidationError as error:
        return bad_request(error)


@router.delete("/vaults/{vault_id}/policies/{policy_id}", response={204: None, 400: ErrorOut})
def delete_policy(request, vault_id: int, policy_id: int):
    vault = get_vault_for_user(request.auth, vault_id)
    try:
        policies.delete_policy(access.get_policy(vault, policy_id))
    except ValidationError as error:
        return bad_request(error)
    return Status(204, None)

