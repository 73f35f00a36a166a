"""``connectivity.wifi`` from the operating system.

On Linux a wireless interface has a ``wireless`` (or ``phy80211``) entry under
``/sys/class/net/<name>/``, and its ``operstate`` is ``up`` only once it is associated with an
access point (``dormant`` or ``down`` before). ``/proc/net/wireless`` lists the wireless
interfaces too, for kernels whose sysfs lacks those entries. Where neither exists (Windows,
macOS) the state is unknown: ``None``, not an invented ``false``. ``bluetooth`` and ``can_bus``
come from their own sources.
"""

from __future__ import annotations

import asyncio
import logging
import re
from pathlib import Path
from typing import TYPE_CHECKING

from evscreen.drivers.base import Source

if TYPE_CHECKING:
    from evscreen.config import Config
    from evscreen.state import VehicleState

log = logging.getLogger(__name__)

POLL_S = 5.0
_IFACE_NAME = re.compile(r"[A-Za-z0-9_.@-]{1,15}")  # what Linux allows in practice (IFNAMSIZ is 16)


SYS_NET = Path("/sys/class/net")
PROC_WIRELESS = Path("/proc/net/wireless")


def wireless_interfaces(sys_net: Path = SYS_NET, proc_wireless: Path = PROC_WIRELESS) -> list[str]:
    names: set[str] = set()
    try:
        for iface in sys_net.iterdir():
            if (iface / "wireless").exists() or (iface / "phy80211").exists():
                names.add(iface.name)
    except OSError:
        pass
    try:
        # Two header lines, then "  wlan0: 0000   54.  -56.  -256 ..."
        for line in proc_wireless.read_text(encoding="ascii", errors="replace").splitlines()[2:]:
            name, sep, _ = line.partition(":")
            if sep and _IFACE_NAME.fullmatch(name.strip()):
                names.add(name.strip())
    except OSError:
        pass
    return sorted(names)


def wifi_connected(sys_net: Path = SYS_NET, proc_wireless: Path = PROC_WIRELESS) -> bool | None:
    """True when a wireless interface is up (associated); False when none is; None off Linux."""
    if not sys_net.is_dir():
        return None
    for name in wireless_interfaces(sys_net, proc_wireless):
        try:
            state = (sys_net / name / "operstate").read_text(encoding="ascii").strip()
        except (OSError, ValueError):
            continue
        if state == "up":
            return True
    return False


class ConnectivitySource(Source):
    """Polls the OS for Wi-Fi association every few seconds."""

    name = "connectivity"
    stale_after = POLL_S * 3

    def __init__(self, config: Config, state: VehicleState, *, sys_net: Path = SYS_NET,
                 proc_wireless: Path = PROC_WIRELESS) -> None:
        super().__init__(config, state)
        self.sys_net = sys_net
        self.proc_wireless = proc_wireless
        self.poll_s = POLL_S

    def describe(self) -> str:
        return f"{self.name}: wifi from {self.sys_net} (real)"

    async def read(self) -> None:
        last: bool | None | str = "unset"
        while True:
            wifi = await asyncio.to_thread(wifi_connected, self.sys_net, self.proc_wireless)
            if wifi != last:
                log.info("wifi: %s", {True: "connected", False: "not connected", None: "unknown on this OS"}[wifi])
                last = wifi
            self.state.update(self.name, {"connectivity.wifi": wifi})
            await asyncio.sleep(self.poll_s)
