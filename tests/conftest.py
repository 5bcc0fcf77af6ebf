import pytest

from hil.emulator import EmulatedBoard
from hil.mpyrun import run_mpy


@pytest.fixture
def mpy():
    """Run code under the MicroPython unix port: `mpy("print(1)") == "1\\n"`."""
    return run_mpy


@pytest.fixture
def make_board(tmp_path):
    """Factory for emulated boards with their flash in tmp_path; closed at the end of the test."""
    made = []

    def factory(board="heltec-wifi-lora32-v3", app="counter", **kw):
        kw.setdefault("flash_dir", tmp_path / f"flash{len(made)}")
        b = EmulatedBoard(board, app, **kw)
        made.append(b)
        return b

    yield factory
    for b in made:
        b.close()
