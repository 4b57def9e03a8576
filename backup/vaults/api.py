from datetime import datetime

from django.core.exceptions import ValidationError
from ninja import Router, Schema, Status

from backup.tenancy.access import subscriptions_for

from . import access, services
from .models import Vault

router = Router(tags=["vaults"])


class VaultIn(Schema):
    name: str
    region: str
    subscription_id: int


class RedundancyIn(Schema):
    redundancy: str


class VaultOut(Schema):
    id: int
    name: str
    region: str
    subscription_id: int
    status: str
    status_reason: str
    redundancy: str
    redundancy_locked: bool
    created_at: datetime


class ErrorOut(Schema):
    detail: str
    errors: dict[str, list[str]] = {}


def vault_out(vault: Vault) -> dict:
    return {
        "id": vault.pk, "name": vault.name, "region": vault.region, "subscription_id": vault.subscription_id,
        "status": vault.status, "status_reason": vault.status_reason, "redundancy": vault.redundancy,
        "redundancy_locked": vault.redundancy_locked, "created_at": vault.created_at,
    }


def validation_error(error: ValidationError) -> Status:
    errors = error.message_dict if hasattr(error, "error_dict") else {"__all__": error.messages}
    first = next(iter(errors.values()))[0]
    return Status(400, {"detail": first, "errors": errors})


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
        return validation_error(error)
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
        return validation_error(error)
