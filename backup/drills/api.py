from datetime import datetime

from ninja import Router, Schema

from backup.vaults.access import get_vault_for_user

from .models import DrillPlan
from .services import item_rows

router = Router(tags=["drills"])


class DrillItemOut(Schema):
    item: str
    status: str
    message: str
    point_created_at: datetime | None
    restore_seconds: float | None
    rto_trend_s: list[float]
    boot_result: str
    job_id: int
    at: datetime


class DrillPlanOut(Schema):
    id: int
    name: str
    enabled: bool
    every_hours: int
    point_choice: str
    within_days: int
    boot_check: bool
    items: list[DrillItemOut]


@router.get("/vaults/{vault_id}/drills", response=list[DrillPlanOut])
def list_drills(request, vault_id: int):
    """The vault's drill plans, each with the last result per item, its restore duration (RTO) and trend."""
    vault = get_vault_for_user(request.auth, vault_id)
    return [
        {
            "id": p.pk,
            "name": p.name,
            "enabled": p.enabled,
            "every_hours": p.every_hours,
            "point_choice": p.point_choice,
            "within_days": p.within_days,
            "boot_check": p.boot_check,
            "items": [
                {
                    "item": r["last"].vm_name,
                    "status": r["last"].status,
                    "message": r["last"].message,
                    "point_created_at": r["last"].point_created_at,
                    "restore_seconds": r["last"].restore_seconds,
                    "rto_trend_s": r["trend"],
                    "boot_result": r["last"].boot_result,
                    "job_id": r["last"].job_id,
                    "at": r["last"].created_at,
                }
                for r in item_rows(p)
            ],
        }
        for p in DrillPlan.objects.filter(vault=vault)
    ]
