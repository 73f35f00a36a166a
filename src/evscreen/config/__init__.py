"""Configuration: the keys (``schema``), the one loader (``loader``) and the generated docs (``docs``).

The names below are the package's public face; ``from evscreen.config import Config, load_config``.
"""

from __future__ import annotations

from evscreen.config.loader import (
    LoadedConfig,
    data_dir,
    default_config_path,
    default_config_text,
    display_value,
    load_config,
    log_dir,
    secrets_readable_by_others,
    toml_value,
)
from evscreen.config.schema import (
    APP_NAME,
    CLIENT_ENV_VARS,
    ENV_PREFIX,
    BluetoothConfig,
    CanConfig,
    Config,
    Dht11Config,
    GpsConfig,
    JournalConfig,
    KeySpec,
    LoggingConfig,
    MqttConfig,
    ObdConfig,
    RecordingConfig,
    ServerConfig,
    SimulationConfig,
    VehicleConfig,
    VissConfig,
    key,
    key_specs,
    sections,
)

__all__ = [
    "APP_NAME", "CLIENT_ENV_VARS", "ENV_PREFIX", "BluetoothConfig", "CanConfig", "Config", "Dht11Config",
    "GpsConfig", "JournalConfig", "KeySpec", "LoadedConfig", "LoggingConfig", "MqttConfig", "ObdConfig",
    "RecordingConfig",
    "ServerConfig", "SimulationConfig", "VehicleConfig", "VissConfig", "data_dir", "default_config_path",
    "default_config_text", "display_value", "key", "key_specs", "load_config", "log_dir", "secrets_readable_by_others",
    "sections",
    "toml_value",
]
