import base64
import json

import pytest

from jembatan.graph.cursor import CursorCodec, fingerprint
from jembatan.network.errors import BadRequest

KEY = bytes(range(32))
FP = fingerprint("list", kinds=("technology",), scope=frozenset({"public"}))


def test_round_trip():
    codec = CursorCodec(KEY)
    token = codec.encode([42], FP)
    assert codec.decode(token, FP, (int,)) == (42,)
    token = codec.encode([-3.25, 7], FP)
    assert codec.decode(token, FP, (float, int)) == (-3.25, 7)


def test_floats_survive_exactly():
    codec = CursorCodec(KEY)
    score = -1.2345678901234567e-06
    assert codec.decode(codec.encode([score, 1], FP), FP, (float, int))[0] == score


def test_token_is_url_safe_and_opaque():
    token = CursorCodec(KEY).encode([123456789], FP)
    assert all(c.isalnum() or c in "-_." for c in token)
    assert "technology" not in token and "public" not in token


def test_fingerprint_ignores_set_order_and_sees_every_part():
    a = fingerprint("list", kinds=("demand", "technology"), scope=frozenset({"public", "alliance"}))
    b = fingerprint("list", kinds=("technology", "demand"), scope=frozenset({"alliance", "public"}))
    assert a == b
    assert a != fingerprint("search", kinds=("demand", "technology"), scope=frozenset({"public", "alliance"}))
    assert a != fingerprint("list", kinds=("demand",), scope=frozenset({"public", "alliance"}))
    assert a != fingerprint("list", kinds=("demand", "technology"), scope=frozenset({"public"}))


def _refused(codec, token, fp=FP, shape=(int,)):
    with pytest.raises(BadRequest) as exc:
        codec.decode(token, fp, shape)
    assert exc.value.detail == "invalid cursor"
    assert exc.value.__cause__ is None


def test_other_query_or_key_is_refused():
    codec = CursorCodec(KEY)
    token = codec.encode([42], FP)
    _refused(codec, token, fp=fingerprint("list", kinds=("demand",), scope=frozenset({"public"})))
    _refused(CursorCodec(bytes(32)), token)


def test_every_single_character_change_is_refused():
    codec = CursorCodec(KEY)
    token = codec.encode([42], FP)
    alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_."
    for i, ch in enumerate(token):
        for other in (alphabet[(alphabet.index(ch) + 1) % len(alphabet)], "="):
            _refused(codec, token[:i] + other + token[i + 1:])


def test_forged_payload_with_old_mac_is_refused():
    codec = CursorCodec(KEY)
    mac = codec.encode([42], FP).split(".")[1]
    forged = base64.urlsafe_b64encode(json.dumps([1]).encode()).rstrip(b"=").decode()
    _refused(codec, f"{forged}.{mac}")


@pytest.mark.parametrize("token", [None, 42, "", ".", "a.b.c", "x" * 600, "é.é", "AAAA", "AAAA.",
                                   "====.===="])
def test_malformed_tokens_are_refused(token):
    _refused(CursorCodec(KEY), token)


def test_wrong_shape_is_refused():
    codec = CursorCodec(KEY)
    _refused(codec, codec.encode(["42"], FP))
    _refused(codec, codec.encode([42, 1], FP))
    _refused(codec, codec.encode([True], FP))
    _refused(codec, codec.encode([1.5], FP))
    assert codec.decode(codec.encode([3, 1], FP), FP, (float, int)) == (3.0, 1)


def test_short_keys_are_not_accepted():
    with pytest.raises(ValueError):
        CursorCodec(b"short")
