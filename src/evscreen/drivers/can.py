"""The CAN bus source: any python-can interface, decoded with a DBC, mapped onto the telemetry.

A reader thread blocks in ``bus.recv()``, drains whatever else is waiting (up to a batch), decodes
the mapped messages with the compiled decoder and keeps only the latest value of each field. Once
per batch it hands those values to the event loop with ``call_soon_threadsafe`` — and only if the
previous hand-off has been taken — so a saturated bus costs the loop one small dict update per
batch, never one call per frame.

What the bus means comes from the vehicle profile (:func:`evscreen.vehicles.loader.can_decoding`:
``[vehicle] name``, else ``[can] dbc`` and ``[can.signals]``, else evscreen's own). A recorded log
is read the same way: ``[can] interface = "replay"`` opens :class:`evscreen.can.replay.ReplayBus`,
and the source reports itself ``replay``.

``connectivity.can_bus`` is true only while frames arrive. When the interface fails (adapter
unplugged, bus-off, socket gone) ``read`` raises and the supervisor takes over: the source goes
offline, keeps its values (marked stale), logs one line, and the interface is reopened with backoff
until it comes back. It never invents values.
"""

from __future__ import annotations

import asyncio
import logging
import threading
import time
from collections import Counter
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from evscreen.can import share as bus_share
from evscreen.can.bus import (
    REPLAY,
    check_interface,
    open_bus_in_thread,
    parse_options,
    shutdown_bus,
)
from evscreen.can.dbc.codegen import UnknownMux
from evscreen.can.dbc.loader import load_decoder
from evscreen.can.dbc.mapping import route_values
from evscreen.can.recording import Recorder
from evscreen.drivers.base import Source
from evscreen.errors import SourceUnavailable
from evscreen.vehicles.loader import can_decoding

if TYPE_CHECKING:
    from evscreen.config import CanConfig, Config
    from evscreen.state import VehicleState

log = logging.getLogger(__name__)

BATCH_FRAMES = 2000  # frames decoded between two hand-offs at most
RECV_TIMEOUT_S = 0.2  # how often the reader thread looks at the stop flag
MAX_UNKNOWN_IDS = 4096  # distinct unknown IDs remembered (a noisy bus must not grow memory)
BUSY_BATCH = 32  # a batch this large means a busy bus...
BUSY_PAUSE_S = 0.001  # ...so pause this long before the next one (interfaces buffer far more)
EXTENDED_KEY = 1 << 32
DIAG_29BIT = (0x18DA, 0x18DB)  # ISO 15765-4 normal fixed addressing: physical, functional


@dataclass
class CanStats:
    """Counters of the reader thread (written there only; read anywhere)."""

    frames: int = 0
    decoded: int = 0  # frames whose ID is in the DBC
    unknown: int = 0  # frames whose ID is not
    errors: int = 0  # error frames
    remote: int = 0
    short: int = 0  # mapped frames shorter than the DBC says
    handoffs: int = 0
    reader_cpu_s: float = 0.0
    unknown_ids: Counter[tuple[int, bool]] = field(default_factory=Counter)


class CanSource(Source):
    name = "can"

    def __init__(self, config: Config, state: VehicleState, *, simulated: bool = False) -> None:
        cfg: CanConfig = config.can
        self.replay = cfg.interface == REPLAY and not simulated
        super().__init__(config, state, simulated=simulated, stale_after=cfg.timeout)
        if not simulated:  # the simulated car's bus is python-can's own `virtual`: no need to import it now
            check_interface(cfg.interface)
        self.cfg = cfg
        self.bus_options = parse_options(cfg.options)
        self.decoding = can_decoding(config)
        self.decoder = load_decoder(self.decoding.dbc, quiet=self.decoding.builtin)
        self.signal_map = self.decoding.signal_map(self.decoder)
        mapped = self.signal_map.refs
        # A car whose bus carries pack voltage and current but no power (the Kona): derive it.
        self.derive_power = "power_kw" not in mapped and {"battery_voltage", "battery_current"} <= set(mapped)
        if self.replay:
            from evscreen.can.replay import check_replay

            profile = self.decoding.profile
            if "bus" not in self.bus_options and profile is not None and profile.primary.log_bus is not None:
                self.bus_options["bus"] = profile.primary.log_bus  # the bus of the log this profile reads
            if "bus" in self.bus_options:
                self.bus_options["bus"] = str(self.bus_options["bus"])
            # Before anything is served: a missing, corrupt or empty log, or a bus it lacks, is one line.
            check_replay(cfg.channel, self.bus_options.get("bus"), self.bus_options.get("log_format"))
        self.stats = CanStats()
        #: Writes every frame received to rotating compressed logs ([recording] dir, serve --record).
        self.recorder: Recorder | None = None
        if config.recording.dir:
            self.recorder = Recorder(config.recording, cfg.channel if not self.replay else "can0")
        #: The vehicle's feedback of the screen's settings (drive mode, regen level, charge limit).
        self.feedback: dict[str, Any] = {}
        self.bus: Any = None
        #: The open bus, shared with the diagnostics poller (evscreen.can.share).
        self.share: bus_share.BusShare | None = None
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._lock = threading.Lock()
        self._pending: dict[str, Any] = {}
        self._scheduled = False
        self._last_frame: float | None = None  # monotonic time of the last hand-off
        self._quiet_logged = False

    def describe(self) -> str:
        c = self.cfg
        if self.replay:
            o = self.bus_options
            speed = float(o.get("speed", 1.0))
            bus = f"bus {o['bus']}, " if "bus" in o else ""
            where = (f"replay of {c.channel} ({bus}{'as fast as possible' if speed == 0 else f'{speed:g}x real time'}"
                     f"{', looped' if o.get('loop') else ''})")
        else:
            where = f"{c.interface} {c.channel} at {c.bitrate} bit/s"
        kind = "replay" if self.replay else "simulated" if self.simulated else "real"
        return (f"can: {where}, {self.decoding.describe()}, DBC {self.decoder.name} "
                f"({len(self.decoder.messages)} messages, {len(self.signal_map.refs)} mapped fields) ({kind})")

    @property
    def where(self) -> str:
        if self.replay:
            return f"replay of {self.cfg.channel}"
        return f"{self.cfg.interface} {self.cfg.channel}"

    # -- the event loop side -----------------------------------------------------------------------

    async def open(self) -> None:
        try:
            self.bus = await open_bus_in_thread(self.cfg.interface, self.cfg.channel, self.cfg.bitrate,
                                                self.bus_options)
        except Exception as exc:
            raise SourceUnavailable(f"cannot open {self.where}: {_why(exc)}") from exc
        self.share = bus_share.BusShare(self.bus, bus_share.key(self.cfg.interface, self.cfg.channel))
        bus_share.publish(self.share)
        self.availability.reached("can: listening on %s", self.where)
        self.availability.up()

    async def read(self) -> None:
        """Run the reader thread until the interface fails (raises) or ``close`` stops it (returns)."""
        loop = asyncio.get_running_loop()
        done: asyncio.Future[BaseException | None] = loop.create_future()
        self._stop.clear()
        self._thread = threading.Thread(target=self._read, args=(self.bus, self.share, loop, done),
                                        name="can-reader", daemon=True)
        self._thread.start()
        watchdog = asyncio.create_task(self._watch_quiet())
        try:
            error = await done
        finally:
            watchdog.cancel()
        if error is not None:
            raise SourceUnavailable(f"{self.where} failed: {_why(error)}") from error

    async def close(self) -> None:
        shared, self.share = self.share, None
        if shared is not None:
            bus_share.withdraw(shared)
        self._stop.set()
        thread = self._thread
        if thread is not None and thread.is_alive():
            await asyncio.to_thread(thread.join, 2.0)
        bus, self.bus = self.bus, None
        if bus is not None:
            await asyncio.to_thread(shutdown_bus, bus)
        if self.recorder is not None:  # what the reader buffered goes to disk now
            await asyncio.to_thread(self.recorder.flush)

    def on_failure(self, error: Exception) -> None:
        self._set_can_bus_false()
        self._last_frame = None

    def _flush(self) -> None:
        """Runs on the event loop: take the reader's latest values into the vehicle state."""
        with self._lock:
            values, self._pending = self._pending, {}
            self._scheduled = False
        telemetry: dict[str, Any] = {"connectivity.can_bus": True}
        for path, value in values.items():
            if path.startswith("feedback."):
                self.feedback[path[9:]] = value
            else:
                telemetry[path] = value
        if self.derive_power and ("battery_voltage" in values or "battery_current" in values):
            volts = values.get("battery_voltage", self.state.get("battery_voltage"))
            amps = values.get("battery_current", self.state.get("battery_current"))
            if isinstance(volts, (int, float)) and isinstance(amps, (int, float)):  # never from an unknown
                telemetry["power_kw"] = round(volts * amps / 1000.0, 2)
        self.state.update(self.name, telemetry)
        self._last_frame = time.monotonic()
        if self._quiet_logged:
            log.info("can: frames arriving again on %s", self.where)
            self._quiet_logged = False

    async def _watch_quiet(self) -> None:
        """``connectivity.can_bus`` turns false when no frame came for ``timeout`` seconds."""
        period = min(0.25, self.cfg.timeout / 4)
        while True:
            await asyncio.sleep(period)
            last = self._last_frame
            quiet = last is None or time.monotonic() - last > self.cfg.timeout
            if quiet and self.state.get("connectivity.can_bus") is not False:
                self._set_can_bus_false()
                if last is not None and not self._quiet_logged:
                    log.warning("can: no frames on %s for %.1f s", self.where, self.cfg.timeout)
                    self._quiet_logged = True

    def _set_can_bus_false(self) -> None:
        # Without refreshing the source: a silent bus must not make its old values look fresh.
        self.state.update(self.name, {"connectivity.can_bus": False}, refresh=False)

    # -- the reader thread -------------------------------------------------------------------------

    def _read(self, bus: Any, shared: bus_share.BusShare | None, loop: asyncio.AbstractEventLoop,
              done: asyncio.Future[Any]) -> None:
        error: BaseException | None = None
        try:
            self._read_frames(bus, loop, shared)
        except BaseException as exc:  # the interface failed; the loop decides what to do
            error = exc
        if not loop.is_closed():
            try:
                loop.call_soon_threadsafe(_resolve, done, error)
            except RuntimeError:  # loop closed meanwhile
                pass

    def _read_frames(self, bus: Any, loop: asyncio.AbstractEventLoop, shared: bus_share.BusShare | None = None) -> None:
        recv = bus.recv
        # While the diagnostics poller runs (``users``), its frames go to its listeners and the
        # batches tell it whether the car talks; lists, so what is added later is seen.
        users: list[Any] = shared.users if shared is not None else []
        listeners: list[Any] = shared.notifier.listeners if shared is not None else []
        dispatch = shared.dispatch if shared is not None else None
        stats = self.stats
        standard, extended = self.signal_map.standard, self.signal_map.extended
        known_std, known_ext = self.decoder.standard, self.decoder.extended
        unknown_ids = stats.unknown_ids
        stop = self._stop
        clock = time.thread_time
        recorder = self.recorder
        record = recorder.add if recorder is not None else None
        # Only the latest value of each field reaches the state, so of the frames of one message in
        # a batch only the last needs decoding. Multiplexed and short frames carry part of the
        # message each: those are decoded in order as they come.
        latest: dict[int, tuple[Any, Any]] = {}
        while not stop.is_set():
            msg = recv(RECV_TIMEOUT_S)
            if msg is None:
                if recorder is not None:
                    recorder.tick()
                continue
            values: dict[str, Any] = {}
            n = decoded = unknown = errors = remote = short = 0
            traffic = False  # a frame other than diagnostics: the car is awake
            while msg is not None:
                n += 1
                if record is not None:
                    record(msg)
                if msg.is_error_frame:
                    errors += 1
                elif msg.is_remote_frame:
                    remote += 1
                else:
                    frame_id = msg.arbitration_id
                    if users:
                        if (frame_id >> 16 in DIAG_29BIT) if msg.is_extended_id else 0x700 <= frame_id <= 0x7FF:
                            if listeners:
                                dispatch(msg)  # type: ignore[misc]
                        else:
                            traffic = True
                    if msg.is_extended_id:
                        route = extended.get(frame_id)
                        known = route is not None or frame_id in known_ext
                        key = frame_id | EXTENDED_KEY
                    else:
                        route = standard.get(frame_id)
                        known = route is not None or frame_id in known_std
                        key = frame_id
                    if route is not None:
                        decoded += 1
                        data = msg.data
                        if route.whole and len(data) >= route.message.length:
                            latest[key] = (route, data)
                        else:
                            earlier = latest.pop(key, None)
                            if earlier is not None:
                                _apply(*earlier, values)
                            if len(data) < route.message.length:
                                short += 1
                            _apply(route, data, values)
                    elif known:
                        decoded += 1  # in the DBC, nothing mapped from it: no need to decode
                    else:
                        unknown += 1
                        ukey = (frame_id, msg.is_extended_id)
                        if ukey in unknown_ids or len(unknown_ids) < MAX_UNKNOWN_IDS:
                            unknown_ids[ukey] += 1
                if n >= BATCH_FRAMES:
                    break
                msg = recv(0)
            for route, data in latest.values():
                _apply(route, data, values)
            latest.clear()
            stats.frames += n
            stats.decoded += decoded
            stats.unknown += unknown
            stats.errors += errors
            stats.remote += remote
            stats.short += short
            stats.reader_cpu_s = clock()
            if users:
                shared.seen(traffic)  # type: ignore[union-attr]
            if recorder is not None:
                recorder.tick()
            self._hand_off(values, loop)
            if n >= BUSY_BATCH:
                # A busy bus: let frames gather in the interface's buffer for a moment, so the
                # next batch is larger and the thread is not woken once per frame.
                time.sleep(BUSY_PAUSE_S)

    def _hand_off(self, values: dict[str, Any], loop: asyncio.AbstractEventLoop) -> None:
        with self._lock:
            self._pending.update(values)
            if self._scheduled:
                return
            self._scheduled = True
        self.stats.handoffs += 1
        try:
            loop.call_soon_threadsafe(self._flush)
        except RuntimeError:  # the loop is gone: the server is shutting down
            self._stop.set()


def _apply(route: Any, data: Any, values: dict[str, Any]) -> None:
    try:
        signals = route.decode(data)
    except UnknownMux as exc:  # the signals outside the undefined group still count
        signals = exc.signals
    route_values(route, signals, values)


def _resolve(future: asyncio.Future[Any], error: BaseException | None) -> None:
    if not future.done():
        future.set_result(error)


def _why(exc: BaseException) -> str:
    text = str(exc).strip() or type(exc).__name__
    cause = exc.__cause__ or exc.__context__
    if cause is not None and str(cause) and str(cause) not in text:
        text = f"{text}: {cause}"
    return text

