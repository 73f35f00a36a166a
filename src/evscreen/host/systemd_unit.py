"""The systemd unit for ``evscreen serve`` (pure text generation, plus where to write it)."""

from __future__ import annotations

import getpass
import os
import shutil
import sys
from dataclasses import dataclass
from pathlib import Path

from evscreen.config import data_dir, log_dir

WATCHDOG_SEC = 30
#: Groups that give access to the Pi's GPIO (DHT11), serial ports (GPS) and Bluetooth.
HARDWARE_GROUPS = ("gpio", "dialout", "bluetooth")
SYSTEM_UNIT_DIR = Path("/etc/systemd/system")


@dataclass(frozen=True)
class UnitPlan:
    path: Path
    text: str
    user_mode: bool
    writable: tuple[Path, ...]

    def next_steps(self) -> list[str]:
        ctl = "systemctl --user" if self.user_mode else "sudo systemctl"
        journal = "journalctl --user -u evscreen -f" if self.user_mode else "journalctl -u evscreen -f"
        steps = [f"{ctl} daemon-reload", f"{ctl} enable --now evscreen", journal]
        if self.user_mode:
            steps.append("sudo loginctl enable-linger $USER   # start at boot, before anyone logs in")
        return steps


def exec_start() -> str:
    """The command that runs this installation's evscreen, as an absolute path."""
    script = Path(sys.executable).with_name("evscreen")
    if script.is_file() and os.access(script, os.X_OK):
        return f"{script} serve"
    found = shutil.which("evscreen")
    if found:
        return f"{Path(found).resolve()} serve"
    return f"{sys.executable} -m evscreen serve"


def unit_text(*, user_mode: bool, user: str, exec_cmd: str, writable: list[Path]) -> str:
    lines = [
        "[Unit]",
        "Description=evscreen - EV infotainment screen backend",
        "Documentation=man:systemd.service(5)",
        "After=network-online.target bluetooth.target",
        "Wants=network-online.target",
        "StartLimitIntervalSec=0",
        "",
        "[Service]",
        "Type=notify",
        "NotifyAccess=main",
        f"ExecStart={exec_cmd}",
        "Restart=always",
        "RestartSec=2",
        f"WatchdogSec={WATCHDOG_SEC}",
        "TimeoutStopSec=15",
        "Environment=PYTHONUNBUFFERED=1",
        "NoNewPrivileges=yes",
    ]
    if not user_mode:
        lines += [
            f"User={user}",
            f"SupplementaryGroups={' '.join(HARDWARE_GROUPS)}",
            "ProtectSystem=strict",
            "ProtectHome=read-only",
            # "-": a missing path must not stop the service; `service install` creates them anyway.
            f"ReadWritePaths={' '.join('-' + str(p) for p in writable)}",
            "PrivateTmp=yes",
        ]
    lines += ["", "[Install]", f"WantedBy={'default.target' if user_mode else 'multi-user.target'}", ""]
    return "\n".join(lines)


def plan(user_mode: bool) -> UnitPlan:
    user = os.environ.get("SUDO_USER") or getpass.getuser()
    writable = [data_dir(), log_dir()]
    sudo_home = os.environ.get("SUDO_USER") and Path(os.path.expanduser(f"~{user}"))
    if sudo_home:  # `sudo evscreen service install`: the service's user, not root, owns the data
        root_home = str(Path.home())
        writable = [Path(str(p).replace(root_home, str(sudo_home), 1)) for p in writable]
    if user_mode:
        import platformdirs

        path = Path(platformdirs.user_config_dir("systemd")) / "user" / "evscreen.service"
    else:
        path = SYSTEM_UNIT_DIR / "evscreen.service"
    return UnitPlan(path, unit_text(user_mode=user_mode, user=user, exec_cmd=exec_start(), writable=writable),
                    user_mode, tuple(writable))
