"""The JSON API at /api/v1/: each app contributes a router; all of it needs a bearer token."""

import logging
import uuid

from ninja import NinjaAPI

from backup.alerts.api import router as alerts_router
from backup.billing.api import router as billing_router
from backup.drills.api import router as drills_router
from backup.guard.api import router as guard_router
from backup.jobs.api import router as jobs_router
from backup.jobs.errors import INTERNAL_ERROR
from backup.notifications.api import router as notifications_router
from backup.tenancy.api import router as tenancy_router
from backup.tenancy.api_auth import BearerToken
from backup.vaults.api import router as vaults_router
from backup.vms.api import add_vault_operations
from backup.vms.api import router as vms_router

log = logging.getLogger(__name__)

api = NinjaAPI(title="Backup portal API", version="1", auth=BearerToken(), urls_namespace="api")
add_vault_operations(vaults_router)  # DELETE /vaults/{id}: the vms app's work on the vaults app's path
api.add_router("", tenancy_router)
api.add_router("", vaults_router)
api.add_router("", vms_router)
api.add_router("", jobs_router)
api.add_router("", notifications_router)
api.add_router("", billing_router)
api.add_router("", alerts_router)
api.add_router("", drills_router)
api.add_router("", guard_router)


@api.exception_handler(Exception)
def unexpected_error(request, exc: Exception):
    """Whatever went wrong, an API client gets JSON it can parse, never Django's HTML page or (with DEBUG on)
    ninja's plain-text traceback. The traceback goes to the log under the error id the client is shown."""
    error_id = uuid.uuid4().hex[:12]
    log.error("API error %s on %s %s", error_id, request.method, request.path, exc_info=exc)
    return api.create_response(
        request, {"detail": f"{INTERNAL_ERROR} (error id {error_id})", "error_id": error_id}, status=500
    )
