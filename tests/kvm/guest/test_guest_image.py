"""The tiny guest itself: it boots under TCG, its agent answers, and a freeze holds its writer back."""

from __future__ import annotations

import pytest

from .domain import agent_command

pytestmark = pytest.mark.libvirt

BOOT_TARGET_S = 30.0


def test_guest_boots_to_its_agent_and_freezes(guest):
    assert guest.boot_s < BOOT_TARGET_S, f"boot to agent took {guest.boot_s:.1f} s under TCG"
    assert agent_command(guest.dom, "guest-fsfreeze-status") == "thawed"
    try:
        assert agent_command(guest.dom, "guest-fsfreeze-freeze") >= 1  # the root file system at least
        assert agent_command(guest.dom, "guest-fsfreeze-status") == "frozen"
    finally:
        agent_command(guest.dom, "guest-fsfreeze-thaw")
    assert agent_command(guest.dom, "guest-fsfreeze-status") == "thawed"
