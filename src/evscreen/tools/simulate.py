"""``evscreen simulate``: drive the simulated car as fast as the machine can and record its CAN bus.

The drive is the one ``evscreen serve`` shows for the same seed and settings (the same model,
itinerary and frames: :mod:`evscreen.sim.can_frames`), written as a candump log — one
``(timestamp) vcan0 ID#DATA`` line per frame, the format of ``candump -L`` that SavvyCAN,
``cantools decode``, python-can's ``CanutilsLogReader`` and ``evscreen can-dump`` read. Timestamps
are simulated seconds from the start of the drive, so one seed always gives the same file.

The file is written under a temporary name and renamed when complete: an interrupted run leaves
no half-written log, and an existing file is only replaced with ``--force``.
"""

from __future__ import annotations

import math
import os
import sys
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import TextIO

from evscreen.errors import UsageError
from evscreen.sim.can_frames import CarBus, Frame, drive_frames
from evscreen.sim.vehicle import VehicleModel

MAX_DURATION_S = 86_400.0  # one simulated day: about 1.2 GB of log
PROGRESS_EVERY_S = 0.25  # real seconds between progress updates on a terminal
CHANNEL = "vcan0"


@dataclass
class DriveSummary:
    simulated_s: float = 0.0
    frames: int = 0
    elapsed_s: float = 0.0
    distance_km: float = 0.0
    soc_start: float = 0.0
    soc_end: float = 0.0

    def line(self) -> str:
        speed = self.simulated_s / self.elapsed_s if self.elapsed_s > 0 else math.inf
        return (f"simulated {self.simulated_s:,.1f} s ({self.distance_km:.2f} km, SoC {self.soc_start:.1f} -> "
                f"{self.soc_end:.1f} %): {self.frames:,} frames in {self.elapsed_s:.1f} s, {speed:,.0f}x real time")


def parse_duration(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise UsageError(f"--duration: expected simulated seconds (e.g. 600), got {text!r}") from None
    if not math.isfinite(value) or not 0 < value <= MAX_DURATION_S:
        raise UsageError(f"--duration: must be more than 0 and at most {MAX_DURATION_S:g} s, got {text!r}")
    return value


def parse_seed(text: str) -> int:
    try:
        value = int(text, 10)
    except ValueError:
        raise UsageError(f"--seed: expected a whole number, got {text!r}") from None
    if not 0 <= value <= 2**63 - 1:
        raise UsageError(f"--seed: must be from 0 to 2^63-1, got {text!r}")
    return value


def parse_choice(option: str, text: str, choices: Iterable[str]) -> str:
    options = tuple(choices)
    if text not in options:
        raise UsageError(f"{option}: must be one of {', '.join(options)}, got {text!r}")
    return text


def candump_lines(frames: Iterable[Frame], channel: str = CHANNEL) -> str:
    """``(timestamp) channel ID#DATA`` lines, as ``candump -L`` writes them: 3 hex digits for an
    11-bit ID, 8 for a 29-bit one."""
    return "".join(
        f"({f.timestamp:.6f}) {channel} {f.arbitration_id:08X}#{f.data.hex().upper()}\n" if f.is_extended
        else f"({f.timestamp:.6f}) {channel} {f.arbitration_id:03X}#{f.data.hex().upper()}\n"
        for f in frames
    )


def record(model: VehicleModel, car_bus: CarBus, duration_s: float, out: TextIO,
           progress: Callable[[DriveSummary], None] | None = None) -> DriveSummary:
    """Drive ``model`` for ``duration_s`` simulated seconds, writing every frame to ``out``."""
    summary = DriveSummary(soc_start=model.battery.soc)
    odometer = model.odometer_m
    start = model.time_s
    began = time.perf_counter()
    shown = began - PROGRESS_EVERY_S  # the first step shows at once
    write = out.write
    for frames in drive_frames(model, car_bus, duration_s):
        write(candump_lines(frames))
        summary.frames += len(frames)
        if progress is not None:
            now = time.perf_counter()
            if now - shown >= PROGRESS_EVERY_S:
                shown = now
                summary.simulated_s = model.time_s - start
                summary.elapsed_s = now - began
                progress(summary)
    summary.simulated_s = duration_s
    summary.elapsed_s = time.perf_counter() - began
    summary.distance_km = (model.odometer_m - odometer) / 1000.0
    summary.soc_end = model.battery.soc
    return summary


def build_car(seed: int, drive_mode: str, regen_level: str, charge_limit: int, charge_every: int,
              cabin_set_point: float) -> tuple[VehicleModel, CarBus]:
    """The simulated car and its bus, as ``evscreen serve`` builds them (evscreen's DBC, default mapping)."""
    from evscreen.can.dbc.loader import load_decoder
    from evscreen.can.dbc.mapping import build_signal_map, mapping_table, parse_mapping

    model = VehicleModel(seed, charge_every=charge_every, cabin_set_point=cabin_set_point)
    model.set_drive_mode(drive_mode)
    model.set_regen_level(regen_level)
    model.set_charge_limit(charge_limit)
    decoder = load_decoder()
    signal_map = build_signal_map(parse_mapping(mapping_table({}, project_dbc=True)), decoder)
    return model, CarBus(decoder.spec, signal_map)


def open_output(path: Path, force: bool) -> tuple[TextIO, Path | None]:
    """A temporary file beside ``path`` (renamed over it when done) and its path."""
    if path.is_dir():
        raise UsageError(f"--output: {path} is a directory")
    if (path.exists() or path.is_symlink()) and not force:
        raise UsageError(f"--output: {path} already exists; use --force to overwrite it")
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    try:
        return tmp.open("w", encoding="ascii", newline="\n"), tmp
    except OSError as exc:
        raise UsageError(f"--output: cannot write {path}: {exc.strerror or exc}") from None


def parse_charge_limit(text: str) -> int:
    try:
        value = int(text, 10)
    except ValueError:
        value = -1
    if not 50 <= value <= 100:
        raise UsageError(f"--charge-limit: must be a whole number from 50 to 100 (%), got {text!r}")
    return value


def run_simulate(output: str | None, duration: str | None, seed: str | None, drive_mode: str, regen_level: str,
                 charge_limit: str, force: bool, config_file: Path | None = None) -> int:
    """The command: validate, drive, write; errors are :class:`UsageError` (exit code 2)."""
    from evscreen.config import load_config
    from evscreen.sim.modes import DRIVE_MODES, REGEN_DECEL

    if duration is None:
        raise UsageError("--duration SECONDS is required: how many simulated seconds to drive")
    if output is None:
        raise UsageError("--output FILE is required: the candump log to write ('-' for standard output)")
    duration_s = parse_duration(duration)
    sim = load_config(config_file).config.simulation
    seed_value = sim.seed if seed is None else parse_seed(seed)
    parse_choice("--drive-mode", drive_mode, DRIVE_MODES)
    parse_choice("--regen-level", regen_level, REGEN_DECEL)
    limit = parse_charge_limit(charge_limit)
    model, car_bus = build_car(seed_value, drive_mode, regen_level, limit, sim.charge_every, sim.cabin_set_point)
    terminal = sys.stderr.isatty()

    def progress(summary: DriveSummary) -> None:
        percent = 100.0 * summary.simulated_s / duration_s
        sys.stderr.write(f"\rsimulating: {summary.simulated_s:,.0f} of {duration_s:,.0f} s ({percent:.0f} %), "
                         f"{summary.frames:,} frames ")
        sys.stderr.flush()

    to_stdout = output == "-"
    if to_stdout:
        out, tmp = sys.stdout, None
    else:
        target = Path(output)
        out, tmp = open_output(target, force)
    try:
        summary = record(model, car_bus, duration_s, out, progress if terminal else None)
        if tmp is not None:
            out.close()
            os.replace(tmp, target)
        else:
            out.flush()
    except BaseException as exc:
        if tmp is not None:
            out.close()
            try:
                tmp.unlink()
            except OSError:
                pass
        if isinstance(exc, BrokenPipeError) and to_stdout:
            # Whoever read the log went away (`| head`): stop quietly, like other Unix tools.
            try:
                os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
            except OSError:
                pass
            return 0
        if isinstance(exc, OSError):
            raise UsageError(f"--output: cannot write {output}: {exc.strerror or exc}") from None
        raise
    if terminal:
        sys.stderr.write("\r\033[K")
    where = "standard output" if to_stdout else str(target)
    sys.stderr.write(f"{summary.line()}; wrote {where}\n")
    return 0
