"""The bridge's effective settings, derived from ``[mqtt]``: ids, topic prefix, allowed actions."""

from __future__ import annotations

import hashlib
import logging
import secrets
import sys
import uuid
from dataclasses import dataclass
from pathlib import Path

from evscreen.config import MqttConfig, data_dir
from evscreen.errors import ConfigError
from evscreen.mqtt.connection import ConnectionSettings
from evscreen.mqtt.topics import Topics
from evscreen.protocol import ACTIONS

log = logging.getLogger(__name__)

_MACHINE_ID_FILES = (Path("/etc/machine-id"), Path("/var/lib/dbus/machine-id"))
VEHICLE_ID_FILE = "vehicle-id"


@dataclass(frozen=True)
class BridgeOptions:
    config: MqttConfig
    vehicle_id: str
    client_id: str
    topics: Topics
    #: None means every action (``allowed_actions = ["*"]``).
    allowed_actions: frozenset[str] | None

    @classmethod
    def from_config(cls, config: MqttConfig) -> BridgeOptions:
        vehicle_id = config.vehicle_id or machine_vehicle_id()
        client_id = config.client_id or f"evscreen-{vehicle_id}"
        prefix = config.topic_prefix or f"evscreen/{vehicle_id}"
        return cls(config, vehicle_id, client_id, Topics(prefix), allowed_actions(config.allowed_actions))

    def connection_settings(self, client_id: str | None = None) -> ConnectionSettings:
        c = self.config
        return ConnectionSettings(
            host=c.broker, port=c.port, client_id=client_id or self.client_id, protocol=c.protocol,
            keepalive=c.keepalive, username=c.username, password=c.password, tls=c.tls, ca_cert=c.ca_cert,
            client_cert=c.client_cert, client_key=c.client_key, tls_insecure=c.tls_insecure,
            connect_timeout=c.connect_timeout,
        )


def allowed_actions(names: list[str]) -> frozenset[str] | None:
    """Check ``mqtt.allowed_actions``; raises ConfigError naming the key for an unknown action."""
    if "*" in names:
        return None
    unknown = [n for n in names if n not in ACTIONS]
    if unknown:
        raise ConfigError(
            f"mqtt.allowed_actions: unknown action {unknown[0]!r} (known: {', '.join(ACTIONS)}, or \"*\" for all)"
        )
    return frozenset(names)


def machine_vehicle_id() -> str:
    """A stable id for this machine: a hash of its machine id (or MAC), never the raw value.

    Tried in order: systemd's machine-id, Windows' MachineGuid, the MAC address of a network
    interface, and last a random id stored in the data directory on first use.
    """
    raw = _read_machine_id() or _windows_machine_guid() or _mac_address() or _stored_random_id()
    return hashlib.sha256(f"evscreen:{raw}".encode()).hexdigest()[:12]


def _read_machine_id() -> str | None:
    for path in _MACHINE_ID_FILES:
        try:
            text = path.read_text(encoding="ascii", errors="replace").strip()
        except OSError:
            continue
        if text:
            return text
    return None


def _windows_machine_guid() -> str | None:
    if sys.platform != "win32":
        return None
    try:
        import winreg

        with winreg.OpenKey(winreg.HKEY_LOCAL_MACHINE, r"SOFTWARE\Microsoft\Cryptography") as key:
            return str(winreg.QueryValueEx(key, "MachineGuid")[0])
    except OSError:
        return None


def _mac_address() -> str | None:
    node = uuid.getnode()
    if node >> 40 & 1:  # the multicast bit: uuid made a random number up, not a real MAC
        return None
    return f"{node:012x}"


def _stored_random_id() -> str:
    path = data_dir() / VEHICLE_ID_FILE
    try:
        text = path.read_text(encoding="ascii").strip()
        if text:
            return text
    except OSError:
        pass
    value = secrets.token_hex(16)
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(value + "\n", encoding="ascii")
    except OSError as exc:
        log.warning("cannot store a vehicle id in %s (%s); set mqtt.vehicle_id to keep topics stable", path, exc)
    return value
