"""Who may connect: token, bind rule, TLS, origins, connection limit, unread telemetry."""

from __future__ import annotations

import logging
import os
import socket
import subprocess
import time

import pytest
import trustme
from websockets.exceptions import InvalidStatus
from websockets.sync.client import connect

from conftest import evscreen_cmd, recv_json, recv_until
from evscreen.config import ServerConfig
from evscreen.errors import ConfigError
from evscreen.server.access import (
    check_bind,
    is_loopback,
    origin_allowed,
    presented_token,
    resolve_token,
    token_matches,
)

TOKEN = "s3cret-token-Xy9"


@pytest.mark.parametrize(("host", "loopback"), [("127.0.0.1", True), ("127.8.0.1", True), ("::1", True),
                                                ("localhost", True), ("0.0.0.0", False), ("::", False),
                                                ("192.168.1.20", False), ("car.local", False)])
def test_is_loopback(host, loopback):
    assert is_loopback(host) is loopback


def test_bind_rule():
    assert check_bind(ServerConfig(host="127.0.0.1"), None) is None
    assert check_bind(ServerConfig(host="0.0.0.0"), "t") is None
    with pytest.raises(ConfigError, match="server.host: '0.0.0.0' is reachable from the network.*token"):
        check_bind(ServerConfig(host="0.0.0.0"), None)
    assert "WITHOUT authentication" in check_bind(ServerConfig(host="0.0.0.0", insecure_no_auth=True), None)


def test_token_sources(tmp_path):
    assert resolve_token(ServerConfig(token="abc")) == "abc"
    assert resolve_token(ServerConfig()) is None
    path = tmp_path / "token"
    path.write_text("from-file\nignored\n")
    path.chmod(0o600)
    assert resolve_token(ServerConfig(token_file=str(path))) == "from-file"
    with pytest.raises(ConfigError, match="both set"):
        resolve_token(ServerConfig(token="a", token_file=str(path)))
    with pytest.raises(ConfigError, match="server.token_file: cannot read"):
        resolve_token(ServerConfig(token_file=str(tmp_path / "missing")))
    (tmp_path / "empty").write_text("")
    with pytest.raises(ConfigError, match="is empty"):
        resolve_token(ServerConfig(token_file=str(tmp_path / "empty")))


def test_presented_token_and_comparison():
    assert presented_token("Bearer abc", "/") == "abc"
    assert presented_token("bearer   abc ", "/") == "abc"
    assert presented_token(None, "/?token=xyz&x=1") == "xyz"
    assert presented_token("Basic Zm9v", "/") is None
    assert presented_token(None, "/") is None
    assert token_matches("abc", "abc")
    assert not token_matches("abc", "abd") and not token_matches("abc", None) and not token_matches("abc", "")
    assert not token_matches("abc", "\udcff")


def test_origins():
    assert origin_allowed(None, "car:8765", [])
    assert origin_allowed("http://car:8765", "car:8765", [])
    assert not origin_allowed("http://evil.example", "car:8765", [])
    assert origin_allowed("https://screen.local/", "car:8765", ["https://screen.local"])
    assert not origin_allowed("null", "car:8765", [])


def status_of(url, **kwargs):
    with pytest.raises(InvalidStatus) as info:
        connect(url, open_timeout=5, **kwargs)
    return info.value.response.status_code


def test_token_required_and_never_logged(live_server, caplog):
    server = live_server(**{"server.token": TOKEN})
    with caplog.at_level(logging.WARNING):
        assert status_of(server.url) == 401
        assert status_of(server.url, additional_headers={"Authorization": "Bearer wrong-" + TOKEN}) == 401
        assert status_of(server.url + "/?token=" + TOKEN[:-1]) == 401
    with connect(server.url, additional_headers={"Authorization": f"Bearer {TOKEN}"}) as ws:
        assert recv_json(ws)["type"] == "telemetry"
    with connect(server.url + f"/?token={TOKEN}") as ws:
        ws.send('{"action": "play_music"}')
        assert recv_until(ws, lambda m: m.get("type") == "response")["status"] == "success"
    assert "missing token" in caplog.text and "wrong token" in caplog.text
    assert TOKEN not in caplog.text and TOKEN[:-1] not in caplog.text
    assert server.runtime.server.refused["unauthorized"] == 3


def run(*args, env=None, timeout=30):
    return subprocess.run(evscreen_cmd(*args), capture_output=True, text=True, timeout=timeout,
                          env={**os.environ, **(env or {})})


def test_send_with_token(live_server):
    server = live_server(**{"server.token": TOKEN})
    assert run("send", "play_music", "--url", server.url, "--token", TOKEN).returncode == 0
    assert run("send", "play_music", "--url", server.url, env={"EVSCREEN_TOKEN": TOKEN}).returncode == 0
    refused = run("send", "play_music", "--url", server.url)
    assert refused.returncode == 3 and "missing or wrong token" in refused.stderr


def test_serve_refuses_a_network_address_without_token(port):
    result = run("serve", "--host", "0.0.0.0", "--port", str(port))
    assert result.returncode == 2
    assert "no token is set" in result.stderr and "EVSCREEN_SERVER__TOKEN" in result.stderr
    assert "--insecure-no-auth" in result.stderr and "Traceback" not in result.stderr


def test_insecure_no_auth_warns_at_start(serve_process):
    server = serve_process("--host", "0.0.0.0", "--insecure-no-auth", "--simulation", "on")
    code, err = server.stop()
    assert code == 0 and "WITHOUT authentication" in err and "NO AUTHENTICATION" in err


@pytest.fixture(scope="module")
def tls_files(tmp_path_factory):
    ca = trustme.CA()
    cert = ca.issue_cert("127.0.0.1", "localhost")
    folder = tmp_path_factory.mktemp("tls")
    ca.cert_pem.write_to_path(str(folder / "ca.pem"))
    cert.private_key_pem.write_to_path(str(folder / "key.pem"))
    cert.cert_chain_pems[0].write_to_path(str(folder / "cert.pem"))
    for pem in cert.cert_chain_pems[1:]:
        with open(folder / "cert.pem", "ab") as f:
            f.write(pem.bytes())
    return folder


def test_wss_with_token_and_ca(live_server, tls_files):
    server = live_server(**{"server.tls_cert": str(tls_files / "cert.pem"),
                            "server.tls_key": str(tls_files / "key.pem"), "server.token": TOKEN})
    url = server.url.replace("ws://", "wss://")
    ok = run("send", "set_drive_mode", "sport", "--url", url, "--token", TOKEN, "--ca-file", str(tls_files / "ca.pem"))
    assert ok.returncode == 0, ok.stderr
    unverified = run("send", "play_music", "--url", url, "--token", TOKEN)
    assert unverified.returncode == 3 and "CERTIFICATE_VERIFY_FAILED" in unverified.stderr
    assert "Traceback" not in unverified.stderr
    plain = run("send", "play_music", "--url", server.url, "--token", TOKEN, "--timeout", "3")
    assert plain.returncode == 3


def test_tls_config_errors(tmp_path, port):
    missing = run("serve", "--port", str(port), env={"EVSCREEN_SERVER__TLS_CERT": str(tmp_path / "nope.pem"),
                                                     "EVSCREEN_SERVER__TLS_KEY": str(tmp_path / "nope.key")})
    assert missing.returncode == 2 and "file not found" in missing.stderr
    (tmp_path / "junk.pem").write_text("not a certificate")
    junk = run("serve", "--port", str(port), env={"EVSCREEN_SERVER__TLS_CERT": str(tmp_path / "junk.pem"),
                                                  "EVSCREEN_SERVER__TLS_KEY": str(tmp_path / "junk.pem")})
    assert junk.returncode == 2 and "cannot load" in junk.stderr and "Traceback" not in junk.stderr
    half = run("serve", "--port", str(port), env={"EVSCREEN_SERVER__TLS_CERT": str(tmp_path / "junk.pem")})
    assert half.returncode == 2 and "must be set together" in half.stderr


def test_cross_site_origin_refused(live_server):
    server = live_server(**{"server.allowed_origins": ["https://screen.local"]})
    assert status_of(server.url, origin="http://evil.example") == 403
    with connect(server.url, origin="https://screen.local") as ws:
        recv_json(ws)
    host = server.url.removeprefix("ws://")
    with connect(server.url, origin=f"http://{host}") as ws:  # the built-in dashboard: same origin
        recv_json(ws)


def test_connection_limit(live_server):
    server = live_server(**{"server.max_connections": 2})
    with connect(server.url) as a, connect(server.url) as b:
        recv_json(a), recv_json(b)
        assert status_of(server.url) == 503
    time.sleep(0.3)
    with connect(server.url) as c:
        recv_json(c)


def test_client_that_never_reads_is_disconnected_after_stall_timeout(live_server, caplog):
    server = live_server(**{"server.telemetry_interval": 0.02, "server.stall_timeout": 1.0})
    sleeper = socket.socket()
    sleeper.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    sleeper.connect(("127.0.0.1", server.runtime.server.port))
    sleeper.sendall(b"GET / HTTP/1.1\r\nHost: 127.0.0.1\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
                    b"Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n")
    with caplog.at_level(logging.WARNING), sleeper, connect(server.url) as reader:
        deadline = time.monotonic() + 5
        while len(server.runtime.server.clients) < 2 and time.monotonic() < deadline:
            recv_json(reader)
        assert len(server.runtime.server.clients) == 2
        deadline = time.monotonic() + 15
        while len(server.runtime.server.clients) > 1 and time.monotonic() < deadline:
            recv_json(reader)
        assert len(server.runtime.server.clients) == 1
        recv_json(reader)
    assert "left telemetry unread" in caplog.text


def test_refusals_are_logged_once_per_interval_with_a_count(live_server, caplog):
    server = live_server(**{"server.token": TOKEN})
    with caplog.at_level(logging.WARNING):
        for _ in range(20):
            assert status_of(server.url) == 401
    refusals = [r for r in caplog.records if "missing token" in r.getMessage()]
    assert len(refusals) == 1  # not one line per attempt
    assert server.runtime.server.refused["unauthorized"] == 20


def test_throttled_log_counts_what_it_held_back(caplog):
    from evscreen.host.logthrottle import ThrottledLog

    now = [0.0]
    throttled = ThrottledLog(logging.getLogger("t"), 10.0, clock=lambda: now[0])
    with caplog.at_level(logging.WARNING):
        assert throttled.warning("k", "bus down")
        for _ in range(5):
            now[0] += 1
            assert not throttled.warning("k", "bus down")
        assert throttled.warning("other", "gps gone")
        now[0] = 11.0
        assert throttled.warning("k", "bus down")
    lines = [r.getMessage() for r in caplog.records]
    assert lines == ["bus down", "gps gone", "bus down (5 more like this in the last 11 s)"]


def test_serve_warns_when_the_config_file_with_secrets_is_readable_by_others(serve_process, tmp_path):
    config = tmp_path / "config.toml"
    config.write_text(f'[server]\ntoken = "{TOKEN}"\n')
    config.chmod(0o644)
    server = serve_process("--config", str(config), "--simulation", "on")
    code, err = server.stop()
    assert code == 0
    assert "holds secrets and other users can read it" in err and "chmod 600" in err
    assert TOKEN not in err  # nor is the token itself ever logged
