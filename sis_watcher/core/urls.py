"""URL rules shared by the config, the Canvas client and the simulator."""

from __future__ import annotations

import ipaddress


def is_loopback_host(host: str) -> bool:
    """Return True for `localhost` and loopback IP literals (127.0.0.0/8, ::1)."""
    if host.lower() == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False
