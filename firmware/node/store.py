# Persistent state: the one place for values that must outlive deep sleep or a power cut.
#
# RTC memory (kept through deep sleep and resets, lost with power) holds everything and is written cheaply.
# Flash holds durable values and counter ceilings in two slots, state.0 and state.1, each one record:
#   b"CNS1" | seq u32 | len u16 | JSON | sha256(all before)[:4]
# A write goes to the slot not holding the newest valid record, so a power cut mid-write leaves that record
# intact: a reader gets the old state or the new one, never a mix.
#
# Counters (FCntUp, DevNonce, ...) are reserved ahead: flash stores a ceiling every value below which may have
# been used; RTC memory the exact next value. After a power cut the counter resumes at the ceiling, so no value
# is ever used twice, and flash is written once per `reserve` values instead of once per value.
#
# Boards without RTC memory (RP2040, STM32WL here) keep the RTC image in a flash file, state.rtc, written once
# at save() before deep sleep and trusted only when the node wakes from that deep sleep: after a reset or a
# power cut it may be stale, and the flash ceilings apply instead.
import json
import hashlib
import machine
from micropython import const

_RTC_MAGIC = b"CNR1"
_FLASH_MAGIC = b"CNS1"
_HDR = const(10)
_SUM = const(4)


def _sum(data):
    return hashlib.sha256(data).digest()[:_SUM]


class Store:
    def __init__(self, path="state", rtc=None):
        self._path = path
        self._rtc = rtc if rtc is not None else machine.RTC()
        self._seq = 0
        self._slot = -1
        self._dirty_flash = False
        self.flash_writes = 0
        # what flash holds, each value as its JSON text: key -> text, and "#name" -> counter ceiling. Text, not
        # objects: a fraction of the heap, and a snapshot the caller's later in-place changes cannot touch.
        self._durable = {}
        self._data = {}  # everything, durable or not; counters as "#name" -> next value
        self._rtc_file = False  # True once RTC memory proved absent or too small
        rec = self._load_flash()
        self.from_rtc = self._load_rtc()
        if not self.from_rtc:
            self._data = rec

    # -- loading

    def _read_slot(self, i):
        try:
            with open("%s.%d" % (self._path, i), "rb") as f:
                raw = f.read()
        except OSError:
            return None
        if len(raw) < _HDR + _SUM or raw[:4] != _FLASH_MAGIC:
            return None
        n = int.from_bytes(raw[8:10], "little")
        if len(raw) != _HDR + n + _SUM or _sum(raw[: _HDR + n]) != raw[_HDR + n :]:
            return None
        try:
            return int.from_bytes(raw[4:8], "little"), json.loads(raw[_HDR : _HDR + n])
        except ValueError:
            return None

    def _load_flash(self):
        best = None
        for i in (0, 1):
            rec = self._read_slot(i)
            if rec is not None and isinstance(rec[1], dict) and (best is None or rec[0] > best[0]):
                best = (rec[0], rec[1], i)
        if best is None:
            return {}
        self._seq, rec, self._slot = best
        d = self._durable
        for k in rec:
            d[k] = json.dumps(rec[k])
        return rec

    def _rtc_image(self):
        try:
            raw = self._rtc.memory()
        except Exception:
            raw = b""
        try:
            woke = machine.reset_cause() == machine.DEEPSLEEP_RESET
        except AttributeError:  # a port without reset causes: trust nothing but RTC memory
            woke = False
        if raw or not woke:
            return raw
        try:
            with open(self._path + ".rtc", "rb") as f:
                return f.read()
        except OSError:
            return b""

    def _load_rtc(self):
        raw = self._rtc_image()
        if len(raw) < 8 or raw[:4] != _RTC_MAGIC or _sum(raw[8:]) != raw[4:8]:
            return False
        try:
            self._data = json.loads(raw[8:])
        except ValueError:
            return False
        return True

    # -- values

    def get(self, key, default=None):
        return self._data.get(key, default)

    def set(self, key, value, durable=False):
        self._data[key] = value
        if durable:
            t = json.dumps(value)
            old = self._durable.get(key)
            # same text, or the same value written in another order (dicts) or shape (tuples): no flash write
            if old is None or (old != t and json.loads(old) != json.loads(t)):
                self._durable[key] = t
                self._dirty_flash = True

    def delete(self, key):
        self._data.pop(key, None)
        if key in self._durable:
            del self._durable[key]
            self._dirty_flash = True

    # -- counters

    def _ceil(self, k):
        return int(self._durable.get(k, 0))

    def peek(self, name):
        k = "#" + name
        v = self._data.get(k)
        return self._ceil(k) if v is None else v

    def next(self, name, reserve=16):
        """The next value of a counter, never returned before, even across power cuts."""
        k = "#" + name
        v = self.peek(name)
        if v >= self._ceil(k):
            # Out of reserved values: move the ceiling on flash before the value is used.
            self._durable[k] = str(v + reserve)
            self._dirty_flash = True
            self._write_flash()
        self._data[k] = v + 1
        self._write_rtc()
        return v

    def ensure_at_least(self, name, value):
        """Raise a counter (e.g. FCntUp after a downlink tells the server's view): never lowers it."""
        k = "#" + name
        if self.peek(name) < value:
            self._data[k] = value
            if self._ceil(k) < value:
                self._durable[k] = str(value)
                self._dirty_flash = True

    # -- persistence

    def _rtc_record(self):
        body = json.dumps(self._data).encode()
        return _RTC_MAGIC + _sum(body) + body

    def _write_rtc(self):
        if self._rtc_file:
            return  # written once, at save()
        try:
            self._rtc.memory(self._rtc_record())
        except (ValueError, AttributeError, OSError):
            self._rtc_file = True  # no RTC memory, or too small: keep the image in flash at save()

    def _write_flash(self):
        d = self._durable
        body = ("{" + ", ".join([json.dumps(k) + ": " + d[k] for k in d]) + "}").encode()
        slot = 1 - self._slot if self._slot >= 0 else 0
        seq = self._seq + 1
        rec = _FLASH_MAGIC + seq.to_bytes(4, "little") + len(body).to_bytes(2, "little") + body
        rec += _sum(rec)
        with open("%s.%d" % (self._path, slot), "wb") as f:
            f.write(rec)
        self._seq, self._slot = seq, slot
        self._dirty_flash = False
        self.flash_writes += 1

    def save(self):
        """Before sleeping: everything to RTC memory, durable changes to flash."""
        if self._dirty_flash:
            self._write_flash()
        self._write_rtc()
        if self._rtc_file:
            with open(self._path + ".rtc", "wb") as f:
                f.write(self._rtc_record())

    def wipe(self):
        import os

        for suffix in (".0", ".1", ".rtc"):
            try:
                os.remove(self._path + suffix)
            except OSError:
                pass
        self._rtc.memory(b"")
        self.__init__(self._path, self._rtc)
