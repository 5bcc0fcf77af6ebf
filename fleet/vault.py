"""Device identities and root keys: DevEUIs, JoinEUIs, AppKeys, and the master key that seals them at rest.

- AppKeys are drawn fresh for every device from the OS CSPRNG (`secrets`), 16 bytes.
- A DevEUI comes from the board's unique id (an ESP32's 48-bit MAC becomes an EUI-64 by inserting FFFE in the
  middle, as IEEE maps a MAC-48 into EUI-64; an 8-byte id is used as is), or from a configured block.
- AppKeys are stored sealed with AES-256-GCM under the fleet's master key, with the DevEUI as associated data
  (a sealed key copied onto another device's row does not open). The master key (32 bytes, 64 hex digits or
  base64) comes from ``CITYNODE_MASTER_KEY``, a key file that only its owner may read (mode 0600), or the OS
  keyring (service ``citynode``, name ``master-key``) when the optional `keyring` package is installed.

Nothing here prints or logs a key; `redact()` scrubs key material out of any text that might carry it.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import os
import re
import secrets
import stat
import tempfile
from dataclasses import dataclass
from pathlib import Path

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

KEYRING_SERVICE = "citynode"
KEYRING_NAME = "master-key"
_BLOB_VERSION = 1
_CHECK_PLAINTEXT = b"citynode master key check v1"
_HEX = set("0123456789ABCDEF")


class VaultError(Exception):
    """A key problem the user can fix (no master key, the wrong one, a key file others can read)."""


# ------------------------------------------------------------------------------------------------ identifiers


def parse_eui(text: str, what: str = "DevEUI") -> str:
    """A 16-hex-digit EUI-64 in upper case; separators '-', ':' and spaces are allowed between bytes."""
    raw = str(text).strip()
    s = re.sub(r"[-: ]", "", raw).upper()
    if len(s) != 16 or not set(s) <= _HEX:
        raise ValueError(f"{what} {raw!r} is not 16 hex digits")
    return s


def parse_key(text: str, what: str = "AppKey") -> bytes:
    s = str(text).strip().replace(" ", "")
    if len(s) != 32 or not set(s.upper()) <= _HEX:
        raise ValueError(f"{what} is not 32 hex digits")
    return bytes.fromhex(s)


def eui64_from_uid(uid: bytes) -> str:
    """The DevEUI of a board from `machine.unique_id()`: MAC-48 -> EUI-64 (FFFE inserted), or an 8-byte id."""
    if len(uid) == 6:
        return (uid[:3] + b"\xff\xfe" + uid[3:]).hex().upper()
    if len(uid) == 8:
        return uid.hex().upper()
    raise ValueError(
        f"the board's unique id has {len(uid)} bytes (not a MAC-48 or an EUI-64): configure fleet.dev_eui_block"
    )


def parse_block(text: str) -> tuple[int, int]:
    """'70B3D57ED0010000/48' -> (first EUI as int, number of EUIs in the block)."""
    try:
        start, bits = str(text).split("/")
        first = int(parse_eui(start), 16)
        bits = int(bits)
    except ValueError:
        raise ValueError(f"DevEUI block {text!r} is not <16 hex digits>/<prefix bits>") from None
    if not 8 <= bits <= 63:
        raise ValueError(f"DevEUI block {text!r}: the prefix must be 8 to 63 bits")
    size = 1 << (64 - bits)
    if first & (size - 1):
        raise ValueError(f"DevEUI block {text!r}: the start has bits set after the prefix")
    return first, size


def new_app_key() -> bytes:
    return secrets.token_bytes(16)


def new_join_eui() -> str:
    return secrets.token_bytes(8).hex().upper()


# ------------------------------------------------------------------------------------------------ master key


def parse_master_key(text: str, where: str) -> bytes:
    s = text.strip()
    if len(s) == 64 and set(s.upper()) <= _HEX:
        return bytes.fromhex(s)
    try:
        raw = base64.b64decode(
            s + "=" * (-len(s) % 4), altchars=b"-_" if ("-" in s or "_" in s) else None, validate=True
        )
    except (binascii.Error, ValueError):
        raw = b""
    if len(raw) == 32:
        return raw
    raise VaultError(f"the master key in {where} is not 32 bytes as 64 hex digits or base64")


def key_id(master: bytes) -> str:
    """A short public name for a master key (a hash: reveals nothing about the key)."""
    return hashlib.sha256(b"citynode key id\0" + master).hexdigest()[:12]


@dataclass
class MasterKey:
    key: bytes
    source: str  # where it came from, for messages: "CITYNODE_MASTER_KEY", a file path, "the OS keyring"
    created: bool = False

    @property
    def id(self) -> str:
        return key_id(self.key)

    def __repr__(self):  # never show the key in a traceback or a debug print
        return f"MasterKey(id={self.id}, source={self.source!r})"


def default_key_file() -> Path:
    from fleet.settings import config_dir

    return config_dir() / "master.key"


def _read_key_file(path: Path) -> bytes:
    try:
        st = path.stat()
    except OSError as e:
        raise VaultError(f"master key file {path}: {e.strerror}") from None
    if os.name == "posix" and st.st_mode & (stat.S_IRWXG | stat.S_IRWXO):
        raise VaultError(
            f"master key file {path} can be read by others (mode {stat.S_IMODE(st.st_mode):04o}): chmod 600 {path}"
        )
    try:
        text = path.read_text()
    except (OSError, UnicodeDecodeError) as e:
        raise VaultError(f"master key file {path}: cannot read it ({e.__class__.__name__})") from None
    return parse_master_key(text, str(path))


def _keyring_get() -> bytes | None:
    try:
        import keyring  # optional dependency
    except ImportError:
        return None
    try:
        text = keyring.get_password(KEYRING_SERVICE, KEYRING_NAME)
    except Exception:  # no usable backend on this machine: not an error, just no keyring
        return None
    return parse_master_key(text, "the OS keyring") if text else None


def write_secret_file(path: Path, data: bytes | str) -> None:
    """Write a file only its owner can read (0600), atomically (temp file in the same folder, then rename)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    if isinstance(data, str):
        data = data.encode()
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent)
    try:
        os.fchmod(fd, 0o600)
        with os.fdopen(fd, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        try:
            os.unlink(tmp)
        except OSError:
            pass
        raise


def load_master_key(
    key_file: Path | None = None, use_keyring: bool = True, create: bool = False
) -> MasterKey | None:
    """The master key from CITYNODE_MASTER_KEY, else the key file, else the OS keyring.

    With `create` and no key anywhere, a new key is drawn and written to the key file (0600); the caller says
    so to the user, who must back it up: without it the sealed AppKeys cannot be recovered.
    """
    env = os.environ.get("CITYNODE_MASTER_KEY")
    if env:
        return MasterKey(parse_master_key(env, "CITYNODE_MASTER_KEY"), "CITYNODE_MASTER_KEY")
    path = Path(key_file) if key_file else default_key_file()
    if path.exists():
        return MasterKey(_read_key_file(path), str(path))
    if key_file is not None and not create:
        raise VaultError(f"master key file {path} does not exist")
    if use_keyring:
        k = _keyring_get()
        if k is not None:
            return MasterKey(k, "the OS keyring")
    if create:
        key = secrets.token_bytes(32)
        write_secret_file(path, key.hex() + "\n")
        return MasterKey(key, str(path), created=True)
    return None


# ------------------------------------------------------------------------------------------------ sealing


class Vault:
    """Seals and opens AppKeys under one master key."""

    def __init__(self, master: MasterKey | bytes):
        if isinstance(master, bytes):
            master = MasterKey(master, "caller")
        if len(master.key) != 32:
            raise VaultError("the master key must be 32 bytes")
        self.master = master
        self._aead = AESGCM(master.key)

    @property
    def key_id(self) -> str:
        return self.master.id

    def seal(self, dev_eui: str, app_key: bytes) -> bytes:
        if len(app_key) != 16:
            raise ValueError("an AppKey is 16 bytes")
        nonce = secrets.token_bytes(12)
        return bytes([_BLOB_VERSION]) + nonce + self._aead.encrypt(nonce, app_key, _aad(dev_eui))

    def open(self, dev_eui: str, blob: bytes) -> bytes:
        if not blob or blob[0] != _BLOB_VERSION or len(blob) != 1 + 12 + 32:
            raise VaultError(f"the sealed AppKey of {dev_eui} is damaged")
        try:
            return self._aead.decrypt(blob[1:13], blob[13:], _aad(dev_eui))
        except InvalidTag:
            raise VaultError(
                f"the AppKey of {dev_eui} does not open with the master key from {self.master.source} "
                f"(key id {self.key_id}): wrong master key?"
            ) from None

    def check_token(self) -> bytes:
        """Stored once per registry, so a wrong master key is caught before anything is written."""
        nonce = secrets.token_bytes(12)
        return bytes([_BLOB_VERSION]) + nonce + self._aead.encrypt(nonce, _CHECK_PLAINTEXT, b"check")

    def verifies(self, token: bytes) -> bool:
        try:
            return self._aead.decrypt(token[1:13], token[13:], b"check") == _CHECK_PLAINTEXT
        except (InvalidTag, ValueError):
            return False


def _aad(dev_eui: str) -> bytes:
    return b"citynode appkey\0" + dev_eui.encode()


def redact(text: str, secrets_: list[bytes]) -> str:
    """`text` with every secret (as hex in either case, or base64) replaced by <redacted>."""
    for s in secrets_:
        if not s:
            continue
        for form in (s.hex(), base64.b64encode(s).decode().rstrip("=")):
            text = re.sub(re.escape(form), "<redacted>", text, flags=re.IGNORECASE)
    return text
