"""The simulated vehicle source: steps the vehicle and media models and puts the car on a CAN bus.

The models advance in fixed steps of simulated time (:data:`evscreen.sim.vehicle.STEP_S`), so a
seed gives the same drive whatever the event loop's timing; ``simulation.speed`` sets how many
simulated seconds pass per real second. The loop wakes at most every ``MAX_WAKE_S`` of real time
and runs the steps that are due, carrying the remainder, so a fast simulation costs few wake-ups.

The car reaches the telemetry the way a real one does: its ECUs' frames
(:class:`evscreen.sim.can_frames.CarBus`, every message of evscreen's DBC at its cycle time in
simulated time) go onto a python-can ``virtual`` bus, always virtual and private to this runtime,
where the ordinary CAN source decodes them (:func:`evscreen.drivers.registry.simulated_bus_config`
points both at the same channel). The simulator writes directly only what a real car does not
put on CAN either: GPS (the GPS source's job in a real car), the phone (its media player and
Bluetooth link), and the head unit's own Wi-Fi. The phone obeys the screen's media commands and
``connect_bluetooth`` as a real one over BlueZ does (:class:`SimulatedMedia`,
:class:`SimulatedBluetooth`), so a screen can be built and shown without a phone.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from evscreen.aio import within
from evscreen.can.dbc.loader import load_decoder
from evscreen.can.dbc.mapping import build_signal_map, mapping_table, parse_mapping
from evscreen.drivers.base import BluetoothControl, MediaControl, Source
from evscreen.errors import CommandFailed
from evscreen.protocol import ErrorCode
from evscreen.sim.can_frames import CarBus
from evscreen.sim.media import PLAYLIST, MediaPlayerModel
from evscreen.sim.vehicle import STEP_S, VehicleModel, VehicleOutputs, gps_values

if TYPE_CHECKING:
    from evscreen.config import Config
    from evscreen.state import VehicleState

log = logging.getLogger(__name__)

MAX_WAKE_S = 0.1  # real seconds between wake-ups at most (one step at real time)
MIN_WAKE_S = 0.02  # ...and at least, however fast the simulation runs
#: Real seconds of simulated time one wake-up may catch up on; beyond that (a stalled or
#: overloaded machine) the backlog is dropped rather than run in one long burst.
MAX_BEHIND_S = 2.0
#: Frames per real second the simulated bus carries at most: every frame up to this rate (2.5x real
#: time for evscreen's DBC); beyond it, only the latest frame of each message (and multiplexer
#: value) per wake-up, which is all the CAN source would keep anyway.
MAX_LIVE_FRAMES_PER_S = 1000.0
#: The head unit's own Wi-Fi (connectivity.bluetooth comes with the phone, can_bus from the CAN source).
CONNECTIVITY = {"connectivity.wifi": True}


class SimulatedMedia(MediaControl):
    """The simulated player's controls. ``on_change`` publishes the player's state at once, so the
    next telemetry after a command's response already shows its effect."""

    def __init__(self, model: MediaPlayerModel, on_change: Callable[[], None] = lambda: None) -> None:
        self.model = model
        self.on_change = on_change

    @property
    def volume(self) -> float:
        return self.model.volume

    def _phone(self) -> MediaPlayerModel:
        if not self.model.connected:  # the words of the real Bluetooth source
            raise CommandFailed(ErrorCode.UNAVAILABLE.value, "no phone is connected over Bluetooth")
        return self.model

    async def play(self) -> None:
        self._phone().play()
        self.on_change()

    async def pause(self) -> None:
        self._phone().pause()
        self.on_change()

    async def next_track(self) -> None:
        self._phone().next_track()
        self.on_change()

    async def previous_track(self) -> None:
        self._phone().previous_track()
        self.on_change()

    async def set_volume(self, volume: float) -> None:
        self._phone().set_volume(volume)


class SimulatedBluetooth(BluetoothControl):
    """``connect_bluetooth`` for the simulated phone: like BlueZ's ``Device1.Connect``, it answers
    once the device is connected, which the player model decides as simulated time passes; the
    vehicle's loop calls :meth:`settle` after each step. ``timeout`` is ``bluetooth.connect_timeout``,
    as for a real adapter."""

    def __init__(self, model: MediaPlayerModel, on_change: Callable[[], None], timeout: float) -> None:
        self.model = model
        self.on_change = on_change
        self.timeout = timeout
        self._waiting: list[tuple[str, asyncio.Future[None]]] = []

    async def connect(self, address: str) -> None:
        address = address.upper()
        if self.model.connect(address):
            return  # already connected: BlueZ answers AlreadyConnected, which is success
        self.on_change()  # the previous phone is gone from the next telemetry
        for other, waiter in self._waiting:
            if other != address and not waiter.done():
                waiter.set_exception(CommandFailed(
                    ErrorCode.UNAVAILABLE.value, f"connecting {other} was abandoned: connecting {address} instead"))
        waiter = asyncio.get_running_loop().create_future()
        self._waiting.append((address, waiter))
        try:
            await within(waiter, self.timeout)
        except asyncio.TimeoutError:
            if self.model.connecting == address:
                self.model.cancel_connect()
            raise CommandFailed(ErrorCode.UNAVAILABLE.value,
                                f"connecting {address} failed: not connected within {self.timeout:g} s") from None
        finally:
            self._waiting.remove((address, waiter))
        log.info("simulated Bluetooth: connected %s", address)

    def settle(self) -> None:
        """Answer the callers whose device is now connected."""
        model = self.model
        for address, waiter in self._waiting:
            if model.connected and address == model.device_address and not waiter.done():
                waiter.set_result(None)


class SimulatedVehicle(Source):
    name = "simulation"
    simulated = True
    stale_after = 2.0

    def __init__(self, config: Config, state: VehicleState, *, simulated: bool = True) -> None:
        super().__init__(config, state, simulated=simulated)
        sim = config.simulation
        self.model = VehicleModel(sim.seed, charge_every=sim.charge_every, cabin_set_point=sim.cabin_set_point)
        self.player = MediaPlayerModel(track=sim.seed % len(PLAYLIST))
        self.media = SimulatedMedia(self.player, self.publish_phone)
        self.phone_link = SimulatedBluetooth(self.player, self.publish_phone, config.bluetooth.connect_timeout)
        self.bluetooth = self.phone_link
        self.speed_factor = sim.speed
        # The car speaks evscreen's DBC with the default mapping, on the channel config.can names
        # (registry.simulated_bus_config gives the CAN source the same); the bus is always
        # python-can's in-process ``virtual`` interface, so simulated frames never reach a real bus.
        self.channel = config.can.channel
        decoder = load_decoder()
        signal_map = build_signal_map(parse_mapping(mapping_table({}, project_dbc=True)), decoder)
        self.car_bus = CarBus(decoder.spec, signal_map)
        self.latest_only = self.speed_factor * self.car_bus.frames_per_second > MAX_LIVE_FRAMES_PER_S
        self._frames = 0  # broadcast frames sent (the ECUs' answers are counted by their bus)
        self._last_stamp = 0.0  # timestamp of the last broadcast frame: the ECUs answer after it
        self._ecu_bus: Any = None
        self.bus: Any = None
        #: The car's ECUs answering diagnostics on its bus (the BMS as a Kona's, generic OBD-II).
        self.ecus: list[Any] = []
        self._notifier: Any = None
        self._out: VehicleOutputs = self.model.outputs()  # the last published outputs, for the ECUs
        self._behind_logged = False
        self._epoch: float | None = None  # wall-clock time of simulated time 0
        self._born = time.time()
        self.vehicle_clock = self._vehicle_time

    def _vehicle_time(self) -> float:
        """The simulated car's own time as epoch seconds: now at start-up, then as fast as it runs
        (the journal records its history on this clock, so a trip lasts as long as it was driven)."""
        return self._born + self.model.time_s

    def on_setting(self, name: str, value: Any) -> None:
        if name == "drive_mode":
            self.model.set_drive_mode(value)
        elif name == "regen_level":
            self.model.set_regen_level(value)
        elif name == "charge_limit":
            self.model.set_charge_limit(value)
        elif name == "volume":
            self.player.set_volume(value)

    def describe(self) -> str:
        factor = "" if self.speed_factor == 1.0 else f", {self.speed_factor:g}x real time"
        cycles = " + ".join(c.name.upper() for c in self.model.itinerary.cycles)
        rate = self.car_bus.frames_per_second * self.speed_factor
        frames = (f"the latest frame of each message per wake-up (all would be {rate:,.0f} frames/s)"
                  if self.latest_only else f"{rate:,.0f} frames/s")
        return (f"{self.name}: simulated vehicle on {cycles} (seed {self.config.simulation.seed}{factor}), "
                f"sending {frames} on virtual CAN channel {self.channel}")

    def step(self, steps: int) -> None:
        """Advance the car and the phone by ``steps`` fixed steps."""
        model, player = self.model, self.player
        for _ in range(steps):
            model.step(STEP_S)
            player.step(STEP_S)

    def publish_phone(self) -> None:
        """The phone's state at once, so the next telemetry after a command's response shows its effect."""
        self.state.update(self.name, self.player.telemetry())

    def publish(self, out: VehicleOutputs | None = None) -> None:
        """Write what is not on the car's CAN bus: GPS, the phone (media, Bluetooth) and Wi-Fi."""
        out = out or self.model.outputs()
        self._out = out
        values = gps_values(out)
        values.update(self.player.telemetry())
        values.update(CONNECTIVITY)
        self.state.update(self.name, values)

    def transmit(self, bus: Any, until_s: float) -> int:
        """Send the frames due before simulated time ``until_s``; returns how many."""
        import can

        frames = self.car_bus.frames_until(until_s, latest_only=self.latest_only)
        epoch, factor = self._epoch or 0.0, self.speed_factor
        send, message = bus.send, can.Message
        for f in frames:
            send(message(timestamp=epoch + f.timestamp / factor, arbitration_id=f.arbitration_id,
                         is_extended_id=f.is_extended, data=f.data))
        if frames:
            self._last_stamp = epoch + frames[-1].timestamp / factor
        self._frames += len(frames)
        return len(frames)

    @property
    def frames_sent(self) -> int:
        """Every frame the car put on its bus: the broadcast and its ECUs' diagnostic answers."""
        return self._frames + (self._ecu_bus.sent if self._ecu_bus is not None else 0)

    def wake_interval(self) -> float:
        return min(MAX_WAKE_S, max(MIN_WAKE_S, STEP_S / self.speed_factor))

    async def open(self) -> None:
        from evscreen.can.bus import open_bus_in_thread

        # preserve_timestamps: each frame carries the time it was due, not the instant of the burst.
        self.bus = await open_bus_in_thread("virtual", self.channel, self.config.can.bitrate,
                                            {"preserve_timestamps": True})
        self._start_ecus(self.bus)
        self.availability.up()

    def _start_ecus(self, bus: Any) -> None:
        """The BMS (0x7E4 -> 0x7EC) and the OBD-II ECU (0x7DF/0x7E0 -> 0x7E8) answer on the car's bus."""
        import can

        from evscreen.can.ecu_server import EcuServer, stamping_bus
        from evscreen.sim.diag_ecus import SimulatedBms, SimulatedObdEcu

        self._notifier = can.Notifier(bus, [])
        # The answers are stamped after the last broadcast frame (the bus keeps the frames' own
        # timestamps), so the bus's timeline, and a recording of it, stays in order.
        self._ecu_bus = tx = stamping_bus(bus, lambda: self._last_stamp or time.time())
        bms = SimulatedBms(self.config.simulation.seed, lambda: self._out)
        obd = SimulatedObdEcu(lambda: self._out)
        self.ecus = [EcuServer(tx, self._notifier, 0x7E4, 0x7EC, bms.respond).start(),
                     EcuServer(tx, self._notifier, 0x7E0, 0x7E8, obd.respond, functional_id=0x7DF).start()]

    async def read(self) -> None:
        await self._drive(self.bus)

    async def close(self) -> None:
        ecus, self.ecus = self.ecus, []
        notifier, self._notifier = self._notifier, None
        if ecus or notifier is not None:
            await asyncio.to_thread(_stop_ecus, ecus, notifier)
        if self._ecu_bus is not None:
            self._ecu_bus.shutdown()  # only marks it closed: the car's bus is shut below
        bus, self.bus = self.bus, None
        if bus is not None:
            bus.shutdown()

    async def _drive(self, bus: Any) -> None:
        out = self.model.outputs()
        self.car_bus.update(out)
        self.publish(out)
        interval = self.wake_interval()
        last = time.monotonic()
        self._epoch = time.time() - self.model.time_s / self.speed_factor
        pending = 0.0  # simulated seconds due but not yet stepped
        # The first frames go out at the first wake-up, soon, once the CAN source is listening.
        wait = MIN_WAKE_S
        while True:
            await asyncio.sleep(wait)
            wait = interval
            now = time.monotonic()
            pending += (now - last) * self.speed_factor
            last = now
            if pending > MAX_BEHIND_S * self.speed_factor:
                if not self._behind_logged:
                    log.warning("simulation cannot keep up with %gx real time; dropping %.0f s of simulated time",
                                self.speed_factor, pending - STEP_S)
                    self._behind_logged = True
                pending = STEP_S
            steps = int(pending / STEP_S + 1e-9)
            if steps:
                pending -= steps * STEP_S
                self.step(steps)
                out = self.model.outputs()
                self.car_bus.update(out)
                self.publish(out)
                self.phone_link.settle()  # after publish: a connect's answer follows the telemetry showing it
            else:
                self.state.touch(self.name)
            # Simulated time runs on between steps: frames keep their cycle times at any speed.
            self.transmit(bus, self.model.time_s + pending)


def _stop_ecus(ecus: list[Any], notifier: Any) -> None:
    for ecu in ecus:
        ecu.stop()
    if notifier is not None:
        notifier.stop()
