"""Recording: every frame the CAN source receives, to rotating .log.gz files that survive SIGKILL."""

from __future__ import annotations

import asyncio
import dataclasses
import os
import random
import re
import signal
import subprocess
import threading
import time
from pathlib import Path
from typing import Any

import can
import pytest

from conftest import REPO, ServeProcess, evscreen_cmd, free_port, wait_for
from evscreen.can.logs import open_log
from evscreen.can.recording import Recorder, recordings
from evscreen.cli import _replay_flags
from evscreen.config import RecordingConfig, load_config
from evscreen.drivers.can import CanSource
from evscreen.state import VehicleState
from test_can_source import LoopThread

KONA_LOG = REPO / "tests" / "data" / "realdata" / "can" / "kona-ev" / "221217-1-2021-pcan-bcan-no-key.csv"


class FakeClock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def noisy_frames(n: int, seed: int = 1, t0: float = 1_700_000_000.0) -> list[can.Message]:
    """Frames with random payloads: they compress badly, so files fill at a known pace."""
    rng = random.Random(seed)
    return [can.Message(timestamp=t0 + i * 0.001, arbitration_id=rng.randrange(0x800), channel="can0",
                        data=rng.randbytes(8)) for i in range(n)]


def read_all(folder: Path) -> list[tuple[float, int, bytes]]:
    out = []
    for path, _ in recordings(folder):
        out += [(f.timestamp, f.arbitration_id, f.data) for f in open_log(path)]
    return out


def config(folder: Path, **changes: Any) -> RecordingConfig:
    return dataclasses.replace(RecordingConfig(), dir=str(folder), **changes)


# --- the recorder -------------------------------------------------------------------------------


def test_every_frame_is_written_in_order_and_reads_back(tmp_path: Path) -> None:
    frames = noisy_frames(60_000)  # more than one buffer
    recorder = Recorder(config(tmp_path))
    for msg in frames:
        recorder.add(msg)
    recorder.flush()
    assert recorder.stats.frames == len(frames) and recorder.stats.dropped == 0
    assert recorder.stats.writes >= 2  # large writes, not one per frame
    assert read_all(tmp_path) == [(round(m.timestamp, 6), m.arbitration_id, bytes(m.data)) for m in frames]
    (path, _), = recordings(tmp_path)
    assert [m.arbitration_id for m in can.LogReader(str(path))] == [m.arbitration_id for m in frames]  # python-can


def test_files_rotate_by_size_and_by_age_and_the_oldest_go_past_the_cap(tmp_path: Path) -> None:
    clock = FakeClock()
    recorder = Recorder(config(tmp_path, max_file_mb=0.05, max_file_minutes=1.0, max_total_mb=0.2, flush_seconds=1.0),
                        clock=clock, wall=lambda: 1_700_000_000.0 + clock.now)
    frames = noisy_frames(40_000)
    for i, msg in enumerate(frames):
        recorder.add(msg)
        if i % 500 == 499:
            clock.now += 0.1
            recorder.tick()
            recorder.flush()
    recorder.flush()
    files = recordings(tmp_path)
    assert recorder.stats.files > len(files) >= 3 and recorder.stats.deleted == recorder.stats.files - len(files)
    sizes = [size for _, size in files]
    assert sum(sizes[:-1]) <= 0.2 * 1048576  # the cap holds (the file being written counts last)
    assert all(size >= 0.05 * 1048576 for size in sizes[:-1])  # each rotated when it reached max_file_mb
    # What is kept is the newest part of the drive, intact and in order.
    kept = read_all(tmp_path)
    tail = [(round(m.timestamp, 6), m.arbitration_id, bytes(m.data)) for m in frames[-len(kept):]]
    assert kept == tail

    # By age: a quiet bus still starts a new file once the current one is max_file_minutes old.
    before = recorder.stats.files
    recorder.add(frames[0])
    recorder.flush()
    clock.now += 61.0
    recorder.add(frames[1])
    recorder.flush()
    assert recorder.stats.files == before + 1


def test_buffers_wait_for_flush_seconds_not_for_every_frame(tmp_path: Path) -> None:
    clock = FakeClock()
    recorder = Recorder(config(tmp_path, flush_seconds=5.0), clock=clock)
    for msg in noisy_frames(100):
        recorder.add(msg)
    recorder.tick()
    assert recorder.stats.writes == 0 and recordings(tmp_path) == []  # nothing yet: 100 frames, 0 s
    clock.now += 5.0
    recorder.tick()
    wait_for(lambda: recorder.stats.writes == 1)
    assert len(read_all(tmp_path)) == 100


def test_a_folder_that_cannot_be_written_is_a_config_error(tmp_path: Path) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("x")
    inside = blocker / "recordings"  # a folder inside a file: it can never be created
    out = subprocess.run(evscreen_cmd("serve", "--port", "1", "--simulation", "on", "--record", str(inside)),
                         capture_output=True, text=True, timeout=60, check=False)
    assert out.returncode == 2
    assert f"error: recording.dir: cannot write recordings into {inside}: Not a directory" in out.stderr


def test_a_disk_that_fails_drops_frames_without_stopping_the_recorder(tmp_path: Path,
                                                                     caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level("INFO", "evscreen.can.recording")
    folder = tmp_path / "rec"
    recorder = Recorder(config(folder))
    recorder.add(noisy_frames(1)[0])
    recorder.flush()
    (path, _), = recordings(folder)
    path.unlink()
    folder.rmdir()
    folder.write_text("the card went read-only")  # the folder is gone: every write fails now
    for msg in noisy_frames(10):
        recorder.add(msg)
    recorder.flush()
    assert recorder.stats.dropped == 10
    assert "recording: cannot write to" in caplog.text
    folder.unlink()  # the card is back
    recorder.add(noisy_frames(1)[0])
    recorder.flush()
    assert recorder.stats.frames == 2 and "recording: writing to" in caplog.text


# --- serve --record ------------------------------------------------------------------------------------


def test_a_recording_of_the_simulated_car_replays_to_the_same_telemetry(live_server: Any, tmp_path: Path) -> None:
    folder = tmp_path / "rec"
    rt = live_server(**{"recording.dir": str(folder)})
    rt.wait_for_values()
    sources = {s.name: s for s in rt.runtime.sources}
    sim, recorded = sources["simulation"], sources["can"]
    wait_for(lambda: recorded.stats.frames > 2000)  # a few seconds of driving: every message, every block

    async def stop_the_car() -> None:
        task = next(t for t in rt.runtime.tasks if t.get_name() == "source-simulation")
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)

    rt.call(stop_the_car())
    wait_for(lambda: recorded.stats.frames == sim.frames_sent)  # every frame sent has been received

    async def settled() -> bool:
        return not recorded._scheduled and not recorded._pending

    wait_for(lambda: rt.call(settled()))
    paths = [p for p in recorded.signal_map.refs if not p.startswith("feedback.")]

    async def values() -> dict[str, Any]:
        return {p: recorded.state.get(p) for p in paths}

    expected = rt.call(values())
    feedback = dict(recorded.feedback)
    rt.call(asyncio.to_thread(recorded.recorder.flush))
    assert recorded.recorder.stats.frames == recorded.stats.frames > 1000
    (log_file, _), = recordings(folder)

    # The recording, replayed as fast as possible through a CAN source of its own.
    replayed = CanSource(load_config(env={}, flags=_replay_flags(log_file, 0.0, None, False, None)).config,
                         VehicleState())
    lt = LoopThread(replayed)
    try:
        wait_for(lambda: replayed.stats.frames == recorded.stats.frames, timeout=60)
        wait_for(lambda: lt.call(lambda: not replayed._scheduled and not replayed._pending))
        got = lt.call(lambda: {p: replayed.state.get(p) for p in paths})
    finally:
        lt.stop()
    assert None not in expected.values()
    assert got == expected
    assert replayed.feedback == feedback


def test_sigkill_mid_recording_keeps_every_complete_file_and_the_flushed_part(tmp_path: Path) -> None:
    folder = tmp_path / "rec"
    server = ServeProcess(free_port(), "--simulation", "on", "--sim-speed", "50", "--record", str(folder),
                          env={"EVSCREEN_RECORDING__MAX_FILE_MB": "0.01", "EVSCREEN_RECORDING__FLUSH_SECONDS": "0.5"})
    server.start()
    try:
        wait_for(lambda: len(recordings(folder)) >= 4, timeout=90)
    finally:
        code, _ = server.stop(signal.SIGKILL)
    assert code == -signal.SIGKILL
    files = [path for path, _ in recordings(folder)]
    last = None
    for path in files[:-1]:  # complete files: every frame, no warning, python-can agrees
        reader = open_log(path)
        frames = list(reader)
        assert frames and reader.corrupt == 0 and not reader.stopped_early, path
        assert len(frames) == sum(1 for _ in can.LogReader(str(path)))
        stamps = [f.timestamp for f in frames]
        assert stamps == sorted(stamps) and (last is None or last <= stamps[0])
        last = stamps[-1]
    reader = open_log(files[-1])  # the file being written: what was flushed reads back, then it stops
    tail = list(reader)
    assert all(f.kind == 0 for f in tail)
    if tail:
        assert last is not None and last <= tail[0].timestamp


def test_can_dump_output_saves_what_it_reads_from_a_live_bus(tmp_path: Path) -> None:
    from evscreen.tools.can_dump.command import main as can_dump_main

    out = tmp_path / "drive.log.gz"
    channel = f"dump-{os.getpid()}"
    result: list[int] = []
    dump = threading.Thread(target=lambda: result.append(can_dump_main(
        ["--interface", "virtual", "--channel", channel, "--count", "300", "--format", "jsonl", "--output",
         str(out)])))
    tx = can.Bus(interface="virtual", channel=channel)
    try:
        dump.start()
        number = 0
        while dump.is_alive():  # numbered frames until can-dump has its 300 (it joins the bus at some point)
            tx.send(can.Message(arbitration_id=0x123, data=number.to_bytes(4, "big")))
            number += 1
            time.sleep(0.001)
        dump.join()
    finally:
        tx.shutdown()
    assert result == [0]
    numbers = [int.from_bytes(f.data, "big") for f in open_log(out)]
    assert len(numbers) == 300 and numbers == list(range(numbers[0], numbers[0] + 300))  # every frame, in order


def test_can_dump_output_from_a_log_and_its_errors(tmp_path: Path) -> None:
    out = tmp_path / "kona.blf"
    run = subprocess.run(evscreen_cmd("can-dump", "--file", str(KONA_LOG), "--vehicle", "hyundai-kona-ev",
                                      "--format", "jsonl", "--output", str(out)),
                         capture_output=True, text=True, timeout=60, check=False)
    assert run.returncode == 0 and f"saved 14294 frames to {out}" in run.stderr
    assert [(f.arbitration_id, f.data) for f in open_log(out)] == [(f.arbitration_id, f.data)
                                                                    for f in open_log(KONA_LOG)]
    for args, error in (
        (["--output", str(tmp_path / "x.txt")], "--output: .*x.txt must end in one of .log, .log.gz, .blf"),
        (["--output", str(tmp_path / "no" / "dir" / "x.log")], "--output: cannot write"),
        (["--vehicle", "hyundai-kona-ev", "--dbc", str(KONA_LOG)], "--dbc and --vehicle both name the DBC"),
        (["--vehicle", "nope"], "vehicle.name: no vehicle profile 'nope'"),
    ):
        run = subprocess.run(evscreen_cmd("can-dump", "--file", str(KONA_LOG), "--format", "line", *args),
                             capture_output=True, text=True, timeout=60, check=False)
        assert run.returncode == 2, run.stderr
        assert re.search(error, run.stderr), run.stderr
