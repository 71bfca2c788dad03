"""Signed records: sign an envelope, and verify a record's canonical text before parsing it.

    sign_envelope(env, key, signer) → env with sigs = [{signer, kid, alg, sig}]
    sign_all(envelopes, key, signer) → the same, streamed
    split_signed(text) → (signing bytes, sigs)        no JSON parse of the body
    verify_text(text, registry) → the parsed envelope  or SignatureError(reason)

A signature covers ``signing_bytes(env)`` = ``"jembatan-record-v1\\n" + JCS(env − sigs)``. The
canonical text a store keeps and a peer serves is that JCS text with the ``"sigs":[…]``
member in its sorted place, which is always the third member from the end — only
``version`` (an integer) and ``visibility`` (an enum word) sort after it, and ``rid`` sorts
right before it. So a receiver cuts the sigs out of the received bytes from the tail,
checks the signature over exactly what arrived, and only then parses: a record is never
re-canonicalised on the way in, and nothing is parsed that nobody signed.

Reason codes (``SignatureError.reason``): unsigned, not_canonical, bad_signature,
unknown_node, unknown_key, revoked_key, key_not_valid, origin_mismatch, namespace_mismatch.
"""
from __future__ import annotations

import json
import re
from typing import TYPE_CHECKING, Iterable, Iterator

from .envelope import SIGNING_PREFIX, signing_bytes
from .errors import SignatureError
from .ids import KINDS, NODE_ID_PATTERN
from .keys import NodeKey, verify_signature

if TYPE_CHECKING:
    from .registry import Registry

ALG = "ed25519"
SIG_KEYS = frozenset({"signer", "kid", "alg", "sig"})

# The tail of a canonical record: ...,"sigs":[…],"version":N,"visibility":"word"}
_TAIL = re.compile(rb',"version":(?:0|[1-9][0-9]{0,15}),"visibility":"[a-z]{1,20}"\}\Z')
# What precedes the sigs member: ,"deleted":…,"hlc":"…","kind":"…","origin":"…","rid":"…"
_HEAD = re.compile(
    rb',"deleted":(?:true|false),"hlc":"(?P<ms>[0-9]{13})-[0-9]{4}","kind":"(?P<kind>[a-z]{1,20})"'
    rb',"origin":"(?P<origin>[^"\\]{0,100})"'
    rb',"rid":"urn:jembatan:(?P<ns>' + NODE_ID_PATTERN.encode() + rb'):(?P<rkind>'
    + "|".join(KINDS).encode() + rb'):[0-9a-f-]{36}"\Z')
_SIGS_KEY = b',"sigs":['
_HEAD_WINDOW = 320   # bytes before the sigs member that hold deleted…rid (at most ~280)


def sign_envelope(env: dict, key: NodeKey, signer: str) -> dict:
    """A copy of ``env`` signed by ``key`` on behalf of node ``signer`` (the record's origin).

    A key with a known window refuses records whose HLC lies outside it: a receiver would
    refuse them too (``key_not_valid``), better to learn it here.
    """
    ms = int(env["hlc"][:13])
    if not key.covers(ms):
        raise SignatureError("key_not_valid", f"key {key.kid} is not valid at the record's "
                             f"hlc {env['hlc']}; sign it with the key whose window holds it")
    sig = {"signer": signer, "kid": key.kid, "alg": ALG, "sig": key.sign(signing_bytes(env))}
    out = dict(env)
    out["sigs"] = [sig]
    return out


def sign_all(envelopes: Iterable[dict], key: NodeKey, signer: str) -> Iterator[dict]:
    for env in envelopes:
        yield sign_envelope(env, key, signer)


def _split(data: bytes) -> tuple[int, int, int]:
    """(start of the sigs member, start of its array, end of the array) or not_canonical."""
    tail = _TAIL.search(data, max(0, len(data) - 64))
    if tail is None or data[tail.start() - 1:tail.start()] != b"]":
        raise SignatureError("not_canonical", "The record's text does not end in "
                             "…,\"sigs\":[…],\"version\":N,\"visibility\":\"…\"}.")
    end = tail.start()
    cut = data.rfind(_SIGS_KEY, 0, end)
    if cut < 0:
        raise SignatureError("not_canonical", "The record's text has no sigs member.")
    return cut, cut + len(_SIGS_KEY) - 1, end


def _parse_sigs(raw: bytes) -> list[dict]:
    try:
        sigs = json.loads(raw)
    except ValueError:
        raise SignatureError("not_canonical", "The sigs member is not a JSON array.") from None
    if not isinstance(sigs, list) or not all(
            isinstance(s, dict) and s.keys() == SIG_KEYS
            and all(isinstance(v, str) for v in s.values()) for s in sigs):
        raise SignatureError("not_canonical", "Each signature is {signer, kid, alg, sig}.")
    return sigs


def split_signed(text: str | bytes) -> tuple[bytes, list[dict]]:
    """The signing bytes of a canonical record text and its parsed signatures.

    The sigs member is found from the end of the text without parsing the rest; a text not
    in the canonical layout raises ``SignatureError("not_canonical")``.
    """
    data = text.encode("utf-8") if isinstance(text, str) else bytes(text)
    cut, start, end = _split(data)
    return SIGNING_PREFIX + data[:cut] + data[end:], _parse_sigs(data[start:end])


def verify_text(text: str | bytes, registry: Registry) -> dict:
    """Check a record's canonical text against the alliance registry, then parse it.

    The signature must be by the node named in the rid (its namespace), with the key the
    registry gives that node for the record's HLC moment, over exactly the received bytes;
    the parsed envelope's origin must be that node too. Returns the parsed envelope; the
    caller still validates it (``load_envelope``) and compares ``prepare``'s text with the
    received one, which refuses any text that is not the canonical form.
    """
    data = text.encode("utf-8") if isinstance(text, str) else bytes(text)
    cut, start, end = _split(data)
    head = _HEAD.search(data, max(0, cut - _HEAD_WINDOW), cut)
    if head is None or not data.startswith(b'{"body":'):
        raise SignatureError("not_canonical", "The record's text is not in canonical member "
                             "order (body, deleted, hlc, kind, origin, rid, sigs, version, "
                             "visibility).")
    sigs = _parse_sigs(data[start:end])
    if not sigs:
        raise SignatureError("unsigned", "The record carries no signature.")
    namespace = head["ns"].decode("ascii")
    mine = [s for s in sigs if s["signer"] == namespace]
    if not mine:
        raise SignatureError("namespace_mismatch", f"The rid is in node {namespace!r}'s "
                             f"namespace but the record is signed by "
                             f"{', '.join(repr(s['signer']) for s in sigs)}.")
    if len(mine) > 1:
        raise SignatureError("not_canonical", f"Node {namespace!r} signed the record twice.")
    sig = mine[0]
    if sig["alg"] != ALG:
        raise SignatureError("bad_signature", f"Unknown signature algorithm {sig['alg']!r}.")
    if head["origin"] != head["ns"]:
        raise SignatureError("origin_mismatch", "The record's origin is not the node named "
                             "in its rid.")
    public = registry.key_for(namespace, sig["kid"], int(head["ms"]))
    if not verify_signature(public, sig["sig"], SIGNING_PREFIX + data[:cut] + data[end:]):
        raise SignatureError("bad_signature", f"The signature of {namespace!r} (key "
                             f"{sig['kid']}) does not match the record's bytes.")
    try:
        env = json.loads(text if isinstance(text, str) else data)
    except (ValueError, RecursionError):
        raise SignatureError("not_canonical", "The record's text is not JSON.") from None
    if not isinstance(env, dict) or env.get("sigs") != sigs:
        raise SignatureError("not_canonical", "The sigs member is not where the canonical "
                             "layout puts it.")
    if env.get("origin") != namespace or not isinstance(env.get("rid"), str) \
            or env["rid"].split(":")[2:3] != [namespace]:
        raise SignatureError("origin_mismatch", "The record's origin is not the node named "
                             "in its rid.")
    return env
