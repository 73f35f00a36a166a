"""A real Mosquitto broker for the MQTT tests, and real command-line clients to talk to it.

`mosquitto` runs with a generated config on free loopback ports (listeners bound to 127.0.0.1
only): anonymous or with a password file made by `mosquitto_passwd`, optionally with a TLS
listener whose certificates trustme generates, optionally persistent so that it can be stopped and
restarted on the same port with its sessions intact. `mosquitto_sub` / `mosquitto_pub` are the
independent clients that check what evscreen publishes and send it commands.

Loaded as a plugin by ``tests/conftest.py`` (a nested conftest.py would shadow the root one's
``import conftest``); test modules import the helpers (``Mosquitto``, ``mqtt_flags``...) from here.
"""

from __future__ import annotations

import os
import pwd
import queue
import signal
import subprocess
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from conftest import free_port, require_tool, wait_for, wait_for_port


@dataclass
class TlsFiles:
    ca: Path
    server_cert: Path
    server_key: Path
    client_cert: Path
    client_key: Path
    other_ca: Path  # a CA that signed nothing the broker uses


@pytest.fixture(scope="session")
def tls_files(tmp_path_factory: pytest.TempPathFactory) -> TlsFiles:
    import trustme

    d = tmp_path_factory.mktemp("tls")
    ca = trustme.CA()
    server = ca.issue_cert("127.0.0.1", "localhost")
    client = ca.issue_cert("evscreen-test-client")
    files = TlsFiles(d / "ca.pem", d / "server.pem", d / "server.key", d / "client.pem", d / "client.key",
                     d / "other-ca.pem")
    ca.cert_pem.write_to_path(str(files.ca))
    server.private_key_pem.write_to_path(str(files.server_key))
    server.cert_chain_pems[0].write_to_path(str(files.server_cert))
    client.private_key_pem.write_to_path(str(files.client_key))
    client.cert_chain_pems[0].write_to_path(str(files.client_cert))
    trustme.CA().cert_pem.write_to_path(str(files.other_ca))
    return files


class Mosquitto:
    """One mosquitto process with a generated config; can be stopped and started again on its ports."""

    def __init__(self, workdir: Path, *, users: dict[str, str] | None = None, tls: TlsFiles | None = None,
                 require_certificate: bool = False, persistence: bool = False, acl: str | None = None) -> None:
        self.workdir = workdir
        self.port = free_port()
        self.tls_port = free_port() if tls is not None else None
        self.users = users
        self.tls = tls
        self.proc: subprocess.Popen[bytes] | None = None
        self.log = workdir / "mosquitto.log"
        lines = [f"user {pwd.getpwuid(os.getuid()).pw_name}", "per_listener_settings false",
                 f"log_dest file {self.log}", "log_type all"]
        if persistence:
            (workdir / "persist").mkdir(exist_ok=True)
            lines += ["persistence true", f"persistence_location {workdir / 'persist'}/", "autosave_interval 1"]
        if users is not None:
            pw = workdir / "passwd"
            for i, (user, password) in enumerate(users.items()):
                args = [require_tool("mosquitto_passwd", apt="mosquitto"), "-b", str(pw), user, password]
                if i == 0:
                    args.insert(1, "-c")
                subprocess.run(args, check=True, capture_output=True)
            lines += ["allow_anonymous false", f"password_file {pw}"]
        else:
            lines.append("allow_anonymous true")
        if acl is not None:
            (workdir / "acl").write_text(acl)
            lines.append(f"acl_file {workdir / 'acl'}")
        lines.append(f"listener {self.port} 127.0.0.1")
        if tls is not None:
            lines += [f"listener {self.tls_port} 127.0.0.1", f"cafile {tls.ca}", f"certfile {tls.server_cert}",
                      f"keyfile {tls.server_key}", f"require_certificate {'true' if require_certificate else 'false'}"]
        self.conf = workdir / "mosquitto.conf"
        self.conf.write_text("\n".join(lines) + "\n")

    def start(self) -> Mosquitto:
        mosquitto = require_tool("mosquitto", apt="mosquitto")
        require_tool("mosquitto_sub", apt="mosquitto-clients")  # the tests' consumers and publishers
        self.proc = subprocess.Popen([mosquitto, "-c", str(self.conf)], stdout=subprocess.DEVNULL,
                                     stderr=subprocess.PIPE)
        for port in (self.port, self.tls_port):
            if port is not None:
                wait_for_port(port, proc=self.proc)
        return self

    def stop(self) -> None:
        """A clean stop (SIGTERM): mosquitto saves its persistent sessions."""
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self.proc = None

    def client_args(self, user: str | None = None, password: str | None = None) -> list[str]:
        args = ["-h", "127.0.0.1", "-p", str(self.port)]
        if user is not None:
            args += ["-u", user, "-P", password or ""]
        return args

    def publish(self, topic: str, payload: bytes | str, *args: str, user: str | None = None,
                password: str | None = None) -> None:
        data = payload.encode() if isinstance(payload, str) else payload
        subprocess.run(["mosquitto_pub", *self.client_args(user, password), "-q", "1", "-t", topic, "-s", *args],
                       input=data, check=True, capture_output=True, timeout=30)

    def subscribe(self, *topics: str, client_id: str | None = None, user: str | None = None,
                  password: str | None = None) -> Subscriber:
        return Subscriber(self, topics, client_id, user, password)


class Subscriber:
    """A running `mosquitto_sub -v`, its lines collected in the background.

    With ``client_id`` it keeps a persistent session (``-c``), so it gets what was published while
    the broker was restarting (mosquitto_sub reconnects on its own)."""

    def __init__(self, broker: Mosquitto, topics: tuple[str, ...], client_id: str | None, user: str | None,
                 password: str | None) -> None:
        args = ["mosquitto_sub", *broker.client_args(user, password), "-v", "-q", "1"]
        if client_id is not None:
            args += ["-c", "-i", client_id]
        for t in topics:
            args += ["-t", t]
        self.proc = subprocess.Popen(args, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        self.messages: list[tuple[str, bytes]] = []
        self._queue: queue.Queue[tuple[str, bytes]] = queue.Queue()
        threading.Thread(target=self._read, daemon=True).start()

    def _read(self) -> None:
        assert self.proc.stdout is not None
        for line in self.proc.stdout:
            topic, _, payload = line.rstrip(b"\n").partition(b" ")
            self._queue.put((topic.decode(), payload))

    def _drain(self, timeout: float) -> bool:
        try:
            self.messages.append(self._queue.get(timeout=timeout))
        except queue.Empty:
            return False
        while True:
            try:
                self.messages.append(self._queue.get_nowait())
            except queue.Empty:
                return True

    def wait_for(self, predicate: Callable[[list[tuple[str, bytes]]], Any], timeout: float = 30.0) -> Any:
        """Collect messages until ``predicate(all messages so far)`` is truthy; return its value."""
        deadline = time.monotonic() + timeout
        while True:
            result = predicate(self.messages)
            if result:
                return result
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise AssertionError(f"no matching messages within {timeout} s; got {self.messages[-5:]}")
            self._drain(min(remaining, 0.2))

    def payloads(self, topic: str) -> list[bytes]:
        return [p for t, p in self.messages if t == topic]

    def close(self) -> None:
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(5)
            except subprocess.TimeoutExpired:
                self.proc.kill()


@pytest.fixture
def broker_factory(tmp_path: Path) -> Iterator[Callable[..., Mosquitto]]:
    """Start mosquitto brokers with the given options; all are stopped at teardown."""
    started: list[Mosquitto] = []

    def start(**options: Any) -> Mosquitto:
        workdir = tmp_path / f"broker{len(started)}"
        workdir.mkdir()
        broker = Mosquitto(workdir, **options).start()
        started.append(broker)
        return broker

    yield start
    for broker in started:
        broker.stop()


@pytest.fixture
def broker(broker_factory: Callable[..., Mosquitto]) -> Mosquitto:
    """An anonymous broker on a free loopback port."""
    return broker_factory()


@pytest.fixture
def subscribers() -> Iterator[Callable[..., Subscriber]]:
    """Factory for mosquitto_sub processes that are closed at teardown."""
    running: list[Subscriber] = []

    def start(broker: Mosquitto, *topics: str, **kwargs: Any) -> Subscriber:
        sub = broker.subscribe(*topics, **kwargs)
        running.append(sub)
        return sub

    yield start
    for sub in running:
        sub.close()


def mqtt_flags(broker: Mosquitto, vehicle: str = "car1", **extra: Any) -> dict[str, Any]:
    """Config flags for a bridge on ``broker`` with short intervals (keys as in ``section.key``)."""
    flags: dict[str, Any] = {
        "mqtt.enabled": True,
        "mqtt.broker": "127.0.0.1",
        "mqtt.port": broker.port,
        "mqtt.vehicle_id": vehicle,
        "mqtt.publish_interval": 0.1,
        "mqtt.reconnect_min_delay": 0.05,
        "mqtt.reconnect_max_delay": 0.2,
        "mqtt.connect_timeout": 3.0,
    }
    flags.update({k if "." in k else f"mqtt.{k}": v for k, v in extra.items()})
    return flags


#: The MQTT tests' name for conftest's one polling helper.
wait_until = wait_for
