"""KVM hypervisor hosts: adding one, reaching it, and keeping its domains listed as virtual machines."""

from __future__ import annotations

from django.conf import settings

from backup import kvm

from ..models import HypervisorHost


def connect(host: HypervisorHost) -> kvm.Host:
    """An open connection to the host (kvm.HostUnavailable when libvirtd cannot be reached). Close it after use."""
    return kvm.Host(host.uri, agent_timeout_s=settings.KVM_AGENT_TIMEOUT_S, work_dir=settings.KVM_WORK_DIR)
