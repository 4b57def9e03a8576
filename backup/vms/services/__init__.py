"""The vms app's services, one module per flow: discovery, registration, protection, policies,
backups, restores and management. Views, API and tasks call these; they call engine and fabric."""
