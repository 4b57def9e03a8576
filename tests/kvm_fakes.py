"""A stand-in for libvirt hosts in the service, page, admin and CLI tests: `install(monkeypatch)` makes
hosts.connect hand out FakeHost connections to a FakeLibvirt holding domains and pools per URI. The real driver
is exercised by the tests marked libvirt."""

from __future__ import annotations

import itertools
import uuid as uuidlib
from dataclasses import dataclass, field
from pathlib import Path

from backup import kvm

GiB = 1 << 30
MiB = 1 << 20
_seq = itertools.count(1)


def disk(target: str = "vda", index: int = 0, *, fmt: str = "qcow2", capacity: int = 4 * GiB,
         allocation: int = 300 * MiB, path: str | None = None, source_type: str = "file") -> kvm.DiskInfo:
    trackable = fmt == "qcow2" and source_type == "file"
    return kvm.DiskInfo(target=target, device_index=index, path=path if path is not None else f"/pool/{target}.img",
                        source_type=source_type, format=fmt, capacity=capacity, allocation=allocation,
                        trackable=trackable, untrackable_reason="" if trackable else f"{fmt} {source_type}")


def domain(name: str | None = None, *, state: str = "running", disks: tuple[kvm.DiskInfo, ...] | None = None,
           agent_channel: bool = True, agent_responds: bool = True, os_type: str = "linux", vcpus: int = 2,
           memory_mib: int = 1024, uuid: str | None = None) -> kvm.DomainInfo:
    return kvm.DomainInfo(uuid=uuid or str(uuidlib.uuid4()), name=name or f"azbt-dom-{next(_seq)}", state=state,
                          vcpus=vcpus, memory_mib=memory_mib, disks=disks if disks is not None else (disk(),),
                          agent_channel=agent_channel, agent_responds=agent_responds, os_type=os_type)


@dataclass
class FakeLibvirt:
    """Domains and pools by URI; `down` holds the URIs whose libvirtd cannot be reached."""

    domains: dict[str, list[kvm.DomainInfo]] = field(default_factory=dict)
    pools: dict[str, set[str]] = field(default_factory=dict)
    down: set[str] = field(default_factory=set)
    opened: int = 0
    closed: int = 0

    def add_domain(self, uri: str, info: kvm.DomainInfo) -> kvm.DomainInfo:
        self.domains.setdefault(uri, []).append(info)
        return info

    def replace_domain(self, uri: str, info: kvm.DomainInfo) -> None:
        self.domains[uri] = [info if d.uuid == info.uuid else d for d in self.domains[uri]]

    def remove_domain(self, uri: str, uuid: str) -> None:
        self.domains[uri] = [d for d in self.domains[uri] if d.uuid != uuid]


class FakeHost:
    def __init__(self, fake: FakeLibvirt, uri: str) -> None:
        if uri in fake.down or uri not in fake.pools:
            raise kvm.HostUnavailable(f"Cannot connect to libvirtd at {uri}: connection refused.")
        self.fake, self.uri = fake, uri
        fake.opened += 1

    def _up(self) -> None:
        if self.uri in self.fake.down:
            raise kvm.HostUnavailable("The connection to libvirtd was lost.")

    def close(self) -> None:
        self.fake.closed += 1

    def list_domains(self) -> list[kvm.DomainInfo]:
        self._up()
        return list(self.fake.domains.get(self.uri, []))

    def domain(self, uuid: str) -> kvm.DomainInfo:
        self._up()
        for info in self.fake.domains.get(self.uri, []):
            if info.uuid == uuid:
                return info
        raise kvm.DomainNotFound(f"No domain with UUID {uuid} on the host.")

    def pool_path(self, pool: str) -> Path:
        self._up()
        if pool not in self.fake.pools[self.uri]:
            raise kvm.PoolNotFound(f"no storage pool named '{pool}' is active")
        return Path("/pool") / pool


URI = "qemu+ssh://root@kvm1.example.net/system"


def install(monkeypatch, uri: str = URI, pools: tuple[str, ...] = ("default",)) -> FakeLibvirt:
    fake = FakeLibvirt(pools={uri: set(pools)})
    monkeypatch.setattr("backup.vms.services.hosts.connect", lambda host: FakeHost(fake, host.uri))
    return fake
