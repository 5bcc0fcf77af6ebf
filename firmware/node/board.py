# The board layer: buses, LEDs and the battery reading from /board.json. Drivers get these objects; nothing
# else in the firmware knows a pin number. The helpers themselves are in node/board_hw.py, loaded on first use
# (board.i2c(...), board.led(...), ...): a node that only talks to its radio never pays heap for them.
import json


class Board:
    def __init__(self, spec):
        self.spec = spec
        self.id = spec["id"]
        self._buses = {}

    def __getattr__(self, name):
        from node import board_hw

        f = getattr(board_hw, name)
        return lambda *a, **k: f(self, *a, **k)


def load(path="board.json"):
    with open(path) as f:
        return Board(json.load(f))
