"""LoRaWAN 1.0.x cryptography (spec 1.0.1 sections 4.3.3, 4.4, 6.2.5) on the `cryptography` package.

Integers (DevAddr, FCnt, nonces, NetID) are passed as ints and written little-endian, as on the wire.
"""

from __future__ import annotations

from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes
from cryptography.hazmat.primitives.cmac import CMAC

UP, DOWN = 0, 1


def _check_key(key: bytes):
    if len(key) != 16:
        raise ValueError("LoRaWAN keys are 16 bytes")


def aes_encrypt(key: bytes, data: bytes) -> bytes:
    """AES-128-ECB encryption of whole blocks."""
    _check_key(key)
    enc = Cipher(algorithms.AES(key), modes.ECB()).encryptor()
    return enc.update(data) + enc.finalize()


def aes_decrypt(key: bytes, data: bytes) -> bytes:
    _check_key(key)
    dec = Cipher(algorithms.AES(key), modes.ECB()).decryptor()
    return dec.update(data) + dec.finalize()


def cmac(key: bytes, msg: bytes) -> bytes:
    """AES-CMAC (RFC 4493), all 16 bytes."""
    _check_key(key)
    c = CMAC(algorithms.AES(key))
    c.update(msg)
    return c.finalize()


def _block(first: int, direction: int, dev_addr: int, fcnt: int, last: int) -> bytes:
    return (
        bytes((first, 0, 0, 0, 0, direction))
        + dev_addr.to_bytes(4, "little")
        + (fcnt & 0xFFFFFFFF).to_bytes(4, "little")
        + bytes((0, last))
    )


def frm_crypt(key: bytes, direction: int, dev_addr: int, fcnt: int, data: bytes) -> bytes:
    """Encrypt or decrypt an FRMPayload (the same XOR with the A_i key stream both ways)."""
    if not data:
        return b""
    n = (len(data) + 15) // 16
    blocks = b"".join(_block(0x01, direction, dev_addr, fcnt, i) for i in range(1, n + 1))
    stream = aes_encrypt(key, blocks)
    stream = stream[: len(data)]
    return (int.from_bytes(data, "big") ^ int.from_bytes(stream, "big")).to_bytes(len(data), "big")


def data_mic(nwk_skey: bytes, direction: int, dev_addr: int, fcnt: int, msg: bytes) -> bytes:
    """MIC of a data frame: msg = MHDR | FHDR | FPort | FRMPayload (encrypted); fcnt is the full 32 bits."""
    b0 = _block(0x49, direction, dev_addr, fcnt, len(msg))
    return cmac(nwk_skey, b0 + msg)[:4]


def join_request_mic(app_key: bytes, msg: bytes) -> bytes:
    """msg = MHDR | JoinEUI | DevEUI | DevNonce."""
    return cmac(app_key, msg)[:4]


def join_accept_mic(app_key: bytes, msg: bytes) -> bytes:
    """msg = MHDR | JoinNonce | NetID | DevAddr | DLSettings | RxDelay | CFList."""
    return cmac(app_key, msg)[:4]


def encrypt_join_accept(app_key: bytes, mhdr_and_fields: bytes) -> bytes:
    """Full join-accept PHYPayload: MIC over the plaintext, then everything after MHDR AES-*decrypted*."""
    mic = join_accept_mic(app_key, mhdr_and_fields)
    body = mhdr_and_fields[1:] + mic
    if len(body) % 16:
        raise ValueError("join-accept body must be 16 or 32 bytes")
    return mhdr_and_fields[:1] + aes_decrypt(app_key, body)


def decrypt_join_accept(app_key: bytes, phy: bytes) -> bytes:
    """Inverse of encrypt_join_accept: returns MHDR | fields | MIC in clear (MIC not checked here)."""
    body = phy[1:]
    if len(body) not in (16, 32):
        raise ValueError("join-accept is 17 or 33 bytes")
    return phy[:1] + aes_encrypt(app_key, body)


def session_keys(app_key: bytes, join_nonce: int, net_id: int, dev_nonce: int) -> tuple[bytes, bytes]:
    """(NwkSKey, AppSKey) = AES(AppKey, 0x01|0x02 | JoinNonce | NetID | DevNonce | pad16)."""
    tail = join_nonce.to_bytes(3, "little") + net_id.to_bytes(3, "little") + dev_nonce.to_bytes(2, "little")
    pad = bytes(7)
    nwk = aes_encrypt(app_key, b"\x01" + tail + pad)
    app = aes_encrypt(app_key, b"\x02" + tail + pad)
    return nwk, app
