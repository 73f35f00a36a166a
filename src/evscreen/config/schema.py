"""Every config key, declared once as a dataclass field whose metadata carries its help text and
constraints. Validation, ``config show``, ``config init`` and ``docs/configuration.md`` all read these
declarations, so they cannot drift apart."""

from __future__ import annotations

import dataclasses
import typing
from dataclasses import dataclass, field
from typing import Any

APP_NAME = "evscreen"
ENV_PREFIX = "EVSCREEN_"
#: Variables read by the command line itself (which file, and the client tools' URL, token, CA),
#: not config keys: the loader leaves them alone.
CLIENT_ENV_VARS = frozenset({"EVSCREEN_CONFIG", "EVSCREEN_URL", "EVSCREEN_TOKEN", "EVSCREEN_CA_FILE"})


def key(
    default: Any,
    help: str,
    *,
    choices: tuple[Any, ...] | None = None,
    min: float | None = None,
    max: float | None = None,
    secret: bool = False,
    pattern: str | None = None,
) -> Any:
    """Declare one config key: its default, one line of help and the values it allows."""
    meta = {"help": help, "choices": choices, "min": min, "max": max, "secret": secret, "pattern": pattern}
    if isinstance(default, (list, dict)):
        return field(default_factory=lambda: type(default)(default), metadata=meta)
    return field(default=default, metadata=meta)


@dataclass
class ServerConfig:
    """The WebSocket server the screen connects to."""

    host: str = key("127.0.0.1",
                    "Address to listen on. 127.0.0.1 serves only this machine; 0.0.0.0 serves the network.")
    port: int = key(8765, "TCP port of the WebSocket server.", min=1, max=65535)
    telemetry_interval: float = key(1.0, "Seconds between telemetry messages to each screen.", min=0.02, max=60.0)
    max_message_size: int = key(
        65536, "Largest WebSocket message accepted from a client, in bytes; larger ones close the connection (1009).",
        min=256, max=16 * 1024 * 1024,
    )
    token: str | None = key(
        None, "Token clients must present (Authorization: Bearer TOKEN, or ?token=TOKEN). Required off loopback.",
        secret=True,
    )
    token_file: str | None = key(None, "File holding the token (first line), instead of token.")
    insecure_no_auth: bool = key(False, "Allow serving a non-loopback address without a token (not recommended).")
    tls_cert: str | None = key(None, "PEM certificate (chain) file: serve wss:// instead of ws://.")
    tls_key: str | None = key(None, "PEM private key file for tls_cert.")
    allowed_origins: list[str] = key(
        [], "Browser origins allowed to connect (e.g. https://screen.local); same-origin pages always are."
    )
    max_connections: int = key(64, "Most simultaneous clients; more are refused with HTTP 503.", min=1, max=100000)
    command_rate: float = key(
        50.0, "Commands per second allowed per connection (sustained); excess get rate_limited. 0: unlimited.",
        min=0.0, max=100000.0,
    )
    command_burst: int = key(100, "Commands a connection may send at once before command_rate applies.", min=1,
                             max=100000)
    stall_timeout: float = key(
        30.0, "Seconds a client may leave telemetry unread before it is disconnected.", min=1.0, max=3600.0
    )


@dataclass
class VissConfig:
    """The W3C VISS v2 endpoint: the car's data under COVESA VSS names, at /viss on the server's port."""

    enabled: bool = key(True, "Serve VISS v2 at /viss (WebSocket subprotocol VISSv2), with the server's token and TLS.")
    max_subscriptions: int = key(
        100, "Most subscriptions one VISS connection may hold; more are refused (403).", min=1, max=10000
    )
    min_period: int = key(
        100, "Shortest timebased period a VISS client may ask for, in ms; change and range filters are checked "
        "this often.", min=20, max=60000,
    )


@dataclass
class SimulationConfig:
    """The simulated vehicle used when no real hardware is present."""

    mode: str = key(
        "auto", "auto: real hardware on a Raspberry Pi, simulated elsewhere; on: always simulate; off: never.",
        choices=("auto", "on", "off"),
    )
    seed: int = key(1, "Seed of the simulated vehicle, so that a run can be reproduced.", min=0, max=2**63 - 1)
    speed: float = key(1.0, "Simulated seconds per real second (for demos and tests).", min=0.01, max=1000.0)
    charge_every: int = key(
        2, "Drive-cycle loops (UDDS + HWFET, ~36 min) between stops at a DC charger, where the simulated car"
        " charges to the charge_limit setting (0: only when the battery runs low). After the other loops it parks,"
        " switched off, for an errand (8-40 min) or, every other time, a long stay (1-4 h).", min=0, max=1000,
    )
    cabin_set_point: float = key(21.0, "Cabin temperature (°C) the simulated car's climate control aims for.",
                                 min=16.0, max=28.0)


@dataclass
class LoggingConfig:
    """Where log lines go and how many."""

    level: str = key("info", "Least severe level logged.", choices=("debug", "info", "warning", "error"))
    file: str | None = key(None, "Also write the log to this file (rotated at 5 MB, 3 kept). Empty: no log file.")


@dataclass
class CanConfig:
    """The CAN bus source (python-can) and its DBC."""

    enabled: bool = key(False, "Read telemetry from a CAN bus (real hardware mode).")
    interface: str = key("socketcan", "Any python-can interface name (socketcan, slcan, pcan, kvaser, virtual...).")
    channel: str = key("can0", "The interface's channel (can0, /dev/ttyACM0, PCAN_USBBUS1...).")
    bitrate: int = key(500000, "Bus bitrate in bit/s, for interfaces that set it.", min=10000, max=8000000)
    dbc: str | None = key(None, "DBC file describing the bus. Empty: evscreen's own DBC.")
    signals: dict[str, str] = key(
        {}, "Telemetry field -> 'Message.Signal' (optionally '* factor'). Empty: the mapping for evscreen's own DBC."
    )
    options: dict[str, str] = key(
        {}, "Extra keyword arguments for the python-can interface, e.g. {sleep_after_open = \"0\"} for slcan."
    )
    timeout: float = key(
        2.0, "Seconds without a frame after which connectivity.can_bus turns false and CAN values are stale.",
        min=0.1, max=600.0,
    )


@dataclass
class ObdConfig:
    """Polling the car's ECUs over ISO-TP on the CAN source's bus (OBD-II / UDS; docs/diagnostics.md)."""

    enabled: bool = key(
        False, "Poll the diagnostic requests of the vehicle profile (needs [can] enabled on the same bus)."
    )
    profile: str | None = key(
        None, "Vehicle profile whose [[diagnostics.requests]] are polled. Empty: [vehicle] name, else obd2 "
        "(generic OBD-II mode 01).", pattern=r"[a-z0-9][a-z0-9_-]{0,63}",
    )
    listen_only: bool = key(
        False, "Transmit nothing: only read the profile's answers when another tester asks (nothing is polled).",
    )
    wake_policy: str = key(
        "traffic", "When the car counts as awake: traffic (other frames on the bus within sleep_after; safe) or "
        "answers (a diagnostics-only OBD-II port: poll while ECUs answer, silent ECUs back off to max_backoff).",
        choices=("traffic", "answers"),
    )
    sleep_after: float = key(
        10.0, "Seconds without other traffic after which the car counts as asleep and polling stops.",
        min=1.0, max=3600.0,
    )
    min_aux_voltage: float = key(
        12.0, "No polling while the 12 V battery reads below this many volts (unless the car is on or charging).",
        min=0.0, max=16.0,
    )
    max_requests_per_s: float = key(
        5.0, "Most requests per second on the bus, all ECUs together (5/s of 62-byte answers: under 2 % of "
        "500 kbit/s).", min=0.1, max=100.0,
    )
    max_backoff: float = key(600.0, "Longest wait before asking a silent ECU again, in seconds.", min=5.0, max=86400.0)


@dataclass
class VehicleConfig:
    """The car: a vehicle profile names its DBC and signal mapping (docs/vehicles.md)."""

    name: str | None = key(
        None, "Vehicle profile to read the CAN bus with (`evscreen vehicles` lists them), e.g. hyundai-kona-ev."
        " It replaces [can] dbc; [can.signals] entries still override its mapping one field at a time."
        " Empty: [can] dbc and [can.signals], else evscreen's own profile.",
        pattern=r"[a-z0-9][a-z0-9_-]{0,63}",
    )


@dataclass
class RecordingConfig:
    """Recording every frame the CAN source receives, to rotating compressed candump logs."""

    dir: str | None = key(
        None, "Folder to record into (candump .log.gz files: python-can and can-utils read them, SavvyCAN once"
        " gunzipped). Empty: no recording. `serve --record DIR` sets it.",
    )
    max_file_mb: float = key(16.0, "A new file is started when the current one reaches this many MB (compressed).",
                             min=0.01, max=4096.0)
    max_file_minutes: float = key(60.0, "...or when it is this many minutes old.", min=1.0, max=1440.0)
    max_total_mb: float = key(
        1024.0, "The recordings in the folder are kept below this many MB: the oldest files are deleted.",
        min=1.0, max=1_000_000.0,
    )
    flush_seconds: float = key(
        5.0, "Frames are written at least this often (or per 1 MiB): a power cut loses at most this many seconds.",
        min=0.5, max=600.0,
    )


@dataclass
class GpsConfig:
    """The GPS receiver."""

    enabled: bool = key(False, "Read position from a GPS receiver (real hardware mode).")
    source: str = key("serial", "serial: NMEA 0183 on a serial port; gpsd: a running gpsd.", choices=("serial", "gpsd"))
    port: str = key("/dev/serial0", "Serial device of the receiver (/dev/serial0 is a Pi's UART).")
    baud: int = key(9600, "Serial speed in baud.", choices=(4800, 9600, 19200, 38400, 57600, 115200, 230400, 460800))
    gpsd_host: str = key("127.0.0.1", "Host of gpsd when source = gpsd.")
    gpsd_port: int = key(2947, "Port of gpsd when source = gpsd.", min=1, max=65535)


@dataclass
class Dht11Config:
    """The cabin temperature and humidity sensor."""

    enabled: bool = key(False, "Read a DHT11/DHT22 sensor (real hardware mode).")
    pin: int = key(4, "BCM GPIO number of the sensor's data pin.", min=0, max=27)
    model: str = key("DHT11", "Sensor model.", choices=("DHT11", "DHT22"))
    interval: float = key(2.0, "Seconds between reads (the sensor allows one every 2 s at most).", min=2.0, max=3600.0)
    temperature_field: str = key(
        "cabin_temp", "Telemetry field the temperature goes to: cabin_temp (sensor inside) or ambient_temp (outside).",
        choices=("cabin_temp", "ambient_temp"),
    )
    smoothing: int = key(3, "Readings whose median is published (1: no smoothing); hides single bad reads.",
                         min=1, max=15)
    stale_after_failures: int = key(
        5, "Failed reads in a row after which the value is marked stale (failed reads are retried every 2.1 s).",
        min=1, max=100,
    )


@dataclass
class BluetoothConfig:
    """Bluetooth media through BlueZ."""

    enabled: bool = key(False, "Control Bluetooth media through BlueZ (real hardware mode).")
    adapter: str = key("hci0", "BlueZ adapter name.", pattern=r"hci[0-9]+")
    connect_timeout: float = key(
        30.0, "Seconds to wait for BlueZ to connect a device (connect_bluetooth) before answering unavailable.",
        min=1.0, max=300.0,
    )
    command_timeout: float = key(
        5.0, "Seconds to wait for BlueZ to carry out a media command (play, pause, volume...).", min=0.5, max=60.0,
    )


@dataclass
class MqttConfig:
    """The bridge to an MQTT broker for remote monitoring."""

    enabled: bool = key(False, "Mirror telemetry to an MQTT broker and accept remote commands.")
    broker: str = key("localhost", "Host name or address of the broker.")
    port: int = key(1883, "Broker port (8883 is usual with TLS).", min=1, max=65535)
    username: str | None = key(None, "User name, if the broker wants one.")
    password: str | None = key(None, "Password, if the broker wants one.", secret=True)
    client_id: str | None = key(
        None, "MQTT client id (unique per broker). Empty: evscreen-<vehicle_id>.", pattern=r"[\x21-\x7e]{1,128}"
    )
    vehicle_id: str | None = key(
        None, "This vehicle's id in topics. Empty: a stable id derived from this machine (hashed machine-id or MAC).",
        pattern=r"[A-Za-z0-9_.-]{1,64}",
    )
    topic_prefix: str | None = key(
        None, "Prefix of every topic (no wildcards, no leading or trailing /). Empty: evscreen/<vehicle_id>.",
        pattern=r"[^#+/$\x00][^#+/\x00]*(/[^#+/\x00]+)*",
    )
    protocol: str = key("3.1.1", "MQTT protocol version.", choices=("3.1.1", "5"))
    keepalive: int = key(
        60, "Seconds between keep-alive pings; a broker that stops answering is noticed within about twice this.",
        min=5, max=65535,
    )
    publish_interval: float = key(
        5.0, "Seconds between telemetry messages to the broker (independent of the screen's rate).",
        min=0.05, max=86400.0,
    )
    connect_timeout: float = key(10.0, "Seconds to wait for the broker to accept a connection.", min=0.5, max=300.0)
    reconnect_min_delay: float = key(1.0, "Seconds before the first reconnection attempt (then doubled, with jitter).",
                                     min=0.05, max=3600.0)
    reconnect_max_delay: float = key(120.0, "Longest wait between reconnection attempts, in seconds.",
                                     min=0.05, max=86400.0)
    tls: bool = key(False, "Connect with TLS (the broker's certificate is verified).")
    ca_cert: str | None = key(
        None, "CA certificate file (PEM) that signed the broker's certificate. Empty: the system's CAs."
    )
    client_cert: str | None = key(None, "Client certificate file (PEM), for brokers that want one (AWS IoT...).")
    client_key: str | None = key(None, "Private key of client_cert (PEM). Empty: the key is inside client_cert.")
    tls_insecure: bool = key(
        False, "DANGEROUS: accept any broker certificate (no verification, no host name check). Logged at every start."
    )
    outbox_max_messages: int = key(
        35000, "Most telemetry messages kept on disk while the broker is unreachable (35000 = 48 h at 5 s); "
        "beyond it the oldest are dropped.", min=10, max=10_000_000,
    )
    outbox_max_age_hours: float = key(
        48.0, "Telemetry older than this many hours is dropped from the outbox.", min=0.001, max=24.0 * 366,
    )
    state_deadband: float = key(
        1.0, "Scale of the per-field deadbands of the retained state topics (1 km/h, 0.5 °C, 0.0001° lat/lon...); "
        "0 publishes every change.", min=0.0, max=1000.0,
    )
    allowed_actions: list[str] = key(
        ["set_charge_limit", "set_regen_level", "set_drive_mode", "set_brightness", "set_theme",
         "toggle_predictions", "set_twin_mode", "play_music", "pause_music", "next_track", "previous_track",
         "set_volume"],
        "Actions accepted on the command topic (\"*\" allows every action); others get an unauthorized error.",
    )
    max_command_size: int = key(4096, "Largest command payload accepted, in bytes.", min=64, max=1024 * 1024)
    homeassistant: bool = key(False, "Publish Home Assistant MQTT discovery, so the car appears there as a device.")
    homeassistant_prefix: str = key(
        "homeassistant", "Home Assistant's discovery prefix.", pattern=r"[^#+/$\x00][^#+/\x00]*(/[^#+/\x00]+)*"
    )


@dataclass
class JournalConfig:
    """The trip and charge journal, and the predictions learned from it (docs/journal.md)."""

    enabled: bool = key(True, "Record trips and charge sessions in the data folder (`evscreen trips`, `charges`).")
    checkpoint_seconds: float = key(
        30.0, "Seconds between saves of the open trip or charge session (and at once when one starts or ends):"
        " a power cut loses at most this much of it; fewer saves spare the SD card.", min=1.0, max=3600.0,
    )


@dataclass
class Config:
    """The whole configuration, one attribute per ``[section]`` of the TOML file."""

    server: ServerConfig = field(default_factory=ServerConfig)
    viss: VissConfig = field(default_factory=VissConfig)
    simulation: SimulationConfig = field(default_factory=SimulationConfig)
    logging: LoggingConfig = field(default_factory=LoggingConfig)
    vehicle: VehicleConfig = field(default_factory=VehicleConfig)
    can: CanConfig = field(default_factory=CanConfig)
    obd: ObdConfig = field(default_factory=ObdConfig)
    recording: RecordingConfig = field(default_factory=RecordingConfig)
    gps: GpsConfig = field(default_factory=GpsConfig)
    dht11: Dht11Config = field(default_factory=Dht11Config)
    bluetooth: BluetoothConfig = field(default_factory=BluetoothConfig)
    mqtt: MqttConfig = field(default_factory=MqttConfig)
    journal: JournalConfig = field(default_factory=JournalConfig)


@dataclass(frozen=True)
class KeySpec:
    """One declared key, as the loader, ``config show`` and the docs see it."""

    section: str
    name: str
    type: Any
    default: Any
    help: str
    choices: tuple[Any, ...] | None
    min: float | None
    max: float | None
    secret: bool
    pattern: str | None

    @property
    def path(self) -> str:
        return f"{self.section}.{self.name}"

    @property
    def env_var(self) -> str:
        return f"{ENV_PREFIX}{self.section.upper()}__{self.name.upper()}"


def sections() -> dict[str, type]:
    hints = typing.get_type_hints(Config)
    return {f.name: hints[f.name] for f in dataclasses.fields(Config)}


def key_specs() -> list[KeySpec]:
    """Every config key, in declaration order."""
    specs = []
    for section, cls in sections().items():
        hints = typing.get_type_hints(cls)
        for f in dataclasses.fields(cls):
            # a field has a default or a default factory, never both (dataclasses refuses that)
            default = f.default_factory() if f.default_factory is not dataclasses.MISSING else f.default
            m = f.metadata
            specs.append(
                KeySpec(section, f.name, hints[f.name], default, m["help"], m["choices"], m["min"], m["max"],
                        m["secret"], m["pattern"])
            )
    return specs


