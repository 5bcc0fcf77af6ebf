"""Foundation figure: 24 virtual hours of 15-minute wakes of the minimal app, in both emulator modes."""

import tempfile

from bench import Spread, spread
from hil.emulator import EmulatedBoard


def _day(mode: str) -> Spread:
    with tempfile.TemporaryDirectory() as d, EmulatedBoard(mode=mode, flash_dir=d) as b:
        b.run(hours=1)  # warm the .mpy cache and the launcher outside the measurement

    def once():
        with tempfile.TemporaryDirectory() as d, EmulatedBoard(mode=mode, flash_dir=d) as b:
            r = b.run(hours=24)
            assert r.wakes == 96 and not r.halted
            return r.wall_s

    return spread(once, 5)


def run():
    inproc = _day("inprocess")
    proc = _day("process")
    return [
        ("24 h of 15-min wakes, minimal app, in-process", inproc.fmt(), "<= 0.5 s", inproc.max <= 0.5),
        ("24 h of 15-min wakes, minimal app, process per wake", proc.fmt(), "<= 3 s", proc.max <= 3.0),
    ]
