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


def cmac(c, msg, pre=None):
    """AES-CMAC of (pre | msg) as a 16-byte bytearray (shared buffer: copy what you keep).
    `c` is a cipher(key); `pre`, if given, is one whole 16-byte block (B0)."""
    x = _x
    k = _k
    c.encrypt(_ZERO, k)  # L
    _dbl(k)  # K1
    for i in range(16):
        x[i] = 0
    if pre is not None:
        for i in range(16):
            x[i] ^= pre[i]
        if len(msg):
            c.encrypt(x, x)
    n = len(msg)
    if pre is not None and n == 0:
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


def _b(first, direction, devaddr, fcnt, last):
    b = _blk
    b[0] = first
    b[1] = b[2] = b[3] = b[4] = 0
    b[5] = direction
    b[6] = devaddr & 0xFF
    b[7] = (devaddr >> 8) & 0xFF
    b[8] = (devaddr >> 16) & 0xFF
    b[9] = (devaddr >> 24) & 0xFF
    b[10] = fcnt & 0xFF
    b[11] = (fcnt >> 8) & 0xFF
    b[12] = (fcnt >> 16) & 0xFF
    b[13] = (fcnt >> 24) & 0xFF
    b[14] = 0
    b[15] = last
    return b


def mic(c, direction, devaddr, fcnt, msg):
    """The 4-byte MIC of a data frame `msg` (MHDR..FRMPayload, encrypted), c = cipher(NwkSKey)."""
    return bytes(cmac(c, msg, _b(0x49, direction, devaddr, fcnt, len(msg)))[:4])


def crypt(c, direction, devaddr, fcnt, buf, start, end):
    """Encrypt or decrypt buf[start:end] in place (FRMPayload; c = cipher(AppSKey or NwkSKey))."""
    s = bytearray(16)
    i = 1
    while start < end:
        c.encrypt(_b(1, direction, devaddr, fcnt, i), s)
        n = min(16, end - start)
        for j in range(n):
            buf[start + j] ^= s[j]
        start += n
        i += 1


def join_mic(c, msg):
    """MIC of a join-request or of a decrypted join-accept, c = cipher(AppKey)."""
    return bytes(cmac(c, msg)[:4])


def decrypt_accept(c, frame):
    """Plaintext join-accept (MHDR | fields | MIC) from the received frame (16 or 32 bytes after MHDR)."""
    out = bytearray(frame)
    c.encrypt(frame[1:], memoryview(out)[1:])
    return out


def session_keys(app_key, join_nonce, net_id, dev_nonce):
    """(NwkSKey, AppSKey) from the 3-byte JoinNonce and NetID (wire order) and the 16-bit DevNonce."""
    c = cipher(app_key)
    b = bytearray(16)
    b[1:4] = join_nonce
    b[4:7] = net_id
    b[7] = dev_nonce & 0xFF
    b[8] = dev_nonce >> 8
    b[0] = 1
    nwk = c.encrypt(b)
    b[0] = 2
    app = c.encrypt(b)
    return bytes(nwk), bytes(app)
