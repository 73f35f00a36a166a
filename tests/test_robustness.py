"""Hostile clients at a live server, and settings that survive SIGKILL at any moment."""

from __future__ import annotations

import json
import os
import random
import signal
import threading

from websockets.exceptions import ConnectionClosed
from websockets.sync.client import connect

from conftest import ServeProcess, free_port, recv_json, wait_for
from test_protocol import INVALID_VALUES, VALID
from test_server import BAD_INPUTS


def mutate(rng: random.Random, text: str) -> str | bytes:
    choice = rng.randrange(8)
    if choice == 0 and text:  # flip a character
        i = rng.randrange(len(text))
        return text[:i] + chr(rng.randrange(0x20, 0x2FF)) + text[i + 1:]
    if choice == 1:  # truncate
        return text[: rng.randrange(len(text) + 1)]
    if choice == 2:  # duplicate a slice
        i = rng.randrange(len(text) + 1)
        return text[:i] + text[i // 2:]
    if choice == 3:
        return bytes(rng.randrange(256) for _ in range(rng.randrange(1, 64)))
    if choice == 4:
        return json.dumps(rng.choice([None, 1, [], "x", {"action": None}, {"value": 5}]))
    if choice == 5:
        obj = json.loads(rng.choice(VALID_TEXTS))
        obj[rng.choice(["value", "volume", "device_address", "request_id"])] = rng.choice(
            [None, -1, 1e308, "🚗", [], {}, True, "x" * 200, 2**70])
        return json.dumps(obj)
    if choice == 6:
        return "\ud800".encode("utf-8", "surrogatepass").decode("utf-8", "replace") + text
    return rng.choice(BAD_TEXTS)


VALID_TEXTS = [json.dumps(m) for m, _ in VALID]
BAD_TEXTS = [raw for raw, _ in BAD_INPUTS] + [json.dumps(m) for m in INVALID_VALUES]


def test_fuzzing_clients_while_a_screen_keeps_receiving(live_server):
    server = live_server(**{"server.telemetry_interval": 0.05, "server.command_rate": 0.0})
    errors: list[str] = []
    stop = threading.Event()
    received: list[str] = []

    def screen(ws) -> None:
        while not stop.is_set():
            received.append(recv_json(ws, timeout=10)["type"])

    def ticks_and_screen(screen_client):
        return server.runtime.server.ticks, screen_client.sent, screen_client.dropped

    def fuzzer(seed: int) -> None:
        rng = random.Random(seed)
        try:
            with connect(server.url, max_size=None) as ws:
                recv_json(ws)
                n = 0
                # 600 messages each, and on until the fuzzing has lasted ten ticks.
                while n < 600 or not fuzzed_long_enough.is_set():
                    valid = rng.random() < 0.3
                    text = rng.choice(VALID_TEXTS) if valid else mutate(rng, rng.choice(VALID_TEXTS))
                    if valid:
                        text = json.dumps({**json.loads(text), "request_id": f"{seed}-{n}"})
                    ws.send(text)
                    while True:
                        message = json.loads(ws.recv(timeout=10))
                        if message["type"] == "response":
                            break
                    assert message["status"] in ("success", "error")
                    if valid:
                        # No unanswered valid command: each gets its own response.
                        assert message.get("request_id") == f"{seed}-{n}", message
                        if message["status"] == "error":
                            assert message["code"] == "unavailable", message  # connect_bluetooth in sim mode
                    n += 1
        except (AssertionError, ConnectionClosed, TimeoutError) as exc:
            errors.append(f"fuzzer {seed}: {exc!r}")
            fuzzed_long_enough.set()  # let the others end

    fuzzed_long_enough = threading.Event()
    with connect(server.url) as ws:
        recv_json(ws)
        screen_client = wait_for(lambda: server.client_of(ws), what="the screen registered")
        watcher = threading.Thread(target=screen, args=(ws,))
        watcher.start()
        try:
            ticks0, sent0, _ = server.on_loop(lambda: ticks_and_screen(screen_client))
            fuzzers = [threading.Thread(target=fuzzer, args=(seed,)) for seed in range(4)]
            for thread in fuzzers:
                thread.start()
            # The fuzzing goes on until the ticker has ticked ten times during it: a server that
            # stalled under hostile input would never get there (and the test would time out).
            wait_for(lambda: server.on_loop(lambda: server.runtime.server.ticks) >= ticks0 + 10 or errors,
                     timeout=100, what="ten ticks during the fuzzing")
            fuzzed_long_enough.set()
            for thread in fuzzers:
                thread.join(60)
            ticks1, sent1, dropped1 = server.on_loop(lambda: ticks_and_screen(screen_client))
            wait_for(lambda: len(received) >= sent1 - sent0, what="the screen reading every tick")
        finally:
            stop.set()
            watcher.join(15)
    assert not errors, errors
    # The screen got every tick of the fuzzing, and nothing but telemetry.
    assert ticks1 - ticks0 >= 10 and sent1 - sent0 == ticks1 - ticks0 and dropped1 == 0
    assert set(received) == {"telemetry"}
    # Afterwards the server still serves new clients normally.
    with connect(server.url) as ws:
        assert recv_json(ws)["type"] == "telemetry"
        ws.send('{"action": "set_drive_mode", "value": "eco"}')
        while (message := recv_json(ws))["type"] != "response":
            pass
        assert message["status"] == "success"


def landed(path):
    """What identifies the settings file on disk: each atomic save replaces it with a new inode."""
    try:
        st = os.stat(path)
    except FileNotFoundError:
        return None
    return st.st_ino, st.st_mtime_ns


def test_settings_survive_sigkill_at_any_moment(isolated_dirs):
    settings_file = isolated_dirs / "data" / "evscreen" / "settings.json"
    rng = random.Random(7)
    for round_ in range(6):
        port = free_port()
        before = landed(settings_file)
        server = ServeProcess(port, "--simulation", "on", "--log-level", "warning").start()
        done = threading.Event()
        sent = [0]

        def hammer(url: str, done: threading.Event, sent: list[int]) -> None:
            try:
                with connect(url) as ws:
                    i = 0
                    while not done.is_set():
                        ws.send(json.dumps({"action": "set_brightness", "value": i % 101}))
                        ws.send(json.dumps({"action": "set_drive_mode", "value": ["eco", "normal", "sport"][i % 3]}))
                        i += 1
                        sent[0] = i
            except (ConnectionClosed, OSError, TimeoutError):
                pass

        thread = threading.Thread(target=hammer, args=(server.url, done, sent))
        thread.start()
        # Wait for the evidence that this round's writes reach the disk (the file replaced: a new
        # inode), then kill at a moment set by events, not a clock: after a random number of
        # further commands, so that the kill falls anywhere in the store's write cycle.
        wait_for(lambda before=before: landed(settings_file) != before, timeout=30,
                 what=f"round {round_}: a settings write")
        target = sent[0] + rng.randrange(2000)
        wait_for(lambda sent=sent, target=target, thread=thread: sent[0] >= target or not thread.is_alive(),
                 what="the commands to be sent")
        server.proc.send_signal(signal.SIGKILL)
        server.proc.wait(10)
        done.set()
        thread.join(10)
        assert settings_file.exists(), f"round {round_}"
        saved = json.loads(settings_file.read_text())  # always complete, valid JSON
        assert 0 <= saved["brightness"] <= 100 and saved["drive_mode"] in ("eco", "normal", "sport")
        leftovers = [p.name for p in settings_file.parent.iterdir()
                     if p.name != "settings.json" and not p.name.startswith("journal.sqlite3")]
        assert all(name.startswith(".settings.json.") for name in leftovers)  # at most a torn temp file
    # And the server starts with them, clearing any temporary file a kill left behind.
    server = ServeProcess(free_port(), "--simulation", "on").start()
    with connect(server.url) as ws:
        assert recv_json(ws)["settings"]["brightness"] == saved["brightness"]
    server.stop()
    assert sorted(p.name for p in settings_file.parent.iterdir()
                  if not p.name.startswith("journal.sqlite3")) == ["settings.json"]  # the journal is its own store


def test_corrupt_settings_file_does_not_stop_the_server(isolated_dirs):
    settings_file = isolated_dirs / "data" / "evscreen" / "settings.json"
    settings_file.parent.mkdir(parents=True)
    settings_file.write_bytes(b'{"drive_mode": "sp\x00\xff')
    server = ServeProcess(free_port(), "--simulation", "on").start()
    try:
        with connect(server.url) as ws:
            assert recv_json(ws)["settings"]["drive_mode"] == "normal"
    finally:
        code, err = server.stop()
    assert code == 0 and "corrupt" in err and "moved aside" in err
    assert list(settings_file.parent.glob("settings.json.corrupt-*"))
