"""``connectivity.wifi`` from the OS: sysfs trees laid out as Linux lays them out, and this machine's."""

from __future__ import annotations

import asyncio
import sys
from pathlib import Path

import pytest

from evscreen.config import load_config
from evscreen.drivers.connectivity import ConnectivitySource, wifi_connected, wireless_interfaces
from evscreen.drivers.registry import chosen_sources
from evscreen.state import VehicleState

PROC_HEADER = (
    "Inter-| sta-|   Quality        |   Discarded packets               | Missed | WE\n"
    " face | tus | link level noise |  nwid  crypt   frag  retry   misc | beacon | 22\n"
)


def sysfs(root: Path, interfaces: dict[str, tuple[str, bool]]) -> Path:
    """/sys/class/net with each interface's operstate and, for Wi-Fi, its wireless/ and phy80211."""
    net = root / "sys" / "class" / "net"
    for name, (state, wireless) in interfaces.items():
        iface = net / name
        iface.mkdir(parents=True)
        (iface / "operstate").write_text(state + "\n")
        if wireless:
            (iface / "wireless").mkdir()
    net.mkdir(parents=True, exist_ok=True)
    return net


def test_associated_wireless_interface_means_wifi(tmp_path: Path) -> None:
    net = sysfs(tmp_path, {"lo": ("unknown", False), "eth0": ("up", False), "wlan0": ("up", True)})
    assert wireless_interfaces(net, tmp_path / "none") == ["wlan0"]
    assert wifi_connected(net, tmp_path / "none") is True


@pytest.mark.parametrize("state", ["dormant", "down", "lowerlayerdown", "unknown"])
def test_wireless_interface_not_associated_is_no_wifi(tmp_path: Path, state: str) -> None:
    net = sysfs(tmp_path, {"eth0": ("up", False), "wlan0": (state, True)})
    assert wifi_connected(net, tmp_path / "none") is False


def test_wired_only_machine_has_no_wifi(tmp_path: Path) -> None:
    net = sysfs(tmp_path, {"lo": ("unknown", False), "eth0": ("up", False)})
    assert wifi_connected(net, tmp_path / "none") is False


def test_proc_net_wireless_names_interfaces_sysfs_does_not_mark(tmp_path: Path) -> None:
    net = sysfs(tmp_path, {"wlp2s0": ("up", False)})
    proc = tmp_path / "wireless"
    proc.write_text(PROC_HEADER + "wlp2s0: 0000   54.  -56.  -256        0      0      0      0     12        0\n")
    assert wifi_connected(net, proc) is True
    proc.write_text(PROC_HEADER + "garbage line without a colon\n\x00\xff:\n")
    assert wifi_connected(net, proc) is False


def test_no_sysfs_means_unknown(tmp_path: Path) -> None:
    assert wifi_connected(tmp_path / "absent", tmp_path / "absent") is None


def test_this_machine(tmp_path: Path) -> None:
    result = wifi_connected()
    if sys.platform.startswith("linux"):
        assert result in (True, False)
        if not wireless_interfaces():
            assert result is False
    else:
        assert result is None


def test_source_publishes_and_follows_changes(tmp_path: Path) -> None:
    net = sysfs(tmp_path, {"wlan0": ("dormant", True)})
    state = VehicleState()
    source = ConnectivitySource(load_config(env={}).config, state, sys_net=net, proc_wireless=tmp_path / "none")
    source.poll_s = 0.01

    async def scenario() -> None:
        task = asyncio.create_task(source.run())
        while state.get("connectivity.wifi") is not False:
            await asyncio.sleep(0.01)
        (net / "wlan0" / "operstate").write_text("up\n")
        while state.get("connectivity.wifi") is not True:
            await asyncio.sleep(0.01)
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)

    asyncio.run(asyncio.wait_for(scenario(), 10))
    assert state.describe_sources()["connectivity"]["state"] == "live"


def test_connectivity_runs_with_real_hardware_only() -> None:
    config = load_config(env={}, flags={"gps.enabled": True}).config
    assert chosen_sources(config, on_pi=True) == ["gps", "connectivity"]
    # Simulated: the car, and the CAN source decoding the car's virtual bus (the head unit's own
    # links are the simulator's, not the connectivity source's).
    assert chosen_sources(config, on_pi=False) == ["simulation", "can", "obd"]
