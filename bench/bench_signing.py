"""Signing and verification rates on demo technologies.

    python -m bench.bench_signing [--records 20000]

Per core: ``sign_envelope`` (canonicalisation + ed25519), ``split_signed`` (cut the sigs
out of a stored text), ``verify_text`` (split, registry lookup, ed25519 verify, JSON parse),
and the bare ed25519 operations for comparison; then ``verify_text`` on every core.
"""
from __future__ import annotations

import argparse
import multiprocessing
import os
import statistics
import time
from typing import Callable

import nacl.signing

from jembatan.graph.prepare import encode
from jembatan.network.demo import technologies
from jembatan.network.keys import EPOCH, b64u_decode, generate_key, load_public
from jembatan.network.registry import admit, load_registry, new_document, publish
from jembatan.network.signing import sign_envelope, split_signed, verify_text

ORIGIN = "demo-nanning"
_TEXTS: list[str] = []
_REGISTRY = None


def _rate(n: int, run: Callable[[], None], repeat: int = 3) -> float:
    """Records per second, the median of ``repeat`` runs."""
    rates = []
    for _ in range(repeat):
        started = time.perf_counter()
        run()
        rates.append(n / (time.perf_counter() - started))
    return statistics.median(rates)


def _verify_range(bounds: tuple[int, int]) -> int:
    for text in _TEXTS[bounds[0]:bounds[1]]:
        verify_text(text, _REGISTRY)
    return bounds[1] - bounds[0]


def run(records: int = 20_000) -> list[list[str]]:
    global _REGISTRY
    key = generate_key()
    root = generate_key()
    doc = admit(new_document("bench"), ORIGIN, url="https://hub.example/", kid=key.kid,
                public=key.public, not_before=EPOCH)
    _REGISTRY = load_registry(publish(doc, root, serial=1), root.public)
    envs = [e for e in technologies(records, origin=ORIGIN) if e["kind"] == "technology"]
    n = len(envs)
    signed: list[dict] = []
    sign_rate = _rate(n, lambda: signed.__setitem__(slice(None), [
        sign_envelope(e, key, ORIGIN) for e in envs]))
    _TEXTS[:] = [encode(e)[0] for e in signed]
    sizes = [len(t.encode("utf-8")) for t in _TEXTS]
    split_rate = _rate(n, lambda: [split_signed(t) for t in _TEXTS])
    verify_rate = _rate(n, lambda: [verify_text(t, _REGISTRY) for t in _TEXTS])

    data = [split_signed(t)[0] for t in _TEXTS[:5000]]
    sigs = [b64u_decode(split_signed(t)[1][0]["sig"], 64) for t in _TEXTS[:5000]]
    public = load_public(key.public)
    bare_sign = _rate(len(data), lambda: [key.sign(d) for d in data])
    bare_verify = _rate(len(data), lambda: [public.verify(s, d) for s, d in zip(sigs, data)])
    nacl_key = nacl.signing.VerifyKey(b64u_decode(key.public, 32))
    nacl_verify = _rate(len(data), lambda: [nacl_key.verify(d, s) for s, d in zip(sigs, data)])

    cores = os.cpu_count() or 1
    step = -(-n // cores)
    chunks = [(i, min(i + step, n)) for i in range(0, n, step)]
    with multiprocessing.get_context("fork").Pool(cores) as pool:
        pool.map(_verify_range, chunks)    # warm the workers
        all_cores = _rate(n, lambda: pool.map(_verify_range, chunks))

    return [
        ["sign_envelope (JCS + ed25519)", f"{sign_rate:,.0f}", "1"],
        ["ed25519 sign alone (+ base64url)", f"{bare_sign:,.0f}", "1"],
        ["split_signed", f"{split_rate:,.0f}", "1"],
        ["verify_text (split + registry + verify + parse)", f"{verify_rate:,.0f}", "1"],
        ["ed25519 verify alone (cryptography)", f"{bare_verify:,.0f}", "1"],
        ["ed25519 verify alone (PyNaCl, what verify_text uses)", f"{nacl_verify:,.0f}", "1"],
        ["verify_text on every core", f"{all_cores:,.0f}", str(cores)],
        [f"(record text: median {statistics.median(sizes):,.0f} B over {n:,} technologies)", "", ""],
    ]


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.bench_signing")
    parser.add_argument("--records", type=int, default=20_000)
    args = parser.parse_args()
    rows = run(args.records)
    print("| operation | records/s | cores |\n|---|---:|---:|")
    for row in rows:
        print("| " + " | ".join(row) + " |")


if __name__ == "__main__":
    main()
