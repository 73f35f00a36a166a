"""The one config loader: precedence, validation and every error path, and the config commands."""

from __future__ import annotations

import json
import re
import subprocess
import sys

import pytest
from hypothesis import given
from hypothesis import strategies as st

from conftest import evscreen_cmd
from evscreen.config import default_config_text, key_specs, load_config, secrets_readable_by_others, toml_value
from evscreen.errors import ConfigError


def write(tmp_path, text):
    path = tmp_path / "config.toml"
    path.write_text(text)
    return path


def test_defaults_without_a_file():
    loaded = load_config(env={})
    assert loaded.config.server.port == 8765
    assert loaded.config.server.host == "127.0.0.1"
    assert loaded.config.server.telemetry_interval == 1.0
    assert loaded.config.simulation.mode == "auto"
    assert not loaded.file_found
    assert set(loaded.origins.values()) == {"default"}


def test_precedence_default_file_env_flag(tmp_path):
    path = write(tmp_path, "[server]\nport = 9000\nhost = '0.0.0.0'\ntelemetry_interval = 0.5\n")
    env = {"EVSCREEN_SERVER__PORT": "9100", "EVSCREEN_SERVER__TELEMETRY_INTERVAL": "0.25"}
    loaded = load_config(path, env=env, flags={"server.port": 9200, "server.host": None})
    server = loaded.config.server
    assert (server.port, server.telemetry_interval, server.host) == (9200, 0.25, "0.0.0.0")
    assert loaded.origins["server.port"] == "flag"
    assert loaded.origins["server.telemetry_interval"] == "env"
    assert loaded.origins["server.host"] == "file"
    assert loaded.origins["server.max_message_size"] == "default"


def test_default_file_location_is_read(isolated_dirs):
    from evscreen.config import default_config_path

    path = default_config_path()
    assert str(path).startswith(str(isolated_dirs))
    path.parent.mkdir(parents=True)
    path.write_text("[simulation]\nmode = 'on'\n")
    loaded = load_config(env={})
    assert loaded.config.simulation.mode == "on" and loaded.file_found


def test_env_parses_types():
    loaded = load_config(env={"EVSCREEN_CAN__ENABLED": "yes", "EVSCREEN_MQTT__BROKER": "10.0.0.5",
                              "EVSCREEN_LOGGING__FILE": "", "EVSCREEN_SERVER__PORT": "0x2000"})
    assert loaded.config.can.enabled is True
    assert loaded.config.mqtt.broker == "10.0.0.5"
    assert loaded.config.logging.file is None
    assert loaded.config.server.port == 0x2000


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("[mqtt]\nport = 0\n", "mqtt.port: must be an integer from 1 to 65535, got 0"),
        ("[server]\nport = '8765'\n", "server.port: must be an integer from 1 to 65535, got '8765'"),
        ("[server]\nport = true\n", "server.port: must be an integer"),
        ("[server]\ntelemetry_interval = 0.001\n", "server.telemetry_interval: must be a number from 0.02 to 60"),
        ("[server]\ntelemetry_interval = nan\n", "server.telemetry_interval: must be a number"),
        ("[simulation]\nmode = 'maybe'\n", "simulation.mode: must be one of 'auto', 'on', 'off', got 'maybe'"),
        ("[server]\nprot = 1\n", "server.prot: unknown key (allowed in [server]: host, port"),
        ("[serverr]\nport = 1\n", "serverr: unknown section"),
        ("server = 5\n", "server: must be a table"),
        ("[can]\nenabled = 'yes'\n", "can.enabled: must be true or false, got 'yes'"),
        ("[can]\nsignals = {speed = 5}\n", "can.signals: must be a table of strings"),
        ("[bluetooth]\nadapter = 'eth0'\n", "bluetooth.adapter: must match"),
        ("[logging]\nlevel = 'loud'\n", "logging.level: must be one of"),
    ],
)
def test_invalid_file_values_name_the_key(tmp_path, text, message):
    path = write(tmp_path, text)
    with pytest.raises(ConfigError) as info:
        load_config(path, env={})
    assert message in str(info.value)
    assert "\n" not in str(info.value)


def test_malformed_toml_names_file_line_and_column(tmp_path):
    path = write(tmp_path, "[server]\nport = 8765\nhost = \n")
    with pytest.raises(ConfigError) as info:
        load_config(path, env={})
    text = str(info.value)
    assert str(path) in text and "line 3" in text and "column" in text


def test_binary_garbage_file(tmp_path):
    path = tmp_path / "config.toml"
    path.write_bytes(b"\xff\xfe\x00garbage")
    with pytest.raises(ConfigError, match="cannot read config file|invalid TOML"):
        load_config(path, env={})


def test_missing_explicit_file(tmp_path):
    with pytest.raises(ConfigError, match="config file not found"):
        load_config(tmp_path / "nope.toml", env={})


@pytest.mark.parametrize(
    ("env", "message"),
    [
        ({"EVSCREEN_SERVER__PORT": "abc"}, "EVSCREEN_SERVER__PORT: must be an integer from 1 to 65535, got 'abc'"),
        ({"EVSCREEN_SERVER__PORT": "70000"}, "EVSCREEN_SERVER__PORT (server.port): must be an integer from 1 to 65535"),
        ({"EVSCREEN_SERVER__NOPE": "1"}, "EVSCREEN_SERVER__NOPE: no config key server.nope"),
        ({"EVSCREEN_PORT": "1"}, "EVSCREEN_PORT: not a config variable"),
        ({"EVSCREEN_CAN__ENABLED": "sometimes"}, "EVSCREEN_CAN__ENABLED: must be true or false"),
        ({"EVSCREEN_CAN__SIGNALS": "x"}, "set it in the config file"),
    ],
)
def test_invalid_env_values(env, message):
    with pytest.raises(ConfigError) as info:
        load_config(env=env)
    assert message in str(info.value)


def test_client_tool_variables_are_not_config_keys():
    env = {"EVSCREEN_TOKEN": "t", "EVSCREEN_URL": "ws://car:8765", "EVSCREEN_CA_FILE": "/ca.pem",
           "EVSCREEN_CONFIG": "/x.toml", "EVSCREEN_SERVER__PORT": "9000"}
    loaded = load_config(env=env)
    assert loaded.config.server.port == 9000 and loaded.config.server.token is None


def test_invalid_flag_value():
    with pytest.raises(ConfigError, match="server.port: must be an integer from 1 to 65535, got 0"):
        load_config(env={}, flags={"server.port": 0})


def test_default_config_text_is_valid_and_complete(tmp_path):
    text = default_config_text()
    for spec in key_specs():
        assert f"\n#{spec.name} = " in text
    # Uncommenting every key gives a file that loads to the defaults.
    uncommented = "\n".join(re.sub(r"^#(\w+ = )", r"\1", line) for line in text.splitlines())
    loaded = load_config(write(tmp_path, uncommented), env={})
    assert all(origin == "file" for origin in loaded.origins.values())
    assert load_config(env={}).config == loaded.config


HOSTILE_STRINGS = [
    "line one\nline two", "a\tb", 'say "hi"', "C:\\Users\\me\\", "\\n is not a newline", "\r\n",
    "".join(chr(c) for c in range(0x20)) + "\x7f", "end with a backslash\\", '"""', "'''", "# not a comment",
    "x = 1\n[server]\nport = 2", "café, 日本語, 🚗, \u200b, \U0010ffff", "\x1b[31mred\x1b[0m", "",
]


def _read_back(value):
    if sys.version_info >= (3, 11):
        import tomllib
    else:
        import tomli as tomllib
    return tomllib.loads(f"v = {toml_value(value)}\n")["v"]


@pytest.mark.parametrize("text", HOSTILE_STRINGS)
def test_toml_value_strings_read_back_unchanged(text):
    assert _read_back(text) == text
    assert _read_back([text, text]) == [text, text]
    assert _read_back({text: text}) == {text: text}  # as a key of an inline table too
    assert "\n" not in toml_value(text)  # one line, as config show and config init need


@given(st.text())
def test_toml_value_any_string_reads_back_unchanged(text):
    assert _read_back(text) == text


def test_secret_file_permissions_warning(tmp_path):
    path = write(tmp_path, "[mqtt]\npassword = 'hunter2'\n")
    path.chmod(0o644)
    assert secrets_readable_by_others(load_config(path, env={}))
    path.chmod(0o600)
    assert not secrets_readable_by_others(load_config(path, env={}))


def run(*args, env=None):
    import os

    return subprocess.run(evscreen_cmd(*args), capture_output=True, text=True, timeout=30,
                          env={**os.environ, **(env or {})})


def test_config_show_reports_origins_and_masks_secrets(tmp_path):
    path = write(tmp_path, "[mqtt]\npassword = 'hunter2'\nbroker = 'example.net'\n")
    result = run("config", "show", "--json", "--config", str(path), env={"EVSCREEN_SERVER__PORT": "9001"})
    assert result.returncode == 0, result.stderr
    shown = json.loads(result.stdout)
    assert shown["server.port"] == {"value": 9001, "source": "env"}
    assert shown["mqtt.broker"] == {"value": "example.net", "source": "file"}
    assert shown["mqtt.password"] == {"value": "********", "source": "file"}
    assert "hunter2" not in result.stdout + result.stderr
    table = run("config", "show", "--config", str(path))
    assert table.returncode == 0 and "hunter2" not in table.stdout and "mqtt.password" in table.stdout


def test_config_init_writes_and_refuses_to_overwrite(tmp_path):
    target = tmp_path / "sub" / "config.toml"
    first = run("config", "init", "--path", str(target))
    assert first.returncode == 0 and target.read_text() == default_config_text()
    second = run("config", "init", "--path", str(target))
    assert second.returncode == 2 and "--force" in second.stderr
    third = run("config", "init", "--path", str(target), "--force")
    assert third.returncode == 0


def test_config_init_default_location_then_show_reads_it(isolated_dirs):
    assert run("config", "init").returncode == 0
    shown = run("config", "show", "--json")
    assert shown.returncode == 0 and json.loads(shown.stdout)["server.port"]["source"] == "default"


def test_config_init_writes_where_evscreen_config_points(tmp_path, isolated_dirs):
    """EVSCREEN_CONFIG names the file for `serve` and `config show`; `config init` must write that one."""
    target = tmp_path / "car" / "evscreen.toml"
    env = {"EVSCREEN_CONFIG": str(target)}
    written = run("config", "init", env=env)
    assert written.returncode == 0 and str(target) in written.stdout, written.stderr
    assert target.read_text() == default_config_text()
    shown = run("config", "show", "--json", env=env)
    assert shown.returncode == 0, shown.stderr
    again = run("config", "init", env=env)
    assert again.returncode == 2 and str(target) in again.stderr and "--force" in again.stderr
    elsewhere = tmp_path / "explicit.toml"
    assert run("config", "init", "--path", str(elsewhere), env=env).returncode == 0 and elsewhere.exists()


def test_config_path_lists_paths(isolated_dirs):
    result = run("config", "path")
    assert result.returncode == 0
    lines = dict(line.split(":", 1) for line in result.stdout.splitlines())
    assert set(lines) == {"config", "data", "logs"}
    assert str(isolated_dirs) in lines["config"] and str(isolated_dirs) in lines["data"]


@pytest.mark.parametrize(
    ("args", "env", "needle"),
    [
        (("serve", "--port", "0"), {}, "server.port: must be an integer from 1 to 65535, got 0"),
        (("serve",), {"EVSCREEN_SERVER__PORT": "http"}, "EVSCREEN_SERVER__PORT"),
        (("serve", "--simulation", "maybe"), {}, "simulation.mode: must be one of"),
        (("serve", "--telemetry-interval", "0"), {}, "server.telemetry_interval"),
        (("config", "show", "--config", "/nonexistent/evscreen.toml"), {}, "config file not found"),
    ],
)
def test_cli_config_errors_are_one_line_and_exit_2(args, env, needle):
    result = run(*args, env=env)
    assert result.returncode == 2
    assert needle in result.stderr
    assert "Traceback" not in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1


def test_cli_malformed_file_exit_2(tmp_path):
    path = write(tmp_path, "[server\nport = 1\n")
    result = run("serve", "--config", str(path))
    assert result.returncode == 2 and "line 1" in result.stderr and "Traceback" not in result.stderr


def test_version_and_help():
    from evscreen import __version__

    version = run("--version")
    assert version.returncode == 0 and version.stdout.strip() == f"evscreen {__version__}"
    result = run("--help")
    assert result.returncode == 0
    for command in ("serve", "send", "watch", "config"):
        assert command in result.stdout
    module = subprocess.run([sys.executable, "-m", "evscreen", "--version"], capture_output=True, text=True)
    assert module.stdout == version.stdout
