"""Node keys: ed25519 through ``cryptography``, the key files and their validity windows."""
from __future__ import annotations

import json
import stat
from pathlib import Path

import pytest

from jembatan.network import keys
from jembatan.network.keys import (KeyFileError, NodeKey, NoSigningKey, add_key, b64u,
                                   b64u_decode, current_key, ensure_key, format_time,
                                   generate_key, load_keyring, parse_time, read_key_infos,
                                   verify_signature)

T0 = parse_time("2025-06-01T00:00:00Z")


def test_sign_and_verify_round_trip():
    key = generate_key()
    sig = key.sign(b"hello")
    assert len(key.public) == 43 and len(sig) == 86 and "=" not in sig + key.public
    assert verify_signature(key.public, sig, b"hello")
    assert not verify_signature(key.public, sig, b"hellO")
    assert not verify_signature(generate_key().public, sig, b"hello")


@pytest.mark.parametrize("public, sig", [
    ("not-a-key", None), (None, "short"), (None, "A" * 86 + "=="), (None, "*" * 86),
])
def test_malformed_keys_and_signatures_do_not_verify(public, sig):
    key = generate_key()
    good = key.sign(b"x")
    assert not verify_signature(public or key.public, sig or good, b"x")


def test_base64url_is_strict():
    raw = bytes(range(32))
    text = b64u(raw)
    assert b64u_decode(text, 32) == raw
    for bad in (text + "=", text[:-1], text[:-1] + "B" if text[-1] != "B" else text[:-1] + "C"):
        with pytest.raises(ValueError):
            b64u_decode(bad, 32)   # padding, length, or non-zero unused bits


def test_pem_round_trip_keeps_the_key():
    key = generate_key("k-20250601-abcdef")
    again = NodeKey.from_pem(key.to_pem(), key.kid)
    assert again.public == key.public and verify_signature(key.public, again.sign(b"m"), b"m")
    assert keys.KID_RE.match(generate_key().kid)


def test_times_round_trip():
    assert format_time(T0) == "2025-06-01T00:00:00Z"
    assert parse_time("2025-06-01T00:00:00.250Z") == T0 + 250
    assert format_time(T0 + 250) == "2025-06-01T00:00:00.250Z"
    for bad in ("2025-06-01T00:00:00", "2025-06-01 00:00:00Z", "2025-06-01T00:00:00+07:00"):
        with pytest.raises(ValueError):
            parse_time(bad)


def test_first_key_covers_everything_and_files_are_private(tmp_path: Path):
    info = add_key(tmp_path)
    assert info.not_before == keys.EPOCH and info.not_after is None
    pem = tmp_path / "keys" / f"{info.kid}.pem"
    assert stat.S_IMODE(pem.stat().st_mode) == 0o600
    assert stat.S_IMODE((tmp_path / "keys").stat().st_mode) == 0o700
    assert json.loads((tmp_path / "keys.json").read_text()) == [
        {"kid": info.kid, "public": info.public, "not_before": keys.EPOCH, "not_after": None,
         "status": "active"}]
    assert current_key(tmp_path, 0).kid == info.kid
    assert ensure_key(tmp_path) is None and len(read_key_infos(tmp_path)) == 1


def test_rotation_closes_the_old_window_where_the_new_one_opens(tmp_path: Path):
    first = add_key(tmp_path)
    rotated_at = T0 + 60_000
    second = add_key(tmp_path, rotated_at, now=T0)
    infos = read_key_infos(tmp_path)
    assert [i.kid for i in infos] == [first.kid, second.kid]
    assert infos[0].not_after == infos[1].not_before == format_time(rotated_at)
    ring = load_keyring(tmp_path)
    assert ring.at(T0).kid == first.kid                  # before the switch: the old key
    assert ring.at(rotated_at - 1).kid == first.kid
    assert ring.at(rotated_at).kid == second.kid         # from the switch on: the new one
    assert current_key(tmp_path, rotated_at + 10**9).kid == second.kid
    assert (tmp_path / "keys" / f"{first.kid}.pem").exists()   # old keys are kept


def test_rotation_defaults_to_the_next_whole_second(tmp_path: Path):
    add_key(tmp_path)
    info = add_key(tmp_path, now=T0 + 1)
    assert info.not_before == format_time(T0 + 1000)


def test_rotation_may_not_start_in_the_past_or_before_the_newest_key(tmp_path: Path):
    add_key(tmp_path)
    add_key(tmp_path, T0 + 10_000, now=T0)
    before = (tmp_path / "keys.json").read_bytes()
    with pytest.raises(KeyFileError, match="in the past"):
        add_key(tmp_path, T0 - 1, now=T0)
    with pytest.raises(KeyFileError, match="must be after"):
        add_key(tmp_path, T0 + 5_000, now=T0)
    assert (tmp_path / "keys.json").read_bytes() == before
    assert len(list((tmp_path / "keys").iterdir())) == 2


def test_no_key_for_a_moment_is_an_error(tmp_path: Path):
    with pytest.raises(NoSigningKey):
        load_keyring(tmp_path).at(T0)
    first = add_key(tmp_path, T0)          # a first key may start later than the epoch
    with pytest.raises(NoSigningKey, match="no active key"):
        load_keyring(tmp_path).at(T0 - 1)
    assert load_keyring(tmp_path).at(T0).kid == first.kid


def test_damaged_key_files_are_reported(tmp_path: Path):
    info = add_key(tmp_path)
    other = generate_key(info.kid)
    (tmp_path / "keys" / f"{info.kid}.pem").write_bytes(other.to_pem())
    with pytest.raises(KeyFileError, match="does not hold the public key"):
        load_keyring(tmp_path)
    (tmp_path / "keys" / f"{info.kid}.pem").unlink()
    with pytest.raises(KeyFileError, match="cannot read"):
        load_keyring(tmp_path)
    (tmp_path / "keys.json").write_text('[{"kid": "x"}]')
    with pytest.raises(KeyFileError, match="malformed"):
        read_key_infos(tmp_path)
