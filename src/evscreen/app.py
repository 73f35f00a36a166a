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
from evscreen.server import web
from evscreen.server.access import check_bind, resolve_token
from evscreen.config import LoadedConfig, data_dir, secrets_readable_by_others
from evscreen.dispatch import Dispatcher
from evscreen.drivers.base import Source
from evscreen.drivers.registry import chosen_sources, load_source_class, simulated_bus_config, simulating
from evscreen.errors import EvscreenError, SourceUnavailable
from evscreen.host.info import board_model, describe_platform, is_raspberry_pi
from evscreen.server.websocket import TelemetryServer
from evscreen.settings import SettingsStore
from evscreen.state import VehicleState
from evscreen.host.sd_notify import Notifier

if TYPE_CHECKING:
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

    @property
    def url(self) -> str:
        host = self.loaded.config.server.host
        shown = f"[{host}]" if ":" in host else host
        return f"{self.server.scheme}://{shown}:{self.server.port}"

    async def start(self) -> None:
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
    runtime = Runtime(loaded, state, settings, sources, dispatcher, server, mqtt=mqtt)
    web.install(runtime)  # the dashboard (/) and /healthz on the same port
    return runtime


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
    page = runtime.url.replace("ws", "http", 1) + "/"
    lines.append(f"dashboard: {page}" + ("?token=TOKEN" if runtime.server.token else "") + f", health: {page}healthz")
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
    runtime = build_runtime(loaded)
    try:
        await runtime.start()
    except OSError as exc:
        raise EvscreenError(
            f"cannot listen on {loaded.config.server.host}:{loaded.config.server.port}: {exc.strerror or exc}"
            " (is another evscreen running? choose another port with --port)"
        ) from None
    for line in banner(runtime):
        log.info("%s", line)
    notifier = Notifier()
    notifier.ready(status_line(runtime))
    watchdog = asyncio.create_task(notifier.watchdog(lambda: status_line(runtime)), name="systemd-watchdog")
    housekeeping = asyncio.create_task(_collect_garbage(), name="gc")
    stop = asyncio.Event()
    with _stop_on_signals(stop):  # kept during shutdown: a second SIGTERM must not cut the flush short
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
