"""The JSON API at /api/v1/: each app contributes a router; all of it needs a bearer token."""

from ninja import NinjaAPI

from backup.billing.api import router as billing_router
from backup.jobs.api import router as jobs_router
from backup.notifications.api import router as notifications_router
from backup.tenancy.api import router as tenancy_router
from backup.tenancy.api_auth import BearerToken
from backup.vaults.api import router as vaults_router
from backup.vms.api import router as vms_router
from backup.vms.api_backup import router as vms_backup_router
from backup.vms.api_manage import router as vms_manage_router
from backup.vms.api_operations import router as vms_operations_router

api = NinjaAPI(title="Backup portal API", version="1", auth=BearerToken(), urls_namespace="api")
api.add_router("", tenancy_router)
api.add_router("", vaults_router)
api.add_router("", vms_router)
api.add_router("", vms_backup_router)
api.add_router("", vms_operations_router)
api.add_router("", vms_manage_router)
api.add_router("", jobs_router)
api.add_router("", notifications_router)
api.add_router("", billing_router)
