"""Two adjustments to esptool internals, both output-neutral, that take out what several boards flashed at
once would each pay: hex dumps of every payload for trace messages nobody prints, and compressing one image
once per board."""

from __future__ import annotations

import hashlib
import threading


class _LengthOnly:
    """Stands in for esptool's HexFormatter. esptool builds its trace messages with f-strings, so every
    command hex-dumps its whole payload even with tracing off: about a second of CPU per MB written, which
    is what limits several boards flashed at once. We never trace; the length is all a message needs."""

    def __init__(self, data, auto_split=True):
        self._n = len(data)

    def __str__(self):
        return f"<{self._n} bytes>"


class _SharedCompression:
    """Stands in for the `zlib` module inside esptool.cmds: a tray of boards flashed with one image compresses
    it once (level 9 on 1.5 MB is a quarter of a second of CPU per board) instead of once per board. Same
    bytes out; everything else goes to zlib."""

    def __init__(self):
        import zlib

        self._zlib = zlib
        self._lock = threading.Lock()
        self._cache: dict[tuple[bytes, int], bytes] = {}
        self._pending: dict[tuple[bytes, int], threading.Event] = {}

    def __getattr__(self, name):
        return getattr(self._zlib, name)

    def compress(self, data, level=-1, **kw):
        if kw or len(data) < 64 * 1024:
            return self._zlib.compress(data, level, **kw)
        key = (hashlib.sha256(data).digest(), level)
        with self._lock:
            if key in self._cache:
                return self._cache[key]
            waiting = self._pending.get(key)
            if waiting is None:
                self._pending[key] = threading.Event()
        if waiting is not None:  # another board's job is compressing the same image: wait for it
            waiting.wait()
            with self._lock:
                if key in self._cache:
                    return self._cache[key]
            return self._zlib.compress(data, level)
        try:
            out = self._zlib.compress(data, level)
            with self._lock:
                while len(self._cache) >= 4:
                    self._cache.pop(next(iter(self._cache)))
                self._cache[key] = out
            return out
        finally:
            with self._lock:
                self._pending.pop(key).set()


def tune_esptool():
    import esptool.cmds
    import esptool.loader

    if getattr(esptool.loader, "HexFormatter", None) is not _LengthOnly:
        esptool.loader.HexFormatter = _LengthOnly
    if not isinstance(getattr(esptool.cmds, "zlib", None), _SharedCompression):
        esptool.cmds.zlib = _SharedCompression()


def forget_compressed_images() -> None:
    """Drop the shared compression cache (benchmarks measure a fresh `citynode flash` run)."""
    import esptool.cmds

    esptool.cmds.zlib = _SharedCompression()
