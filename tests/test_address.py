"""host:port as URLs, logs and /healthz write it, IPv6 in brackets."""

from __future__ import annotations

import pytest

from evscreen.address import host_port
from evscreen.drivers.gpsd import GpsdFeed
from evscreen.mqtt.connection import ConnectionSettings


@pytest.mark.parametrize(("host", "port", "shown"), [
    ("127.0.0.1", 8765, "127.0.0.1:8765"),
    ("broker.example.net", 8883, "broker.example.net:8883"),
    ("::1", 2947, "[::1]:2947"),
    ("fe80::1%eth0", 1883, "[fe80::1%eth0]:1883"),
])
def test_host_port(host: str, port: int, shown: str) -> None:
    assert host_port(host, port) == shown


def test_every_place_that_names_an_address_brackets_ipv6() -> None:
    assert GpsdFeed("::1", 2947).describe() == "gpsd at [::1]:2947"
    assert ConnectionSettings(host="::1", port=8883, client_id="car1", tls=True).describe() == "mqtts://[::1]:8883"

