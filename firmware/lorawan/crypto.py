# LoRaWAN 1.0.x security on AES-128 encryption only: AES-CMAC (RFC 4493) for MICs, the counter-mode
# FRMPayload cipher, join-accept decryption (the server encrypts it with AES *decrypt*, so the node
# decrypts by encrypting) and session key derivation.
#
# AES comes from cryptolib.aes(key, 1) (ECB) when the port has it, else from the pure-Python lorawan.aes.
# Set `native = False` (board.json "cryptolib": false) to force the fallback.
try:
    from cryptolib import aes as _native_aes
except ImportError:
    _native_aes = None

native = _native_aes is not None

_ZERO = bytes(16)
_x = bytearray(16)  # CMAC chaining value
_k = bytearray(16)  # CMAC subkey
_blk = bytearray(16)  # scratch block (B0, A_i)


def cipher(key):
    """An object with encrypt(src, dst=None) over whole 16-byte blocks (AES-128 ECB)."""
    if native and _native_aes is not None:
        return _native_aes(bytes(key), 1)
    from lorawan.aes import AES

    return AES(key)


def _dbl(b):
    # GF(2^128) doubling of a 16-byte big-endian value, in place.
    carry = 0
    for i in range(15, -1, -1):
        v = (b[i] << 1) | carry
        carry = v >> 8
        b[i] = v & 0xFF
    if carry:
        b[15] ^= 0x87


def cmac(c, msg, b=None):
    """AES-CMAC of (b | msg) as a 16-byte bytearray (shared buffer: copy what you keep).
    `c` is a cipher(key); `b`, if given, is one whole 16-byte block (B0)."""
    x = _x
    k = _k
    c.encrypt(_ZERO, k)  # L
    _dbl(k)  # K1
    for i in range(16):
        x[i] = 0
    if b is not None:
        for i in range(16):
            x[i] ^= b[i]
        if len(msg):
            c.encrypt(x, x)
    n = len(msg)
    if b is not None and n == 0:
        # the prefix block itself is the (complete) last block
        for i in range(16):
            x[i] ^= k[i]
        c.encrypt(x, x)
        return x
    full = n and n % 16 == 0
    last = n - 16 if full else n - n % 16
    off = 0
    while off < last:
        for i in range(16):
            x[i] ^= msg[off + i]
        c.encrypt(x, x)
        off += 16
    if not full:
        _dbl(k)  # K2
        r = n - off
        for i in range(r):
            x[i] ^= msg[off + i]
        x[r] ^= 0x80
    else:
        for i in range(16):
            x[i] ^= msg[off + i]
    for i in range(16):
        x[i] ^= k[i]
    c.encrypt(x, x)
    return x


def _b(f, d, a, n, last):
    b = _blk
    b[0] = f
    b[1] = b[2] = b[3] = b[4] = 0
    b[5] = d
    b[6] = a & 0xFF
    b[7] = (a >> 8) & 0xFF
    b[8] = (a >> 16) & 0xFF
    b[9] = (a >> 24) & 0xFF
    b[10] = n & 0xFF
    b[11] = (n >> 8) & 0xFF
    b[12] = (n >> 16) & 0xFF
    b[13] = (n >> 24) & 0xFF
    b[14] = 0
    b[15] = last
    return b


def mic(c, d, a, n, msg):
    """The 4-byte MIC of a data frame `msg` (MHDR..FRMPayload, encrypted), c = cipher(NwkSKey), d the direction
    (0 up, 1 down), a the DevAddr, n the 32-bit FCnt."""
    return bytes(cmac(c, msg, _b(0x49, d, a, n, len(msg)))[:4])


def crypt(c, d, a, n, buf, start, end):
    """Encrypt or decrypt buf[start:end] in place (FRMPayload; c = cipher(AppSKey or NwkSKey); d, a, n as mic())."""
    s = bytearray(16)
    i = 1
    while start < end:
        c.encrypt(_b(1, d, a, n, i), s)
        k = min(16, end - start)
        for j in range(k):
            buf[start + j] ^= s[j]
        start += k
        i += 1


def join_mic(c, msg):
    """MIC of a join-request or of a decrypted join-accept, c = cipher(AppKey)."""
    return bytes(cmac(c, msg)[:4])


def decrypt_accept(c, frame):
    """Plaintext join-accept (MHDR | fields | MIC) from the received frame (16 or 32 bytes after MHDR)."""
    out = bytearray(frame)
    c.encrypt(frame[1:], memoryview(out)[1:])
    return out


def session_keys(k, a, b, n):
    """(NwkSKey, AppSKey) from AppKey k, the 3-byte JoinNonce a and NetID b (wire order), the 16-bit DevNonce n."""
    c = cipher(k)
    j = bytearray(16)
    j[1:4] = a
    j[4:7] = b
    j[7] = n & 0xFF
    j[8] = n >> 8
    j[0] = 1
    nwk = c.encrypt(j)
    j[0] = 2
    app = c.encrypt(j)
    return bytes(nwk), bytes(app)
