# The radio adapter: builds micropython-lib's `lora` modem from board.json's "radio" section and sets it up
# for LoRaWAN (public sync word 0x34, preamble 8, CR 4/5, inverted IQ when receiving downlinks).
# On the emulated board `import lora` finds hil/mpy/lora, with the same classes: the same code runs.
# Boards with an RF switch driven by GPIOs describe it in board.json radio.rf_switch (see rfsw.py).
from lorawan import eu868


def _modem(r):
    # the modem board.json's radio section describes (the name is the link's own word for it: one name less)
    import lora
    from machine import Pin, SPI

    chip = r["chip"]
    sw = r.get("rf_switch")
    kw = {}
    if sw:
        from lorawan.rfsw import RfSwitch

        kw["ant_sw"] = RfSwitch(sw)
    if chip == "stm32wl5":
        if r.get("tcxo_millivolts"):
            kw["tcxo_millivolts"] = r["tcxo_millivolts"]
        return lora.WL55SubGhzModem(**kw)
    s = r["spi"]
    args = {"baudrate": s.get("baudrate", 2000000)}
    for k in ("sck", "mosi", "miso"):
        if k in s:
            args[k] = Pin(s[k])
    spi = SPI(s["id"], **args)
    cs = Pin(r["cs"], Pin.OUT, value=1)
    if "reset" in r:
        kw["reset"] = Pin(r["reset"], Pin.OUT, value=1)
    if "dio1" in r:
        kw["dio1"] = Pin(r["dio1"], Pin.IN)
    if chip == "sx1262":
        kw["dio2_rf_sw"] = r.get("dio2_rf_sw", True)
        if r.get("tcxo_millivolts"):
            kw["dio3_tcxo_millivolts"] = r["tcxo_millivolts"]
        return lora.SX1262(spi, cs, busy=Pin(r["busy"], Pin.IN), **kw)
    if chip == "sx1276":
        if "dio0" in r:
            kw["dio0"] = Pin(r["dio0"], Pin.IN)
        return lora.SX1276(spi, cs, **kw)
    raise ValueError("radio chip %s" % chip)


class Radio:
    """TX and RX-window settings on top of a modem; `modem` may be given (tests), else built from the board."""

    def __init__(self, spec, modem=None):
        self._max_dbm = spec.get("output_power_max_dbm", 14)
        self.modem = modem if modem is not None else _modem(spec)
        cfg = {
            "syncword": 0x34,
            "preamble_len": 8,
            "coding_rate": 5,
            "crc_en": True,
            "implicit_header": False,
            "invert_iq_tx": False,
            "invert_iq_rx": True,  # only affects receiving: downlinks come with inverted IQ
        }
        if spec.get("chip") == "sx1276":
            # lora-sx127x needs both keys set together (its rx_boost alone raises KeyError 'lna_boost_hf')
            cfg["rx_boost"] = True
            cfg["lna_boost_hf"] = True
        elif spec.get("chip") == "sx1262":
            cfg["rx_boost"] = True
        self.modem.configure(cfg)
        self._cfg = {"freq_khz": 0, "sf": 7, "bw": "125"}

    def tx(self, frame, freq, dr, p):
        """Send `frame` with TX power index p; return the ticks_ms at which the transmission ended."""
        c = self._cfg
        c["freq_khz"] = freq
        c["sf"] = eu868.SF[dr]
        c["bw"] = eu868.BW[dr]
        p = eu868.output_power(p)
        c["output_power"] = p if p < self._max_dbm else self._max_dbm
        self.modem.configure(c)
        del c["output_power"]
        return self.modem.send(frame)

    def rx(self, freq, dr, timeout_ms):
        """Listen for a downlink; an RxPacket (bytearray with ticks_ms, snr in dB*4, rssi) or None."""
        c = self._cfg
        c["freq_khz"] = freq
        c["sf"] = eu868.SF[dr]
        c["bw"] = eu868.BW[dr]
        self.modem.configure(c)
        return self.modem.recv(timeout_ms)

    def sleep(self):
        try:
            self.modem.sleep()
        except Exception:  # noqa: BLE001 - a radio that can't sleep must not stop the node
            pass
