"""Stand-in for Blinka's ``board`` module (tests only): pins D0..D27, or the import failures
Blinka produces off a Raspberry Pi, as the test's script asks."""

from dht_standin_script import noise, script

noise("board import")

_failure = script().get("import_error")
if _failure == "notimplemented":
    raise NotImplementedError(
        """
        Adafruit-Blinka version 8.50.0 was unable to identify the board and/or
        microcontroller running the Linux platform. Please be sure you
        have the latest packages running: 'pip3 install --upgrade adafruit-blinka adafruit-platformdetect'
        """
    )
if _failure == "runtime":
    raise RuntimeError("This module can only be run on a Raspberry Pi!")


class Pin:
    def __init__(self, number: int) -> None:
        self.id = number

    def __repr__(self) -> str:
        return f"board.D{self.id}"


for _n in script().get("pins", range(28)):
    globals()[f"D{_n}"] = Pin(_n)
