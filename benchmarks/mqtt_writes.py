"""Disk writes of `evscreen serve` mirroring to a reachable MQTT broker: what the SD card endures.

    python benchmarks/mqtt_writes.py [--seconds 60] [--outage 30] [--interval 1.0] [--src OTHER_CHECKOUT/src]

Starts a real mosquitto on a free loopback port and two `evscreen serve --simulation on` side by
side over the same window: one with MQTT on (telemetry every ``--interval`` s, QoS 1, the broker
acknowledging), and one without MQTT, the baseline: what the process writes anyway. Reads
``write_bytes`` from ``/proc/<pid>/io`` (bytes the process caused to be written to storage) after a
warm-up (the first telemetry messages delivered) and at the end, and prints KiB per minute. Then
(``--outage``) it stops the broker and measures the same during the outage, when telemetry must
go to disk.
``--src`` runs the evscreen found there instead (e.g. an older commit unpacked with ``git archive``),
for a before/after comparison with the same script.

The data directory must be on a real disk (ext4...), not tmpfs, or every figure is 0: it is made
in the system's temporary directory unless ``--dir`` says otherwise. Linux only (/proc).
"""

from __future__ import annotations

import argparse
import json
import os
import pwd
import shutil
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request
from pathlib import Path

sys.path.insert(0, os.path.dirname(__file__))
from benchlib import figure, free_port, wait_for_port

#: The budget docs/performance.md and the issue set: a consumer SD card lasts years below it.
BUDGET_KIB_PER_MIN = 15.0


def write_bytes(pid: int) -> int:
    for line in Path(f"/proc/{pid}/io").read_text().splitlines():
        if line.startswith("write_bytes:"):
            return int(line.split()[1])
    raise RuntimeError("no write_bytes in /proc/<pid>/io")


def messages_written(port: int) -> int | None:
    """``outbox_written`` from the server's /healthz: telemetry that had to go to disk (None: an
    evscreen that does not report it)."""
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/healthz", timeout=10) as response:
        return json.load(response).get("mqtt", {}).get("outbox_written")


def filesystem_type(path: Path) -> str:
    """The type of the file system ``path`` is on (the longest matching mount point)."""
    best, kind = "", "?"
    for line in Path("/proc/mounts").read_text().splitlines():
        fields = line.split()
        mount = fields[1]
        if str(path).startswith(mount) and len(mount) > len(best):
            best, kind = mount, fields[2]
    return kind


def start_mosquitto(workdir: Path) -> tuple[subprocess.Popen[bytes], int]:
    if shutil.which("mosquitto") is None:
        sys.exit("mosquitto is not installed (apt-get install mosquitto mosquitto-clients)")
    port = free_port()
    conf = workdir / "mosquitto.conf"
    conf.write_text(f"user {pwd.getpwuid(os.getuid()).pw_name}\nlistener {port} 127.0.0.1\n"
                    "allow_anonymous true\npersistence false\n")
    proc = subprocess.Popen(["mosquitto", "-c", str(conf)], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    wait_for_port(port)
    return proc, port


def start_serve(home: Path, env_extra: dict[str, str], src: str | None) -> tuple[subprocess.Popen[bytes], int]:
    port = free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith("EVSCREEN_")}
    env.update({"XDG_DATA_HOME": str(home / "data"), "XDG_CONFIG_HOME": str(home / "config"),
                "XDG_STATE_HOME": str(home / "state"), "XDG_CACHE_HOME": str(home / "cache"), **env_extra})
    if src:
        env["PYTHONPATH"] = src + os.pathsep + env.get("PYTHONPATH", "")
    proc = subprocess.Popen([sys.executable, "-m", "evscreen", "serve", "--port", str(port), "--simulation", "on",
                             "--log-level", "warning"], env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    wait_for_port(port)
    return proc, port


class TelemetryCounter:
    """A `mosquitto_sub` on the telemetry topic, counting the messages it receives."""

    def __init__(self, port: int, topic: str) -> None:
        self.proc = subprocess.Popen(["mosquitto_sub", "-h", "127.0.0.1", "-p", str(port), "-q", "1", "-t", topic],
                                     stdout=subprocess.PIPE, stderr=subprocess.DEVNULL)
        self.count = 0
        self.changed = threading.Condition()
        threading.Thread(target=self._read, daemon=True).start()

    def _read(self) -> None:
        assert self.proc.stdout is not None
        for _ in self.proc.stdout:
            with self.changed:
                self.count += 1
                self.changed.notify_all()

    def wait_for(self, n: int, timeout: float) -> None:
        with self.changed:
            if not self.changed.wait_for(lambda: self.count >= n, timeout):
                raise SystemExit(f"only {self.count} telemetry message(s) arrived within {timeout:g} s; is MQTT working?")

    def close(self) -> None:
        self.proc.terminate()
        self.proc.wait(5)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--seconds", type=float, default=60.0, help="measuring window (default 60)")
    parser.add_argument("--interval", type=float, default=1.0, help="MQTT publish_interval (default 1.0)")
    parser.add_argument("--outage", type=float, default=30.0,
                        help="then stop the broker and measure this many seconds of outage (default 30; 0: skip)")
    parser.add_argument("--warmup", type=int, default=3, help="telemetry messages delivered before measuring (default 3)")
    parser.add_argument("--src", help="run the evscreen package found in this directory (PYTHONPATH) instead")
    parser.add_argument("--dir", help="where to make the data directories (default: the temporary directory)")
    args = parser.parse_args()

    with tempfile.TemporaryDirectory(dir=args.dir) as tmp:
        root = Path(tmp)
        fs = filesystem_type(root)
        if fs in ("tmpfs", "ramfs"):
            sys.exit(f"{root} is on {fs}: nothing written there reaches a disk; pass --dir on a real disk")
        broker, broker_port = start_mosquitto(root)
        procs: list[subprocess.Popen[bytes]] = [broker]
        outage_rate: float | None = None
        counter: TelemetryCounter | None = None
        try:
            counter = TelemetryCounter(broker_port, "evscreen/bench/telemetry")
            mqtt_env = {"EVSCREEN_MQTT__ENABLED": "true", "EVSCREEN_MQTT__BROKER": "127.0.0.1",
                        "EVSCREEN_MQTT__PORT": str(broker_port), "EVSCREEN_MQTT__VEHICLE_ID": "bench",
                        "EVSCREEN_MQTT__PUBLISH_INTERVAL": str(args.interval)}
            with_mqtt, mqtt_port = start_serve(root / "with-mqtt", mqtt_env, args.src)
            started = time.monotonic()
            procs.append(with_mqtt)
            without, _ = start_serve(root / "without-mqtt", {}, args.src)
            procs.append(without)
            counter.wait_for(args.warmup, timeout=30 + args.warmup * args.interval * 3)
            first = counter.count
            written_before = messages_written(mqtt_port)
            before = {p.pid: write_bytes(p.pid) for p in (with_mqtt, without)}
            start = time.monotonic()
            time.sleep(args.seconds)
            elapsed = time.monotonic() - start
            after = {p.pid: write_bytes(p.pid) for p in (with_mqtt, without)}
            delivered = counter.count - first
            written_after = messages_written(mqtt_port)
            since_start = after[with_mqtt.pid] * 60.0 / (time.monotonic() - started) / 1024
            if args.outage > 0:
                broker.terminate()
                broker.wait(10)
                time.sleep(min(5.0, args.outage / 4))  # the bridge notices and writes what was waiting
                down = write_bytes(with_mqtt.pid)
                down_start = time.monotonic()
                time.sleep(args.outage)
                outage_rate = (write_bytes(with_mqtt.pid) - down) * 60.0 / (time.monotonic() - down_start) / 1024
            for p in (with_mqtt, without):
                if p.poll() is not None:
                    raise SystemExit(f"evscreen serve exited early with {p.returncode}")
        finally:
            for p in reversed(procs):
                if p.poll() is None:
                    p.terminate()
                    try:
                        p.wait(15)
                    except subprocess.TimeoutExpired:
                        p.kill()
            if counter is not None:
                counter.close()

    per_min = {pid: (after[pid] - before[pid]) * 60.0 / elapsed / 1024 for pid in after}
    mqtt_rate, floor = per_min[with_mqtt.pid], per_min[without.pid]
    print(f"{elapsed:.0f} s on {fs}, telemetry every {args.interval:g} s, {delivered} message(s) delivered "
          f"({delivered * 60.0 / elapsed:.1f}/min)" + (f", evscreen from {args.src}" if args.src else ""))
    print(f"serve with MQTT:    {mqtt_rate:10.1f} KiB/min written ({(after[with_mqtt.pid] - before[with_mqtt.pid]):,} bytes)")
    if written_before is not None and written_after is not None:
        print(f"  telemetry messages that went to disk (not acknowledged within seconds): "
              f"{written_after - written_before}")
    print(f"serve without MQTT: {floor:10.1f} KiB/min written ({(after[without.pid] - before[without.pid]):,} bytes)")
    print(f"serve with MQTT, counted from its start (a first run creates the DBC cache and the outbox): "
          f"{since_start:.1f} KiB/min")
    if outage_rate is not None:
        print(f"serve with MQTT during a {args.outage:g} s broker outage: {outage_rate:.1f} KiB/min written")
    figure(f"disk writes: serve + MQTT, broker up, {60 / args.interval:g} msg/min (`mqtt_writes.py`)", mqtt_rate,
           "KiB/min", baseline=floor, baseline_name="serve without MQTT", higher_is_better=False,
           target=f"<= {BUDGET_KIB_PER_MIN:g} KiB/min", met=mqtt_rate <= BUDGET_KIB_PER_MIN)
    if outage_rate is not None:
        figure(f"disk writes: serve + MQTT during a broker outage, {60 / args.interval:g} msg/min", outage_rate,
               "KiB/min")


if __name__ == "__main__":
    main()
