"""Key vault: identifiers, CSPRNG keys, AES-GCM sealing, master key sources and their errors."""

import base64
import os
import stat

import pytest

from fleet import vault


@pytest.fixture(autouse=True)
def clean_env(tmp_path, monkeypatch):
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "config"))
    monkeypatch.delenv("CITYNODE_MASTER_KEY", raising=False)
    monkeypatch.delenv("CITYNODE_MASTER_KEY_FILE", raising=False)


def test_eui64_from_mac_inserts_fffe():
    assert vault.eui64_from_uid(bytes.fromhex("f412fa4a5b7c")) == "F412FAFFFE4A5B7C"
    assert vault.eui64_from_uid(bytes.fromhex("0011223344556677")) == "0011223344556677"
    with pytest.raises(ValueError, match="12 bytes"):
        vault.eui64_from_uid(bytes(12))


@pytest.mark.parametrize(
    "bad", ["", "123", "F412FAFFFE4A5B7", "F412FAFFFE4A5B7CX", "G412FAFFFE4A5B7C", "F412FAFFFE4A5B7C00"]
)
def test_parse_eui_rejects_what_is_not_16_hex_digits(bad):
    with pytest.raises(ValueError, match="not 16 hex digits"):
        vault.parse_eui(bad)


def test_parse_eui_normalises():
    assert vault.parse_eui("f4-12-fa-ff-fe-4a-5b-7c") == "F412FAFFFE4A5B7C"
    assert vault.parse_eui(" f412:faff:fe4a:5b7c ") == "F412FAFFFE4A5B7C"


def test_blocks():
    first, size = vault.parse_block("70B3D57ED0010000/48")
    assert first == 0x70B3D57ED0010000 and size == 65536
    for bad in ("70B3D57ED0010001/48", "70B3D57ED0010000", "70B3D57ED0010000/4", "xyz/48"):
        with pytest.raises(ValueError):
            vault.parse_block(bad)


def test_app_keys_are_fresh_and_16_bytes():
    keys = {vault.new_app_key() for _ in range(1000)}
    assert len(keys) == 1000 and all(len(k) == 16 for k in keys)


def test_seal_open_roundtrip_and_binding_to_dev_eui():
    v = vault.Vault(os.urandom(32))
    key = vault.new_app_key()
    blob = v.seal("F412FAFFFE4A5B7C", key)
    assert key not in blob and key.hex().encode() not in blob
    assert v.open("F412FAFFFE4A5B7C", blob) == key
    # The same sealed key does not open as another device's: rows cannot be swapped.
    with pytest.raises(vault.VaultError, match="wrong master key"):
        v.open("0011223344556677", blob)
    # Two seals of one key differ (fresh nonce).
    assert v.seal("F412FAFFFE4A5B7C", key) != blob


def test_wrong_master_key_is_a_clear_error():
    a, b = vault.Vault(os.urandom(32)), vault.Vault(os.urandom(32))
    blob = a.seal("F412FAFFFE4A5B7C", bytes(16))
    with pytest.raises(vault.VaultError, match=f"key id {b.key_id}"):
        b.open("F412FAFFFE4A5B7C", blob)
    assert a.verifies(a.check_token()) and not b.verifies(a.check_token())


def test_master_key_from_env_hex_and_base64(monkeypatch):
    k = os.urandom(32)
    monkeypatch.setenv("CITYNODE_MASTER_KEY", k.hex())
    assert vault.load_master_key().key == k
    monkeypatch.setenv("CITYNODE_MASTER_KEY", base64.b64encode(k).decode())
    assert vault.load_master_key().key == k
    monkeypatch.setenv("CITYNODE_MASTER_KEY", "not a key")
    with pytest.raises(vault.VaultError, match="CITYNODE_MASTER_KEY"):
        vault.load_master_key()


def test_master_key_file_must_be_private(tmp_path):
    path = tmp_path / "master.key"
    k = os.urandom(32)
    path.write_text(k.hex())
    path.chmod(0o644)
    with pytest.raises(vault.VaultError, match="chmod 600"):
        vault.load_master_key(path)
    path.chmod(0o600)
    mk = vault.load_master_key(path)
    assert mk.key == k and mk.source == str(path)
    assert k.hex() not in repr(mk)


def test_missing_named_key_file_is_an_error(tmp_path):
    with pytest.raises(vault.VaultError, match="does not exist"):
        vault.load_master_key(tmp_path / "nope.key", use_keyring=False)


def test_create_writes_a_0600_key_file(tmp_path):
    assert vault.load_master_key(use_keyring=False) is None
    mk = vault.load_master_key(use_keyring=False, create=True)
    path = vault.default_key_file()
    assert mk.created and path.exists()
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    again = vault.load_master_key(use_keyring=False)
    assert again.key == mk.key and not again.created


def test_redact():
    k = bytes.fromhex("00112233445566778899aabbccddeeff")
    text = f'write failed: b\'{{"app_key": "{k.hex().upper()}"}}\' and {k.hex()}'
    out = vault.redact(text, [k])
    assert k.hex() not in out.lower() and out.count("<redacted>") == 2
