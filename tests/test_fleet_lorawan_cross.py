"""Thousands of random frames checked both ways between the node's LoRaWAN code (firmware/lorawan, under the real
MicroPython unix port) and the network side's independent implementation (fleet.lorawan on `cryptography`).

Hypothesis draws the frames (collected first, then run as one batch through one MicroPython process, JSON lines
on stdin/stdout, since one process per frame would take minutes):
- node -> network: the node's uplink builder (Link._frame) makes frames, fleet parses them, checks the MIC and
  decrypts;
- network -> node: fleet builds downlinks and join-accepts, the node's parser (Link._accept) and join-accept
  check (crypto.decrypt_accept + join_mic) verify and decrypt them;
- join-request MICs and session keys are computed on both sides and compared.
Both the cryptolib path and the pure-Python AES fallback (STM32WL) are exercised.
"""

import json

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from fleet.lorawan import crypto, frames

NODE_SIDE = r"""
import sys, json
from lorawan import crypto
from lorawan.link import Link

class Store:
    def set(self, k, v, durable=False):
        pass
    def get(self, k, d=None):
        return d

class L(Link):
    def __init__(self, s):
        self.sess = s
        self._v = {}
        self._c = {}
        self._ciph = None
        self.store = Store()

for line in sys.stdin:
    c = json.loads(line)
    crypto.native = c.get("native", True)
    k = c["k"]
    if k == "up":
        s = {"a": c["a"], "nk": c["nk"], "ak": c["ak"], "adr": c["adr"]}
        ln = L(s)
        if c["ack"]:
            ln._v["ad"] = 1
        b = ln._frame(c["conf"], c["fc"], bytes.fromhex(c["opts"]), c["port"], bytes.fromhex(c["pl"]))
        print(json.dumps({"phy": bytes(b).hex()}))
    elif k == "down":
        s = {"a": c["a"], "nk": c["nk"], "ak": c["ak"], "fd": c["fd"]}
        ln = L(s)
        r = ln._accept(bytearray(bytes.fromhex(c["phy"])))
        out = None if r is None else [r[0], None if r[1] is None else r[1].hex(), r[2]]
        print(json.dumps({"r": out, "fd": s["fd"], "c": ln._c}))
    elif k == "ja":
        cp = crypto.cipher(bytes.fromhex(c["key"]))
        phy = bytes.fromhex(c["phy"])
        pt = crypto.decrypt_accept(cp, phy)
        ok = crypto.join_mic(cp, memoryview(pt)[: len(pt) - 4]) == bytes(pt[len(pt) - 4 :])
        print(json.dumps({"pt": bytes(pt).hex(), "ok": ok}))
    elif k == "jr":
        cp = crypto.cipher(bytes.fromhex(c["key"]))
        mic = crypto.join_mic(cp, bytes.fromhex(c["body"]))
        nk, ak = crypto.session_keys(bytes.fromhex(c["key"]), bytes.fromhex(c["jn"]), bytes.fromhex(c["nid"]), c["dn"])
        print(json.dumps({"mic": mic.hex(), "nk": nk.hex(), "ak": ak.hex()}))
"""

key = st.binary(min_size=16, max_size=16)
addr = st.integers(0, 2**32 - 1)
fcnt = st.integers(0, 2**32 - 1)


def draw(strategy, n):
    """n examples of `strategy`, as hypothesis generates them (edge cases included)."""
    got = []

    @settings(max_examples=n, deadline=None, database=None, suppress_health_check=list(HealthCheck))
    @given(strategy)
    def collect(c):
        got.append(c)

    collect()
    return got


def run_node(mpy, cases):
    stdin = "".join(json.dumps(c) + "\n" for c in cases).encode()
    out = mpy(NODE_SIDE, stdin=stdin, timeout=120)
    return [json.loads(x) for x in out.splitlines()]


up_case = st.fixed_dictionaries(
    {
        "a": addr,
        "nk": key,
        "ak": key,
        "fc": fcnt,
        "conf": st.booleans(),
        "adr": st.sampled_from([0, 1]),
        "ack": st.booleans(),
        "opts": st.binary(max_size=15),
        "port": st.integers(1, 223),
        "pl": st.binary(max_size=242),
        "native": st.booleans(),
    }
)


def test_node_uplinks_verify_and_decrypt_on_the_network_side(mpy):
    cases = draw(up_case, 1500)
    wire = [
        dict(c, k="up", nk=c["nk"].hex(), ak=c["ak"].hex(), opts=c["opts"].hex(), pl=c["pl"].hex())
        for c in cases
    ]
    for c, out in zip(cases, run_node(mpy, wire), strict=True):
        f = frames.parse(bytes.fromhex(out["phy"]))
        assert f.uplink and f.confirmed == c["conf"] and f.dev_addr == c["a"] and f.fcnt == c["fc"] & 0xFFFF
        assert f.adr == bool(c["adr"]) and f.ack == c["ack"] and f.fopts == c["opts"] and f.fport == c["port"]
        assert f.mic_ok(c["nk"], c["fc"]), c
        assert f.decrypt(c["nk"], c["ak"], c["fc"]) == c["pl"]


down_case = st.fixed_dictionaries(
    {
        "a": addr,
        "nk": key,
        "ak": key,
        "fd": st.integers(-1, 2**32 - 20000),
        "gap": st.integers(1, 200),
        "conf": st.booleans(),
        "ack": st.booleans(),
        "port": st.integers(1, 223),
        "pl": st.binary(max_size=242),
        "tamper": st.sampled_from([None, None, None, "mic", "payload", "replay", "addr"]),
        "native": st.booleans(),
    }
)


def test_network_downlinks_accepted_by_the_node_and_tampered_ones_refused(mpy):
    cases = draw(down_case, 1500)
    wire = []
    for c in cases:
        fc = c["fd"] + c["gap"] if c["tamper"] != "replay" else max(c["fd"] - c["gap"] + 1, 0)
        c["fc"] = fc
        f = frames.DataFrame(
            frames.CONFIRMED_DOWN if c["conf"] else frames.UNCONFIRMED_DOWN,
            c["a"],
            fc,
            fport=c["port"],
            payload=c["pl"],
            ack=c["ack"],
        )
        phy = bytearray(f.build(c["nk"], c["ak"], fc))
        if c["tamper"] == "mic":
            phy[-1] ^= 0x40
        elif c["tamper"] == "payload" and c["pl"]:
            phy[9] ^= 1
        elif c["tamper"] == "addr":
            phy[1] ^= 0x80
        wire.append(
            {
                "k": "down",
                "a": c["a"],
                "nk": c["nk"].hex(),
                "ak": c["ak"].hex(),
                "fd": c["fd"],
                "phy": phy.hex(),
                "native": c["native"],
            }
        )
    for c, out in zip(cases, run_node(mpy, wire), strict=True):
        replayed = c["fc"] <= c["fd"]  # a counter the node has already seen
        refused = c["tamper"] in ("mic", "addr") or replayed or (c["tamper"] == "payload" and c["pl"])
        if refused:
            assert out["r"] is None and out["fd"] == c["fd"], c  # refused, session untouched
        else:
            assert out["r"] == [c["port"], c["pl"].hex(), c["ack"]], c
            assert out["fd"] == c["fc"]


ja_case = st.fixed_dictionaries(
    {
        "key": key,
        "jn": st.integers(0, 2**24 - 1),
        "nid": st.integers(0, 2**24 - 1),
        "addr": addr,
        "off": st.integers(0, 7),
        "r2": st.integers(0, 15),
        "rd": st.integers(0, 15),
        "cf": st.one_of(st.just(b""), st.binary(min_size=16, max_size=16)),
        "native": st.booleans(),
        "bad": st.booleans(),
    }
)


def test_join_accepts_decrypt_on_the_node(mpy):
    cases = draw(ja_case, 600)
    wire = []
    for c in cases:
        ja = frames.JoinAccept(c["jn"], c["nid"], c["addr"], c["off"], c["r2"], c["rd"], c["cf"])
        phy = bytearray(ja.build(c["key"]))
        if c["bad"]:
            phy[5] ^= 0x10
        c["plain"] = ja.plain() + ja.mic
        wire.append({"k": "ja", "key": c["key"].hex(), "phy": phy.hex(), "native": c["native"]})
    for c, out in zip(cases, run_node(mpy, wire), strict=True):
        assert out["ok"] is (not c["bad"])
        if not c["bad"]:
            assert out["pt"] == c["plain"].hex()


jr_case = st.fixed_dictionaries(
    {
        "key": key,
        "je": st.binary(min_size=8, max_size=8),
        "de": st.binary(min_size=8, max_size=8),
        "dn": st.integers(0, 65535),
        "jn": st.integers(0, 2**24 - 1),
        "nid": st.integers(0, 2**24 - 1),
        "native": st.booleans(),
    }
)


def test_join_request_mic_and_session_keys_agree(mpy):
    cases = draw(jr_case, 600)
    wire = [
        {
            "k": "jr",
            "key": c["key"].hex(),
            "body": frames.JoinRequest(c["je"], c["de"], c["dn"]).body().hex(),
            "jn": c["jn"].to_bytes(3, "little").hex(),
            "nid": c["nid"].to_bytes(3, "little").hex(),
            "dn": c["dn"],
            "native": c["native"],
        }
        for c in cases
    ]
    for c, out in zip(cases, run_node(mpy, wire), strict=True):
        jr = frames.JoinRequest(c["je"], c["de"], c["dn"])
        jr.build(c["key"])
        assert out["mic"] == jr.mic.hex()
        nk, ak = crypto.session_keys(c["key"], c["jn"], c["nid"], c["dn"])
        assert (out["nk"], out["ak"]) == (nk.hex(), ak.hex())
