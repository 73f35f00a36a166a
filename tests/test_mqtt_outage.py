"""Store and forward: a broker outage, and evscreen restarting (or dying) during one, lose no telemetry.

The consumer is a persistent `mosquitto_sub` session (``-c``) on a broker with persistence on, as a
fleet backend would run it, so it also gets what was delivered while it was reconnecting.
"""

from __future__ import annotations

import json
import signal
import sqlite3
import threading
import time
from typing import Any

import paho.mqtt.client as paho
import pytest
from paho.mqtt.enums import CallbackAPIVersion
from websockets.sync.client import connect

from conftest import recv_until
from evscreen.config import data_dir
from evscreen.mqtt.bridge import OUTBOX_FILE
from evscreen.mqtt.outbox_store import OutboxStore
from mqtt_broker import Mosquitto, Subscriber, mqtt_flags, wait_until

PREFIX = "evscreen/car1"
TELEMETRY = f"{PREFIX}/telemetry"


def subscribed_consumer(broker: Mosquitto, subscribers: Any) -> Subscriber:
    """A persistent consumer of the telemetry, returned once its subscription is in place."""
    broker.publish("test/ready", "1", "-r")
    sub = subscribers(broker, TELEMETRY, "test/ready", client_id="fleet-backend")
    sub.wait_for(lambda m: ("test/ready", b"1") in m)
    return sub


def received(sub: Subscriber) -> list[dict[str, Any]]:
    return [json.loads(p) for p in sub.payloads(TELEMETRY)]


def assert_complete_and_in_order(messages: list[dict[str, Any]], upto: int) -> None:
    """Every seq from 1 to ``upto`` arrived, each new one right after the one before it.

    Delivery is at least once: a message whose acknowledgement was lost in the outage comes
    again, so a seq seen before may repeat, with the very same content (a seq is never reused).
    """
    first_copy: dict[int, dict[str, Any]] = {}
    expected = 1
    for m in messages:
        seq = m["seq"]
        if seq in first_copy:
            assert m == first_copy[seq], f"seq {seq} reused for a different message"
            continue
        assert seq == expected, f"got seq {seq} where {expected} was due"
        first_copy[seq] = m
        expected += 1
    assert expected - 1 >= upto, f"received up to {expected - 1}, expected at least {upto}"


def max_seq(sub: Subscriber) -> int:
    return max((m["seq"] for m in received(sub)), default=0)


def test_broker_outage_loses_nothing_and_keeps_order(broker_factory: Any, subscribers: Any,
                                                     live_server: Any) -> None:
    broker = broker_factory(persistence=True)
    sub = subscribed_consumer(broker, subscribers)
    rt = live_server(**mqtt_flags(broker, publish_interval=0.05))
    bridge = rt.runtime.mqtt
    sub.wait_for(lambda m: max_seq(sub) >= 5)

    broker.stop()
    wait_until(lambda: not bridge.connected, what="the bridge to notice the outage")
    queued_from = bridge.outbox.last_seq
    wait_until(lambda: bridge.outbox.last_seq >= queued_from + 15, what="telemetry queued during the outage")
    assert bridge.outbox_size >= 15  # kept (in memory, then on disk) while the broker is away
    with connect(rt.url) as ws:  # and the screen is served as ever
        recv_until(ws, lambda m: m.get("type") == "telemetry")

    broker.start()  # same port, same persistent sessions
    wait_until(lambda: bridge.connected, what="the bridge to reconnect")
    target = bridge.outbox.last_seq + 5  # the backlog and some live messages after it
    sub.wait_for(lambda m: max_seq(sub) >= target, timeout=20)
    assert_complete_and_in_order(received(sub), target)


def _outbox_files() -> dict[str, tuple[int, int]]:
    """Size and modification time of the outbox database and its WAL: unchanged means not written."""
    out = {}
    for path in data_dir().glob(f"{OUTBOX_FILE}*"):
        st = path.stat()
        out[path.name] = (st.st_size, st.st_mtime_ns)
    return out


def test_with_the_broker_up_telemetry_never_touches_the_disk(broker_factory: Any, subscribers: Any,
                                                             live_server: Any) -> None:
    """An SD card lasts only if it is left alone: acknowledged telemetry is never written."""
    broker = broker_factory()
    sub = subscribed_consumer(broker, subscribers)
    rt = live_server(**mqtt_flags(broker, publish_interval=0.05))
    bridge = rt.runtime.mqtt
    # This test is about what reaches the disk, not about how fast a loaded machine acknowledges:
    # give acknowledgements all the time they could need before a spill.
    bridge.outbox.spill_after = 600.0
    sub.wait_for(lambda m: max_seq(sub) >= 5)
    before = _outbox_files()
    assert before, "the outbox database exists (it is created at start)"
    target = max_seq(sub) + 40
    sub.wait_for(lambda m: max_seq(sub) >= target)
    assert _outbox_files() == before
    assert bridge.outbox.store.size == 0 and bridge.health()["outbox_written"] == 0
    assert_complete_and_in_order(received(sub), target)


def _serve_env(broker: Mosquitto) -> dict[str, str]:
    flags = mqtt_flags(broker, publish_interval=0.05)
    return {f"EVSCREEN_{k.replace('.', '__').upper()}": str(v).lower() if isinstance(v, bool) else str(v)
            for k, v in flags.items()}


def _outbox_last_seq() -> int:
    db = sqlite3.connect(data_dir() / OUTBOX_FILE)
    try:
        row = db.execute("SELECT value FROM meta WHERE key = 'last_seq'").fetchone()
        return int(row[0]) if row else 0
    except sqlite3.OperationalError:  # not created yet
        return 0
    finally:
        db.close()


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGKILL], ids=["stopped", "killed"])
def test_evscreen_restarted_during_an_outage_loses_nothing(
        broker_factory: Any, subscribers: Any, serve_process: Any, sig: signal.Signals) -> None:
    broker = broker_factory(persistence=True)
    sub = subscribed_consumer(broker, subscribers)
    env = _serve_env(broker)
    first = serve_process("--simulation", "on", env=env)
    sub.wait_for(lambda m: max_seq(sub) >= 5)

    broker.stop()
    stored = _outbox_last_seq()
    wait_until(lambda: _outbox_last_seq() >= stored + 10, what="telemetry stored during the outage")
    # SIGKILL is as good as a power cut for evscreen: no chance to flush or close anything.
    first.proc.send_signal(sig)
    assert first.proc.wait(10) == (0 if sig == signal.SIGTERM else -signal.SIGKILL)
    killed_at = _outbox_last_seq()

    second = serve_process("--simulation", "on", env=env)
    wait_until(lambda: _outbox_last_seq() >= killed_at + 10, what="the restarted evscreen to add telemetry")
    broker.start()
    target = _outbox_last_seq() + 5
    sub.wait_for(lambda m: max_seq(sub) >= target, timeout=20)
    assert_complete_and_in_order(received(sub), target)
    code, err = second.stop()
    assert code == 0, err


@pytest.mark.parametrize("protocol", ["3.1.1", "5"])
def test_live_messages_are_not_starved_by_a_backlog(broker_factory: Any, subscribers: Any,
                                                    live_server: Any, protocol: str) -> None:
    """A response to a command overtakes a long backlog: the backlog has a small window in flight
    (with MQTT 5, within the broker's Receive Maximum: mosquitto allows 20)."""
    backlog = 1500
    box = OutboxStore(data_dir() / OUTBOX_FILE, 100_000, 3600.0)
    box.open()
    box.store([(i, time.time(), json.dumps({"type": "telemetry", "backlog": i, "seq": i}).encode())
               for i in range(1, backlog + 1)])
    box.close()

    broker = broker_factory()
    order: list[str] = []
    first_telemetry = threading.Event()
    client = paho.Client(CallbackAPIVersion.VERSION2, client_id="test-consumer")

    def on_message(c: Any, userdata: Any, msg: Any) -> None:
        if msg.topic == TELEMETRY:
            seq = json.loads(msg.payload)["seq"]
            order.append(f"telemetry {seq}")
            if not first_telemetry.is_set():
                first_telemetry.set()
                c.publish(f"{PREFIX}/command", b'{"action": "set_drive_mode", "value": "sport"}', qos=1)
        else:
            order.append("response")

    subscribed = threading.Event()
    client.on_message = on_message
    client.on_subscribe = lambda *args: subscribed.set()
    client.connect("127.0.0.1", broker.port)
    client.subscribe([(TELEMETRY, 1), (f"{PREFIX}/response", 1)])
    client.loop_start()
    try:
        assert subscribed.wait(10)
        rt = live_server(**mqtt_flags(broker, publish_interval=1.0, protocol=protocol))
        wait_until(lambda: "response" in order, what="the command's response", timeout=20)
        assert rt.runtime.settings.get("drive_mode") == "sport"
        wait_until(lambda: f"telemetry {backlog}" in order, what="the whole backlog", timeout=30)
    finally:
        client.loop_stop()
        client.disconnect()
    assert order.index("response") < order.index(f"telemetry {backlog}")
    seqs = [int(x.split()[1]) for x in order if x.startswith("telemetry")]
    assert seqs[:backlog] == list(range(1, backlog + 1))  # the backlog itself in order
