# AES-128, encrypt direction only, in plain Python: the fallback for ports built without cryptolib (STM32WL).
# A LoRaWAN node never needs AES decryption (join-accepts are decrypted by encrypting, see crypto.py).
# Same call shape as cryptolib.aes(key, 1): encrypt(src[, dst]) on whole 16-byte blocks.
from micropython import const

_ROUNDS = const(10)
_SBOX = bytes.fromhex(
    "637c777bf26b6fc53001672bfed7ab76ca82c97dfa5947f0add4a2af9ca472c0"
    "b7fd9326363ff7cc34a5e5f171d8311504c723c31896059a071280e2eb27b275"
    "09832c1a1b6e5aa0523bd6b329e32f8453d100ed20fcb15b6acbbe394a4c58cf"
    "d0efaafb434d338545f9027f503c9fa851a3408f929d38f5bcb6da2110fff3d2"
    "cd0c13ec5f974417c4a77e3d645d197360814fdc222a908846eeb814de5e0bdb"
    "e0323a0a4906245cc2d3ac629195e479e7c8376d8dd54ea96c56f4ea657aae08"
    "ba78252e1ca6b4c6e8dd741f4bbd8b8a703eb5664803f60e613557b986c11d9e"
    "e1f8981169d98e949b1e87e9ce5528df8ca1890dbfe6426841992d0fb054bb16"
)
# (state index) -> source index of SubBytes+ShiftRows on the column-major state
_SHIFT = b"\x00\x05\x0a\x0f\x04\x09\x0e\x03\x08\x0d\x02\x07\x0c\x01\x06\x0b"


def _xt(x):
    x <<= 1
    return (x ^ 0x11B) if x & 0x100 else x


class AES:
    def __init__(self, key, mode=1):
        if len(key) != 16:
            raise ValueError("AES-128 key")
        s = _SBOX
        w = bytearray(176)
        w[:16] = key
        rc = 1
        for i in range(16, 176, 4):
            a, b, c, d = w[i - 4], w[i - 3], w[i - 2], w[i - 1]
            if i & 15 == 0:
                a, b, c, d = s[b] ^ rc, s[c], s[d], s[a]
                rc = _xt(rc)
            w[i] = w[i - 16] ^ a
            w[i + 1] = w[i - 15] ^ b
            w[i + 2] = w[i - 14] ^ c
            w[i + 3] = w[i - 13] ^ d
        self._w = w
        self._st = bytearray(16)
        self._tmp = bytearray(16)

    def _block(self, src, off, dst):
        w = self._w
        s = _SBOX
        sh = _SHIFT
        st = self._st
        t = self._tmp
        for i in range(16):
            st[i] = src[off + i] ^ w[i]
        for r in range(1, _ROUNDS + 1):
            for i in range(16):
                t[i] = s[st[sh[i]]]
            k = r << 4
            if r == _ROUNDS:
                for i in range(16):
                    dst[off + i] = t[i] ^ w[k + i]
                return
            for c in range(0, 16, 4):
                a0, a1, a2, a3 = t[c], t[c + 1], t[c + 2], t[c + 3]
                x = a0 ^ a1 ^ a2 ^ a3
                st[c] = a0 ^ x ^ _xt(a0 ^ a1) ^ w[k + c]
                st[c + 1] = a1 ^ x ^ _xt(a1 ^ a2) ^ w[k + c + 1]
                st[c + 2] = a2 ^ x ^ _xt(a2 ^ a3) ^ w[k + c + 2]
                st[c + 3] = a3 ^ x ^ _xt(a3 ^ a0) ^ w[k + c + 3]

    def encrypt(self, src, dst=None):
        n = len(src)
        if n & 15:
            raise ValueError("blocks of 16")
        if dst is None:
            dst = bytearray(n)
        for off in range(0, n, 16):
            self._block(src, off, dst)
        return dst
