"""Request-signature rates: NodeAuth signing and verify_request on one GET, on one core.

    python -m bench.bench_httpsig [--seconds 3]

Prints requests/s for signing, verifying, and both, next to the bare ed25519 operations of network.keys.
"""
from __future__ import annotations

import argparse
import time
from typing import Callable

import requests

from jembatan.network.keys import EPOCH, KeyInfo, KeyRing, generate_key, verify_signature
from jembatan.network.registry import admit, load_registry, new_document, publish
from jembatan.sync.httpsig import NodeAuth, verify_request

URL = "http://127.0.0.1:8080/sync/v1/changes?since=c1.0190a1b2c3d4&limit=500"


def _rate(seconds: float, run: Callable[[], None]) -> float:
    n, started = 0, time.perf_counter()
    while (elapsed := time.perf_counter() - started) < seconds:
        for _ in range(100):
            run()
        n += 100
    return n / elapsed


def run(seconds: float = 3.0) -> list[list[str]]:
    key, root = generate_key(), generate_key()
    doc = admit(new_document("bench"), "node-a", url="https://a.example/", kid=key.kid,
                public=key.public, not_before=EPOCH)
    registry = load_registry(publish(doc, root, serial=1), root.public)
    auth = NodeAuth("node-a", KeyRing([(KeyInfo(key.kid, key.public, EPOCH, None), key)]))
    template = requests.Request("GET", URL).prepare()

    def sign() -> requests.PreparedRequest:
        return auth(template.copy())

    signed = sign()

    def verify(req: requests.PreparedRequest = signed) -> None:
        assert verify_request(method=req.method, url=req.url, headers=req.headers, body=b"",
                              registry=registry) == "node-a"

    raw = bytes(200)
    sig = key.sign(raw)
    return [
        ["NodeAuth sign (one GET)", f"{_rate(seconds, sign):,.0f}"],
        ["verify_request (one GET)", f"{_rate(seconds, verify):,.0f}"],
        ["sign + verify", f"{_rate(seconds, lambda: verify(sign())):,.0f}"],
        ["NodeKey.sign (200 B)", f"{_rate(seconds, lambda: key.sign(raw)):,.0f}"],
        ["keys.verify_signature (200 B)",
         f"{_rate(seconds, lambda: verify_signature(key.public, sig, raw)):,.0f}"],
    ]


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.bench_httpsig")
    parser.add_argument("--seconds", type=float, default=3.0)
    args = parser.parse_args()
    rows = run(args.seconds)
    width = max(len(r[0]) for r in rows)
    print(f"{'operation':<{width}}  per second (one core)")
    for name, rate in rows:
        print(f"{name:<{width}}  {rate:>10}")


if __name__ == "__main__":
    main()
