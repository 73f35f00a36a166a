"""Stand-in for adafruit-circuitpython-dht (tests only).

It reproduces the library's documented behaviour: a measurement only when more than 2 s passed
since the last one (sooner, the previous values come back), ``temperature`` and ``humidity``
properties that measure, RuntimeError with the library's exact messages, DHT11 and DHT22 byte
decoding with the checksum in byte 5, ``exit()`` that prints while releasing the pin. What the
"sensor" sends is scripted: each measurement takes the next frame of the test's script: five bytes,
or "incomplete" (some pulses, not 81) or "absent" (no pulses: nothing wired).
"""

import time

import board  # noqa: F401  (the real library imports Blinka's digitalio, which needs the board)
from dht_standin_script import log, noise, script

noise("adafruit_dht import")

#: The stand-in's clock; tests may replace it to step time instead of sleeping.
clock = time.monotonic
_frames_used = 0


def _next_frame():
    global _frames_used
    frames = script().get("frames", [])
    if not frames:
        return "absent"
    frame = frames[min(_frames_used, len(frames) - 1)]
    _frames_used += 1
    return frame


class DHTBase:
    def __init__(self, dht11, pin, trig_wait, use_pulseio=True):
        failure = script().get("construct_error")
        if failure == "pulsein":
            raise RuntimeError("Timed out waiting for PulseIn message. Make sure libgpiod is installed.")
        if failure == "permission":
            raise PermissionError(13, "Permission denied", "/dev/gpiomem")
        self._dht11 = dht11
        self._pin = pin
        self._last_called = 0
        self._temperature = None
        self._humidity = None
        self._use_pulseio = use_pulseio

    def exit(self):
        if self._use_pulseio:
            print("De-initializing self.pulse_in")
        log("exit_log", f"exit {self._pin!r}")

    def measure(self):
        now = clock()
        if self._last_called != 0 and now - self._last_called <= 2:
            return  # too soon: the previous values stay
        self._last_called = now
        log("measure_log", repr(now))
        frame = _next_frame()
        if frame == "absent":
            raise RuntimeError("DHT sensor not found, check wiring")
        if frame == "incomplete":
            raise RuntimeError("A full buffer was not returned. Try again.")
        buf = [b & 0xFF for b in frame]
        if self._dht11:
            humidity = buf[0]
            temperature = buf[2]
        else:
            humidity = ((buf[0] << 8) | buf[1]) / 10
            temperature = (((buf[2] & 0x7F) << 8) | buf[3]) / 10
            if buf[2] & 0x80:
                temperature = -temperature
        if sum(buf[0:4]) & 0xFF != buf[4]:
            raise RuntimeError("Checksum did not validate. Try again.")
        if humidity < 0 or humidity > 100:
            raise RuntimeError("Received unplausible data. Try again.")
        self._temperature = temperature
        self._humidity = humidity

    @property
    def temperature(self):
        self.measure()
        return self._temperature

    @property
    def humidity(self):
        self.measure()
        return self._humidity


class DHT11(DHTBase):
    def __init__(self, pin, use_pulseio=True):
        super().__init__(True, pin, 18000, use_pulseio)


class DHT22(DHTBase):
    def __init__(self, pin, use_pulseio=True):
        super().__init__(False, pin, 1000, use_pulseio)
