"""``evscreen serve``: wire sources, state, settings, dispatcher and sinks together and run them."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import signal
import sys
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from evscreen import __version__
from evscreen.address import host_port
from evscreen.config import LoadedConfig, data_dir, secrets_readable_by_others
from evscreen.dispatch import Dispatcher
from evscreen.drivers.base import Source
from evscreen.drivers.registry import chosen_sources, load_source_class, simulated_bus_config, simulating
from evscreen.errors import EvscreenError, SourceUnavailable
from evscreen.host.info import board_model, describe_platform, is_raspberry_pi
from evscreen.host.sd_notify import Notifier
from evscreen.server import viss, web
from evscreen.server.access import check_bind, resolve_token
from evscreen.server.web.journal_api import journal_routes
from evscreen.server.websocket import TelemetryServer
from evscreen.settings import SettingsStore
from evscreen.state import VehicleState

if TYPE_CHECKING:
    from evscreen.config import Config
    from evscreen.journal.sink import JournalSink
    from evscreen.mqtt import MqttBridge

log = logging.getLogger(__name__)

SETTINGS_FILE = "settings.json"


@dataclass
class Runtime:
    """Everything a running server is made of; tests and benchmarks build one in-process."""

    loaded: LoadedConfig
    state: VehicleState
    settings: SettingsStore
    sources: list[Source]
    dispatcher: Dispatcher
    server: TelemetryServer
    tasks: list[asyncio.Task[Any]] = field(default_factory=list)
    mqtt: MqttBridge | None = None  # when [mqtt] enabled = true
    journal: JournalSink | None = None  # when [journal] enabled = true
    viss: Any = None  # the VISS endpoint when [viss] enabled = true

    @property
    def url(self) -> str:
        return f"{self.server.scheme}://{host_port(self.loaded.config.server.host, self.server.port)}"

    async def start(self) -> None:
        if self.journal is not None:
            # Before the port opens: once it is, clients (and tests) may take the server as up.
            await self.journal.start()
        await self.server.start()
        for source in self.sources:  # each under the supervisor (drivers/supervisor.py)
            self.tasks.append(asyncio.create_task(source.run(), name=f"source-{source.name}"))
        if self.mqtt is not None:
            await self.mqtt.start()  # returns at once; the broker is reached in the background

    async def stop(self) -> None:
        if self.mqtt is not None:
            try:
                await self.mqtt.stop()
            except Exception:
                log.exception("stopping the MQTT bridge failed")
        await self.server.stop()
        if self.journal is not None:
            try:
                await self.journal.stop()
            except Exception:
                log.exception("stopping the journal failed")
        await asyncio.get_running_loop().run_in_executor(None, self.settings.flush)
        for task in self.tasks:
            task.cancel()  # a cancelled source closes itself (the supervisor's last step)
        await asyncio.gather(*self.tasks, return_exceptions=True)


def build_runtime(loaded: LoadedConfig, *, on_pi: bool | None = None) -> Runtime:
    config = loaded.config
    token = resolve_token(config.server)
    insecure = check_bind(config.server, token)
    if insecure:
        log.warning("%s", insecure)
    if secrets_readable_by_others(loaded):
        log.warning("config file %s holds secrets and other users can read it; chmod 600 it", loaded.path)
    on_pi = is_raspberry_pi() if on_pi is None else on_pi
    state = VehicleState()
    settings = SettingsStore(data_dir() / SETTINGS_FILE)
    sources: list[Source] = []
    sim = simulating(config, on_pi)
    # Simulated mode: the car's frames cross a virtual bus of its own to the ordinary CAN source;
    # both see [can] pointing there (the user's [can] section is for the real car), and both
    # report themselves simulated.
    source_config = simulated_bus_config(config) if sim else config
    extra: dict[str, Any] = {"simulated": True} if sim else {}
    for name in chosen_sources(config, on_pi):
        try:
            sources.append(load_source_class(name)(source_config, state, **extra))
        except SourceUnavailable as exc:
            # Real hardware never falls back to simulated data: the source is reported offline.
            log.error("%s", exc)
            state.register_source(name, simulated=False)
            state.set_online(name, False, str(exc))
    media = next((s.media for s in sources if s.media is not None), None)
    bluetooth = next((s.bluetooth for s in sources if s.bluetooth is not None), None)
    dispatcher = Dispatcher(settings, media, bluetooth)
    for source in sources:
        for name, value in settings.values.items():
            source.on_setting(name, value)
        settings.subscribe(source.on_setting)
    server = TelemetryServer(config.server, state, settings, dispatcher, token)
    mqtt: MqttBridge | None = None
    if config.mqtt.enabled:
        from evscreen.mqtt import MqttBridge

        mqtt = MqttBridge(config.mqtt, state, settings, dispatcher)
    journal = _journal(source_config, state, settings, sources, sim)
    if journal is not None and mqtt is not None:
        journal.on_closed.append(mqtt.publish_record)
    runtime = Runtime(loaded, state, settings, sources, dispatcher, server, mqtt=mqtt, journal=journal)
    web.install(runtime)  # the dashboard (/) and /healthz on the same port
    # /api/trips, /api/charges (+ .csv); with the journal off they say so.
    runtime.server.http_routes.update(journal_routes(runtime))
    if config.viss.enabled:
        runtime.viss = viss.install(runtime)  # VISS v2 at /viss on the same port
    return runtime


def _journal(config: Config, state: VehicleState, settings: SettingsStore, sources: list[Source],
             sim: bool) -> JournalSink | None:
    """The journal sink; on the simulated car's clock when simulating, so its history has real durations."""
    if not config.journal.enabled:
        return None
    import time

    from evscreen.journal.sink import JournalSink
    from evscreen.journal.store import JOURNAL_FILE

    clock = next((s.vehicle_clock for s in sources if s.vehicle_clock is not None), None)
    interval = 1.0
    if sim and clock is not None:
        # One sample per few simulated seconds at most, however fast the simulation runs.
        interval = max(0.02, min(1.0, 1.0 / config.simulation.speed))
    return JournalSink(state, settings, data_dir() / JOURNAL_FILE, checkpoint_seconds=config.journal.checkpoint_seconds,
                       sample_interval=interval, clock=clock or time.time, clock_is_wall=clock is None,
                       rated_capacity_kwh=_usable_capacity(config))


def _usable_capacity(config: Config) -> float | None:
    """The car's usable battery energy as its vehicle profile states it (the predictions start from
    it until the journal has learned the real figure); None without a CAN source or a profile."""
    if not config.can.enabled:
        return None
    from evscreen.vehicles.loader import can_decoding

    try:
        profile = can_decoding(config).profile
    except EvscreenError:
        return None  # the CAN source reports the same error itself, once
    return profile.usable_capacity_kwh if profile is not None else None


def banner(runtime: Runtime) -> list[str]:
    config = runtime.loaded.config
    on_pi = is_raspberry_pi()
    sim = simulating(config, on_pi)
    lines = [
        f"evscreen {__version__} on {describe_platform()}",
        f"board: {board_model() or 'not a Raspberry Pi'}; simulation.mode = {config.simulation.mode}"
        f" -> {'simulated vehicle' if sim else 'real hardware'}",
        f"config: {runtime.loaded.path}{'' if runtime.loaded.file_found else ' (not found, defaults used)'}",
        f"settings: {runtime.settings.path}",
    ]
    if runtime.sources:
        lines += [f"source {s.describe()}" for s in runtime.sources]
        lines += [recorder.describe() for s in runtime.sources if (recorder := getattr(s, "recorder", None))]
    else:
        lines.append("no sources enabled: telemetry values stay null (enable [can], [gps]... or simulation.mode = on)")
    auth = "token required" if runtime.server.token else "no token (loopback only)"
    if runtime.server.token is None and config.server.insecure_no_auth:
        auth = "NO AUTHENTICATION"
    lines.append(f"serving telemetry every {config.server.telemetry_interval:g} s on {runtime.url}; {auth}")
    if runtime.mqtt is not None:
        lines.append(runtime.mqtt.describe())
    if runtime.journal is not None:
        lines.append(runtime.journal.describe())
    page = runtime.url.replace("ws", "http", 1) + "/"
    lines.append(f"dashboard: {page}" + ("?token=TOKEN" if runtime.server.token else "") + f", health: {page}healthz")
    if runtime.viss is not None:
        lines.append(f"VISS v2 (COVESA VSS names): {runtime.url}/viss, subprotocol VISSv2")
    return lines


#: Seconds between full garbage collections (see _collect_garbage).
GC_INTERVAL_S = 60.0


async def _collect_garbage() -> None:
    """A full collection once a minute, from the loop itself (a few ms on this small heap).

    Closed connections leave reference cycles (exceptions holding frames, tasks); CPython collects
    its oldest generation only after it has grown by a quarter, so left alone those cycles pile up
    for a long time and fragment the heap, which shows as resident memory creeping up for days.
    """
    import gc

    gc.freeze()  # what start-up built lives forever: keep it out of every later collection
    while True:
        await asyncio.sleep(GC_INTERVAL_S)
        gc.collect()


def status_line(runtime: Runtime) -> str:
    """The short summary systemd shows in `systemctl status`."""
    sources = ", ".join(f"{name} {info['state']}" for name, info in runtime.state.describe_sources().items())
    return f"{len(runtime.server.clients)} screens on {runtime.url}; sources: {sources or 'none'}"


async def serve_forever(loaded: LoadedConfig) -> None:
    """Run the server until SIGINT/SIGTERM (Ctrl-C or Ctrl-Break on Windows)."""
    stop = asyncio.Event()
    # The handlers go in before anything starts: a SIGTERM during start-up (systemd stopping a
    # service that is still starting, a test that stops the server as soon as it listens) must be
    # a clean stop with exit 0, not the default action that kills the process mid-start. It then
    # ends the wait below at once. Kept during shutdown: a second SIGTERM must not cut the flush short.
    with _stop_on_signals(stop):
        runtime = build_runtime(loaded)
        try:
            await runtime.start()
        except OSError as exc:
            where = host_port(loaded.config.server.host, loaded.config.server.port)
            raise EvscreenError(
                f"cannot listen on {where}: {exc.strerror or exc}"
                " (is another evscreen running? choose another port with --port)"
            ) from None
        for line in banner(runtime):
            log.info("%s", line)
        notifier = Notifier()
        notifier.ready(status_line(runtime))
        watchdog = asyncio.create_task(notifier.watchdog(lambda: status_line(runtime)), name="systemd-watchdog")
        housekeeping = asyncio.create_task(_collect_garbage(), name="gc")
        await stop.wait()
        log.info("shutting down")
        notifier.stopping()
        watchdog.cancel()
        housekeeping.cancel()
        await runtime.stop()
    notifier.close()
    log.info("stopped")


@contextlib.contextmanager
def _stop_on_signals(stop: asyncio.Event) -> Any:
    loop = asyncio.get_running_loop()
    names = ("SIGINT", "SIGTERM") if sys.platform != "win32" else ()
    installed = []
    for name in names:
        sig = getattr(signal, name)
        try:
            loop.add_signal_handler(sig, stop.set)
            installed.append(sig)
        except (NotImplementedError, RuntimeError):
            pass
    if sys.platform == "win32":
        # No add_signal_handler on Windows' event loops: route Ctrl-C / Ctrl-Break through signal().
        def handler(signum: int, frame: Any) -> None:
            loop.call_soon_threadsafe(stop.set)

        for name in ("SIGINT", "SIGBREAK"):
            if hasattr(signal, name):
                signal.signal(getattr(signal, name), handler)
    try:
        yield
    finally:
        for sig in installed:
            loop.remove_signal_handler(sig)
