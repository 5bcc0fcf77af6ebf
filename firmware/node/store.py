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
# power cut it may be stale, and the flash ceilings apply instead. An image saved for a soft reset (the wake
# going on in a fresh interpreter, Node.resume_after_reset) is marked CNR2 and trusted by the next boot, whose
# reset cause is still the chip's; that boot's own save marks it CNR1 again.
import json
import hashlib
import machine
from micropython import const

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
        # what flash holds, each value as its JSON text: key -> text, and "#name" -> counter ceiling. Text, not
        # objects: a fraction of the heap, and a snapshot the caller's later in-place changes cannot touch.
        self._durable = {}
        self._data = {}  # everything, durable or not; counters as "#name" -> next value
        self._rtc_file = False  # True once RTC memory proved absent or too small
        # flash: the valid slot (magic, length, checksum, a JSON object) with the highest sequence number
        rec = {}
        for i in (0, 1):
            try:
                with open("%s.%d" % (path, i), "rb") as f:
                    raw = f.read()
                n = int.from_bytes(raw[8:10], "little")
                seq = int.from_bytes(raw[4:8], "little")
                if (
                    raw[:4] == b"CNS1"
                    and len(raw) == _HDR + n + _SUM
                    and _sum(raw[: _HDR + n]) == raw[_HDR + n :]
                    and (self._slot < 0 or seq > self._seq)
                ):
                    r = json.loads(raw[_HDR : _HDR + n])
                    if isinstance(r, dict):
                        rec, self._seq, self._slot = r, seq, i
            except (OSError, ValueError):
                pass
        d = self._durable
        for k in rec:
            d[k] = json.dumps(rec[k])
        # RTC memory; on boards without it, its image on flash, trusted only when waking from deep sleep
        try:
            raw = self._rtc.memory()
        except Exception:
            raw = b""
        if not raw:
            try:
                woke = machine.reset_cause() == machine.DEEPSLEEP_RESET
            except AttributeError:  # a port without reset causes: trust nothing but RTC memory
                woke = False
            try:
                with open(path + ".rtc", "rb") as f:
                    raw = f.read()
            except OSError:
                pass
            if not woke and raw[:4] != b"CNR2":
                raw = b""
        self.from_rtc = False
        if len(raw) >= 8 and raw[:3] == b"CNR" and _sum(raw[8:]) == raw[4:8]:
            try:
                self._data = json.loads(raw[8:])
                self.from_rtc = True
            except ValueError:
                pass
        if not self.from_rtc:
            self._data = rec

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

    def peek(self, name):
        k = "#" + name
        v = self._data.get(k)
        return int(self._durable.get(k, 0)) if v is None else v

    def next(self, name, reserve=16):
        """The next value of a counter, never returned before, even across power cuts."""
        k = "#" + name
        v = self.peek(name)
        if v >= int(self._durable.get(k, 0)):
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
            if int(self._durable.get(k, 0)) < value:
                self._durable[k] = str(value)
                self._dirty_flash = True

    # -- persistence

    def _write_rtc(self):
        if self._rtc_file:
            return  # written once, at save()
        try:
            b = json.dumps(self._data).encode()
            self._rtc.memory(b"CNR1" + _sum(b) + b)
        except (ValueError, AttributeError, OSError):
            self._rtc_file = True  # no RTC memory, or too small: keep the image in flash at save()

    def _write_flash(self):
        d = self._durable
        body = ("{%s}" % ", ".join([json.dumps(k) + ": " + d[k] for k in d])).encode()
        slot = 1 - self._slot if self._slot >= 0 else 0
        seq = self._seq + 1
        rec = b"CNS1" + seq.to_bytes(4, "little") + len(body).to_bytes(2, "little") + body
        rec += _sum(rec)
        with open("%s.%d" % (self._path, slot), "wb") as f:
            f.write(rec)
        self._seq, self._slot = seq, slot
        self._dirty_flash = False

    def save(self, soft_reset=False):
        """Before sleeping (or a soft reset): everything to RTC memory, durable changes to flash."""
        if self._dirty_flash:
            self._write_flash()
        self._write_rtc()
        if self._rtc_file:
            with open(self._path + ".rtc", "wb") as f:
                b = json.dumps(self._data).encode()
                f.write((b"CNR2" if soft_reset else b"CNR1") + _sum(b) + b)

    def wipe(self):
        import os

        for suffix in (".0", ".1", ".rtc"):
            try:
                os.remove(self._path + suffix)
            except OSError:
                pass
        self._rtc.memory(b"")
        self.__init__(self._path, self._rtc)
