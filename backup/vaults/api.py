from datetime import datetime

from django.core.exceptions import ValidationError
from ninja import Router, Schema, Status

from backup.tenancy.access import subscriptions_for
from backup.tenancy.api_errors import ApprovalNeededOut, ErrorOut, bad_request, refused

from . import access, safeguards, services
from .models import Vault

router = Router(tags=["vaults"])


class VaultIn(Schema):
    name: str
    region: str
    subscription_id: int


class RedundancyIn(Schema):
    redundancy: str


class SoftDeleteIn(Schema):
    state: str | None = None  # enabled | disabled | always_on
    days: int | None = None
    approval_request: int | None = None  # an approved request of the resource guard, where one is needed


class ImmutabilityIn(Schema):
    state: str  # disabled | enabled | locked
    approval_request: int | None = None


class VaultOut(Schema):
    id: int
    name: str
    region: str
    subscription_id: int
    status: str
    status_reason: str
    redundancy: str
    redundancy_locked: bool
    secondary_region: str  # a geo-redundant vault's copy: the paired region ("" while it keeps one copy)
    soft_delete: str
    soft_delete_days: int
    immutability: str
    created_at: datetime


def vault_out(vault: Vault) -> dict:
    return {
        "id": vault.pk,
        "name": vault.name,
        "region": vault.region,
        "subscription_id": vault.subscription_id,
        "status": vault.status,
        "status_reason": vault.status_reason,
        "redundancy": vault.redundancy,
        "redundancy_locked": vault.redundancy_locked,
        "secondary_region": vault.secondary_region if vault.has_secondary else "",
        "soft_delete": vault.soft_delete,
        "soft_delete_days": vault.soft_delete_days,
        "immutability": vault.immutability,
        "created_at": vault.created_at,
    }


@router.get("/vaults", response=list[VaultOut])
def list_vaults(request):
    return [vault_out(v) for v in Vault.objects.for_user(request.auth)]


@router.post("/vaults", response={201: VaultOut, 400: ErrorOut})
def create_vault(request, payload: VaultIn):
    subscription = subscriptions_for(request.auth).filter(pk=payload.subscription_id).first()
    try:
        vault = services.create_vault(
            user=request.auth, subscription=subscription, name=payload.name, region=payload.region
        )
    except ValidationError as error:
        return bad_request(error)
    return Status(201, vault_out(vault))


@router.get("/vaults/{vault_id}", response=VaultOut)
def get_vault(request, vault_id: int):
    return vault_out(access.get_vault_for_user(request.auth, vault_id))


@router.put("/vaults/{vault_id}/redundancy", response={200: VaultOut, 400: ErrorOut})
def set_redundancy(request, vault_id: int, payload: RedundancyIn):
    vault = access.get_vault_for_user(request.auth, vault_id)
    try:
        return Status(200, vault_out(services.set_redundancy(vault, payload.redundancy)))
    except ValidationError as error:
        return bad_request(error)


@router.put("/vaults/{vault_id}/soft-delete", response={200: VaultOut, 400: ErrorOut, 403: ApprovalNeededOut})
def set_soft_delete(request, vault_id: int, payload: SoftDeleteIn):
    vault = access.get_vault_for_user(request.auth, vault_id)
    try:
        return Status(
            200,
            vault_out(
                safeguards.configure_soft_delete(
                    vault,
                    state=payload.state,
                    days=payload.days,
                    user=request.auth,
                    approval=payload.approval_request,
                )
            ),
        )
    except ValidationError as error:
        return refused(error)


@router.put("/vaults/{vault_id}/immutability", response={200: VaultOut, 400: ErrorOut, 403: ApprovalNeededOut})
def set_immutability(request, vault_id: int, payload: ImmutabilityIn):
    vault = access.get_vault_for_user(request.auth, vault_id)
    try:
        return Status(
            200,
            vault_out(
                safeguards.set_immutability(vault, payload.state, user=request.auth, approval=payload.approval_request)
            ),
        )
    except ValidationError as error:
        return refused(error)
