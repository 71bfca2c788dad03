"""RFC 9421 HTTP message signatures between member nodes.

A node signs every request it sends to a peer with its current key; the peer verifies the
signature against the alliance registry, never against a key carried in the message
(ActivityPub's lesson). Anonymous requests carry no signature and see public records only.

    Signature-Input: jembatan=("@method" "@authority" "@path" "@query" "content-digest");
                     created=1735689600;keyid="node-a#k-20250101-abcdef";alg="ed25519"
    Signature:       jembatan=:<64 bytes of ed25519, base64>:
    Content-Digest:  sha-256=:<base64>:            (RFC 9530; only when there is a body)

The ``http-message-signatures`` package builds the signature base and serialises the two
fields; this module adds the policy the package leaves to its caller: one label, the covered
components, the ``created`` window, key lookup in the registry, and the body digest. Every
refusal is a ``RequestSignatureError`` (an ``Unauthorized``, 401) with a stable ``reason``.

Servers should pass the URL the client actually sent (``wsgi_url(environ)``): a framework's
reconstructed URL decodes and re-quotes the path (``%3A`` becomes ``:``), and ``@path`` is
signed as sent.
"""
from __future__ import annotations

import base64
import datetime
import hashlib
import hmac
import re
import time
from typing import Any, Callable, Iterable, Mapping
from urllib.parse import quote

import http_sf
import requests
from cryptography.exceptions import InvalidSignature as CryptoInvalidSignature
from http_message_signatures import (HTTPMessageSigner, HTTPMessageSignaturesException,
                                     HTTPMessageVerifier, HTTPSignatureKeyResolver, algorithms)

from jembatan.network import errors
from jembatan.network.ids import NODE_ID_PATTERN
from jembatan.network.keys import KID_CHARS_RE, KeyRing, b64u_decode, load_public
from jembatan.network.registry import Registry

LABEL = "jembatan"
ALG = "ed25519"
COMPONENTS = ("@method", "@authority", "@path", "@query")
DIGEST = "content-digest"
WINDOW = 300
#: the metadata parameters RFC 9421 defines; anything else is refused as malformed
PARAMETERS = frozenset({"created", "expires", "keyid", "alg", "nonce", "tag"})
_DIGESTS = {"sha-256": hashlib.sha256, "sha-512": hashlib.sha512}
_KEYID_RE = re.compile(rf"(?P<node>{NODE_ID_PATTERN})#(?P<kid>[^#]+)")
#: every character that may stand unescaped in a URI, and "%" (already escaped)
_URL_SAFE = "!#$&'()*+,/:;=?@[]~%"
_OWN_FIELDS = ("content-digest", "signature", "signature-input")
#: asks a refused caller for what this module accepts (RFC 9421 §5.1)
ACCEPT_SIGNATURE = (f'{LABEL}=("@method" "@authority" "@path" "@query" "content-digest")'
                    f';keyid;created;alg="{ALG}"')


class RequestSignatureError(errors.Unauthorized):
    """A signed request that is not accepted, with a stable ``reason`` code.

    Like ``SignatureError`` the reason travels as the problem document's extension member
    ``reason``, so a peer can tell a stale clock (``expired``) from a key the server does not
    know yet (``unknown_key``) without parsing prose.
    """

    REASONS = ("malformed", "label", "missing_component", "unsupported_alg", "no_created",
               "expired", "in_future", "bad_keyid", "no_registry", "unknown_node",
               "unknown_key", "revoked_key", "key_not_valid", "digest_missing",
               "digest_mismatch", "digest_unsupported", "bad_signature")

    def __init__(self, reason: str, sentence: str):
        super().__init__(f"The request signature is not accepted: {sentence}",
                         errors=[{"field": "Signature", "detail": sentence}])
        self.reason = reason
        self.headers = {"Accept-Signature": ACCEPT_SIGNATURE}

    def to_problem(self) -> dict[str, Any]:
        doc = super().to_problem()
        doc["reason"] = self.reason
        return doc


def _refuse(reason: str, sentence: str) -> RequestSignatureError:
    return RequestSignatureError(reason, sentence)


# -- client ---------------------------------------------------------------------------------

class _Ed25519Key(HTTPSignatureKeyResolver):
    """The one public key the registry gave for the keyid being verified."""

    def __init__(self, public: str):
        self._public = public

    def resolve_public_key(self, key_id: str):
        return load_public(self._public)

    def resolve_private_key(self, key_id: str):   # signing goes through NodeKey.sign
        raise NotImplementedError


_SIGNER = HTTPMessageSigner(signature_algorithm=algorithms.ED25519)


def content_digest(body: bytes) -> str:
    """The RFC 9530 ``Content-Digest`` value of ``body`` (SHA-256)."""
    return "sha-256=:" + base64.b64encode(hashlib.sha256(body).digest()).decode("ascii") + ":"


class NodeAuth(requests.auth.AuthBase):
    """Signs each request with the node's key valid now: ``session.auth = NodeAuth(...)``.

    The body must be in memory (bytes or str): its digest is part of what is signed. A str
    body is sent as UTF-8, the bytes that were digested.
    """

    def __init__(self, node_id: str, keyring: KeyRing,
                 clock: Callable[[], float] = time.time):
        self.node_id = node_id
        self.keyring = keyring
        self.clock = clock

    def __call__(self, r: requests.PreparedRequest) -> requests.PreparedRequest:
        body = r.body
        if isinstance(body, str):
            body = body.encode("utf-8")
            r.body = body
            r.headers["Content-Length"] = str(len(body))
        elif body is not None and not isinstance(body, (bytes, bytearray)):
            raise TypeError("NodeAuth signs bodies held in memory (bytes or str), "
                            f"not {type(body).__name__}")
        # a request signed twice (a retry) is signed afresh, never with stale fields
        for name in [n for n in r.headers if n.lower() in _OWN_FIELDS]:
            del r.headers[name]
        now = self.clock()
        key = self.keyring.current(int(now * 1000))
        prepared = _SIGNER.prepare(
            r, key_id=f"{self.node_id}#{key.kid}",
            created=datetime.datetime.fromtimestamp(now, tz=datetime.timezone.utc),
            label=LABEL, covered_component_ids=COMPONENTS,
            body=bytes(body) if body else None)
        _SIGNER.apply(r, prepared, b64u_decode(key.sign(prepared.signature_base), 64))
        return r


# -- server ---------------------------------------------------------------------------------

class _Message:
    """The request as the package's component resolver reads it."""

    __slots__ = ("method", "url", "headers")

    def __init__(self, method: str, url: str, headers: "_Fields"):
        self.method, self.url, self.headers = method, url, headers


class _Fields:
    """Read-only header lines in order (a WSGI ``EnvironHeaders``, a dict, pairs)."""

    __slots__ = ("_items",)

    def __init__(self, headers: Mapping[str, str] | Iterable[tuple[str, str]]):
        items = headers.items() if hasattr(headers, "items") else headers
        self._items = [(str(k), str(v)) for k, v in items]

    def items(self) -> list[tuple[str, str]]:
        return self._items

    def __iter__(self):
        return iter(dict.fromkeys(k for k, _ in self._items))

    def __contains__(self, name: str) -> bool:
        return any(k.lower() == name.lower() for k, _ in self._items)

    def get(self, name: str) -> str | None:
        values = [v.strip(" \t") for k, v in self._items if k.lower() == name]
        return ", ".join(values) if values else None


class _Verifier(HTTPMessageVerifier):
    # the time window is checked before the key is looked up, against the caller's ``now``
    def validate_created_and_expires(self, sig_input, max_age=None):
        return None


def _no_duplicates(key: str, context: str) -> None:
    if context == "dictionary":
        raise ValueError(f"the label {key!r} appears twice")


def _dictionary(name: str, value: str) -> dict:
    try:
        parsed = http_sf.parse(value.encode("ascii"), tltype="dictionary",
                               on_duplicate_key=_no_duplicates)
    except (ValueError, TypeError, UnicodeEncodeError) as exc:
        raise _refuse("malformed", f"{name} is not a structured-field dictionary ({exc}).")
    if not isinstance(parsed, dict):
        raise _refuse("malformed", f"{name} is not a structured-field dictionary.")
    return parsed


def _check_digest(value: str | None, body: bytes) -> None:
    if value is None:
        raise _refuse("digest_missing", "The request has a body but no Content-Digest.")
    members = _dictionary("Content-Digest", value)
    if not members:
        raise _refuse("digest_missing", "Content-Digest is empty.")
    for alg, member in members.items():
        if alg not in _DIGESTS:
            raise _refuse("digest_unsupported", f"Content-Digest algorithm {alg!r} is not "
                          "supported (sha-256 or sha-512).")
        digest = member[0]
        if not isinstance(digest, bytes) or not hmac.compare_digest(
                digest, _DIGESTS[alg](body).digest()):
            raise _refuse("digest_mismatch", "Content-Digest does not match the body.")


def _ascii_url(url: str) -> str:
    # a framework's URL may be an IRI (werkzeug's request.url): percent-encode what the
    # client must have encoded, leaving every reserved character and escape as it is
    if url.isascii() and " " not in url:
        return url
    return quote(url, safe=_URL_SAFE)


def wsgi_url(environ: Mapping[str, Any]) -> str:
    """The absolute URL of a WSGI request with the path and query exactly as sent.

    Uses the server's raw request target (``RAW_URI`` from gunicorn and werkzeug,
    ``REQUEST_URI``), else ``SCRIPT_NAME + PATH_INFO`` re-quoted; the authority is the Host
    header the client sent.
    """
    scheme = environ.get("wsgi.url_scheme", "http")
    host = environ.get("HTTP_HOST")
    if not host:
        host = environ.get("SERVER_NAME", "localhost")
        port = str(environ.get("SERVER_PORT", ""))
        if port and port != {"http": "80", "https": "443"}.get(scheme):
            host = f"{host}:{port}"
    raw = environ.get("RAW_URI") or environ.get("REQUEST_URI")
    query = environ.get("QUERY_STRING", "")
    if raw and not raw.isascii():
        # PEP 3333: environ strings are the request's bytes decoded as latin-1
        raw = quote(raw.encode("latin-1", "replace"), safe=_URL_SAFE)
    if raw and "://" in raw.split("?", 1)[0]:
        return _ascii_url(raw)          # absolute-form target
    if raw and raw.startswith("/"):
        # werkzeug's test client leaves a query passed apart from the path out of RAW_URI
        if "?" not in raw and query:
            raw = f"{raw}?{query}"
    else:
        path = (environ.get("SCRIPT_NAME", "") + environ.get("PATH_INFO", "")) or "/"
        # PEP 3333 strings are bytes decoded as latin-1
        path = quote(path.encode("latin-1"), safe="/!$&'()*+,;=:@~")
        raw = path + (f"?{query}" if query else "")
    return _ascii_url(f"{scheme}://{host}{raw}")


def verify_request(*, method: str, url: str, headers: Mapping[str, str], body: bytes,
                   registry: Registry | None, now: float | None = None,
                   window: int = WINDOW) -> str | None:
    """The node id whose key signed this request; None for an unsigned (anonymous) request.

    Raises ``RequestSignatureError`` (401, with ``reason``) for any signature that is not
    accepted. Whether the signer is an active member is the caller's question
    (``registry.is_member``): a suspended node's valid signature still names it.
    """
    body = bytes(body or b"")
    fields = _Fields(headers)
    raw_input, raw_sig = fields.get("signature-input"), fields.get("signature")
    if raw_input is None and raw_sig is None:
        return None
    if raw_input is None or raw_sig is None:
        missing = "Signature-Input" if raw_input is None else "Signature"
        raise _refuse("malformed", f"The request has a signature but no {missing} field.")
    inputs = _dictionary("Signature-Input", raw_input)
    sigs = _dictionary("Signature", raw_sig)
    if set(inputs) != {LABEL} or set(sigs) != {LABEL}:
        labels = sorted(set(inputs) | set(sigs))
        raise _refuse("label", f"Exactly one signature labelled {LABEL!r} is accepted, "
                      f"not {', '.join(map(repr, labels)) or 'none'}.")
    components, params = inputs[LABEL]
    signature = sigs[LABEL][0]
    if not isinstance(components, list) or not isinstance(signature, bytes):
        raise _refuse("malformed", "Signature-Input must hold an inner list and Signature a "
                      "byte sequence.")
    if len(signature) != 64:
        raise _refuse("malformed", "An ed25519 signature is 64 bytes.")
    unknown = set(params) - PARAMETERS
    if unknown:
        raise _refuse("malformed", f"Unknown signature parameter(s) {sorted(unknown)}.")

    covered = {name for name, p in components if isinstance(name, str) and not p}
    required = COMPONENTS + ((DIGEST,) if body else ())
    missing = [c for c in required if c not in covered]
    if missing:
        raise _refuse("missing_component", "The signature must cover "
                      f"{', '.join(missing)}.")
    if params.get("alg") != ALG:
        raise _refuse("unsupported_alg", f"The signature must declare alg=\"{ALG}\", not "
                      f"{params.get('alg')!r}.")

    now = time.time() if now is None else now
    created = params.get("created")
    if created is None:
        raise _refuse("no_created", "The signature has no created parameter.")
    if type(created) is not int:
        raise _refuse("malformed", "created must be an integer of seconds.")
    if created < now - window:
        raise _refuse("expired", f"The signature was created {int(now - created)} s ago; "
                      f"at most {window} s are accepted.")
    if created > now + window:
        raise _refuse("in_future", f"The signature is created {int(created - now)} s in the "
                      f"future; at most {window} s of clock skew are accepted.")
    expires = params.get("expires")
    if expires is not None:
        if type(expires) is not int:
            raise _refuse("malformed", "expires must be an integer of seconds.")
        if expires <= now:
            raise _refuse("expired", "The signature's expires time has passed.")

    keyid = params.get("keyid")
    match = _KEYID_RE.fullmatch(keyid) if isinstance(keyid, str) else None
    if match is None or not KID_CHARS_RE.match(match["kid"]):
        raise _refuse("bad_keyid", f"keyid must be \"<node>#<kid>\", not {keyid!r}.")
    node, kid = match["node"], match["kid"]
    if registry is None:
        raise _refuse("no_registry", "This node has no alliance registry yet, so it cannot "
                      "verify any node's signature.")
    try:
        public = registry.key_for(node, kid, int(now * 1000))
    except errors.SignatureError as exc:
        raise _refuse(exc.reason, exc.detail) from None

    if DIGEST in covered or body:
        _check_digest(fields.get(DIGEST), body)

    message = _Message(method, _ascii_url(url), fields)
    verifier = _Verifier(signature_algorithm=algorithms.ED25519, key_resolver=_Ed25519Key(public))
    try:
        verifier.verify(message, max_age=None)
    except HTTPMessageSignaturesException as exc:
        if isinstance(exc.__cause__, CryptoInvalidSignature):
            raise _refuse("bad_signature", "The signature does not verify with key "
                          f"{kid!r} of node {node!r}: the method, authority, path, query or "
                          "a covered field differs from what was signed.") from None
        raise _refuse("malformed", f"The signature base cannot be built: {exc}.") from None
    return node
