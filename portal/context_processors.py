from backup.notifications.services import unread_count

NAVIGATION = [
    ("all", "ALL ITEMS", "home"),
    ("vms", "VIRTUAL MACHINES", "vm-list"),
    ("cloud", "CLOUD SERVICES", "cloud-service-list"),
    ("storage", "STORAGE", "storage-list"),
    ("recovery", "RECOVERY SERVICES", "vault-list"),
    ("billing", "BILLING", "billing"),
    ("security", "SECURITY", "security"),
]


def shell(request) -> dict:
    """The shell's navigation and the unread-notification count, for every page."""
    user = getattr(request, "user", None)
    unread = 0
    if user is not None and user.is_authenticated:
        unread = unread_count(user)
    return {"navigation": NAVIGATION, "unread_notifications": unread}
