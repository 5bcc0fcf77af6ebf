"""Many emulated nodes on one network: a city's worth of boards sharing a radio, a network server and a few
interpreters.

    with Swarm(1300, app="classair", scenario="school-day") as swarm:
        swarm.run(hours=24)
        print(swarm.summary())

Boards boot in virtual-time order (always the one furthest behind, from a heap), so frames reach the air and
the collision model in time order, to within one wake. In-process interpreters are pooled: a node that goes to
deep sleep hands its interpreter to the next node due, so 1,300 nodes need a handful of processes, not 1,300.
Node start times are spread over the first period so they don't all join in the same second.
"""

from __future__ import annotations

import hashlib
import heapq
import math
import random
import shutil
import tempfile
import threading
import time
from pathlib import Path

from hil.emulator import DEFAULT_START, EmulatedBoard, InterpreterPool, _us
from hil.network import attach_network
from hil.radio import Radio
from hil.worlds import make_world


def node_identity(i: int, seed: int = 0) -> tuple[str, str, str]:
    """A deterministic DevEUI/JoinEUI/AppKey for emulated node i (locally administered EUIs)."""
    app_key = hashlib.sha256(f"citynode-swarm-{seed}-{i}".encode()).hexdigest()[:32]
    return f"02c17e{i:010x}", "02c17e0de0000000", app_key


def _serialise(radio: Radio) -> None:
    """Make one radio (and the network server behind it) safe to call from several supervisor threads."""
    lock = threading.RLock()
    handle, flush = radio.handle, radio.flush

    def locked_handle(op, msg, board):
        with lock:
            return handle(op, msg, board)

    def locked_flush(board):
        with lock:
            return flush(board)

    radio.handle, radio.flush = locked_handle, locked_flush


class Swarm:
    def __init__(
        self,
        n: int,
        *,
        app: str = "classair",
        board: str = "heltec-wifi-lora32-v3",
        scenario: str | None = None,
        seed: int = 0,
        start=DEFAULT_START,
        spread_s: float = 900.0,
        radius_m: float = 3000.0,
        base_dir: str | Path | None = None,
        radio: Radio | None = None,
        distinct_worlds: int = 48,
    ):
        self._tmp = None
        if base_dir is None:
            self._tmp = tempfile.mkdtemp(prefix="citynode-swarm-")
            base_dir = self._tmp
        self.base = Path(base_dir)
        self.pool = InterpreterPool()
        self.radio = radio or Radio(seed=seed, keep_frames=False)
        _serialise(self.radio)
        rng = random.Random(seed)
        t0 = _us(start)
        # Nodes share a set of distinct worlds (classrooms, streets, ...): a world is a function of time, so
        # sharing changes nothing for a node, and 1,300 separate simulations of a room would dominate the run.
        worlds = [make_world(scenario, start_us=t0, seed=seed + k) for k in range(min(n, distinct_worlds))]
        self.boards: list[EmulatedBoard] = []
        for i in range(n):
            b = EmulatedBoard(
                board,
                app,
                flash_dir=self.base / f"node{i:05d}",
                world=worlds[i % len(worlds)],
                seed=seed + i,
                start=t0 / 1e6 + rng.uniform(0, spread_s),
                pool=self.pool,
            )
            # Nodes spread over a disc around the gateway, denser near the centre as a city is.
            r, a = radius_m * math.sqrt(rng.random()), rng.uniform(0, 2 * math.pi)
            dev_eui, join_eui, app_key = node_identity(i, seed)
            attach_network(
                b,
                dev_eui=dev_eui,
                join_eui=join_eui,
                app_key=app_key,
                radio=self.radio,
                position=(r * math.cos(a), r * math.sin(a)),
            )
            self.boards.append(b)
        self.boots = 0
        self.wall_s = 0.0

    def run(self, *, hours: float, workers: int = 2) -> None:
        """Boot nodes in virtual-time order until `hours` have passed for all. `workers` boards boot at once
        (each with its own interpreter, so a 2-core machine keeps both cores busy); the shared radio and
        network server are serialised, and concurrent boots are the earliest due, within one wake of each
        other: the same approximation as one at a time."""
        until = min(b.t_us for b in self.boards) + int(hours * 3600e6)
        queue = [(b.t_us, i) for i, b in enumerate(self.boards)]
        heapq.heapify(queue)
        lock = threading.Lock()
        errors: list[BaseException] = []

        def worker():
            while not errors:
                with lock:
                    while queue:
                        t, i = heapq.heappop(queue)
                        b = self.boards[i]
                        if not b.halted and t < until:
                            break
                    else:
                        return
                try:
                    b.wake_once()
                except BaseException as e:  # surface model bugs from the thread
                    errors.append(e)
                    return
                with lock:
                    self.boots += 1
                    if not b.halted:
                        heapq.heappush(queue, (b.t_us, i))

        wall0 = time.perf_counter()
        threads = [threading.Thread(target=worker, daemon=True) for _ in range(max(1, workers))]
        for th in threads:
            th.start()
        for th in threads:
            th.join()
        if errors:
            raise errors[0]
        self.wall_s += time.perf_counter() - wall0

    def summary(self) -> dict:
        halted = [i for i, b in enumerate(self.boards) if b.halted]
        server = self.radio.server.summary()
        return {
            "nodes": len(self.boards),
            "boots": self.boots,
            "wall_s": round(self.wall_s, 2),
            "interpreters": self.pool.spawned,
            "halted": halted,
            "server": server,
            "radio": dict(self.radio.counters),
        }

    def close(self):
        for b in self.boards:
            b.close()
        self.pool.close()
        if self._tmp:
            shutil.rmtree(self._tmp, ignore_errors=True)

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()
