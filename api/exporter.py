"""``jembatan export``: the node's records as JSON Lines (full envelopes) or CSV (one kind).

Both include private records and tombstones: export is the node administrator's copy of
everything the node holds. JSON Lines is lossless (``jembatan import`` of it reports every
record ``unchanged``); CSV has ``rid, version, visibility, deleted`` (an endorsement's
``version`` is its body's) and the body columns of ``network.tabular``, with a column per
language present in any record.
"""
from __future__ import annotations

import csv
import io
import json
import os
import sys
import tempfile
from contextlib import contextmanager
from pathlib import Path
from typing import IO, Iterator

from jembatan.graph import open_store
from jembatan.graph.store import LOCAL, Store
from jembatan.network import tabular
from jembatan.network.envelope import canonical_bytes

from .node import NodeConfig

CSV_META = ("rid", "version", "visibility", "deleted")


def export_jsonl(store: Store, out: IO[bytes], kind: str | None = None) -> int:
    """Every record (or every record of ``kind``), one envelope per line, in change order."""
    n = 0
    for rec in store.iter_all(LOCAL):
        if kind is None or rec.envelope["kind"] == kind:
            out.write(canonical_bytes(rec.envelope) + b"\n")
            n += 1
    return n


def export_csv(store: Store, kind: str, out: IO[str]) -> int:
    """The records of ``kind`` as CSV, in change order.

    The header must list every column used by any record, so the rows are spooled to a
    temporary file while the columns are collected: one pass over the store, one snapshot.
    """
    # an endorsement's body has its own ``version``: that column is the body's
    meta_columns = [m for m in CSV_META if not tabular.is_column(kind, m)]
    used: set[str] = set()
    n = 0
    with tempfile.TemporaryFile("w+", encoding="utf-8") as spool:
        for rec in store.iter_all(LOCAL):
            env = rec.envelope
            if env["kind"] != kind:
                continue
            flat = tabular.flatten(kind, env["body"])
            used.update(flat)
            meta = {"rid": env["rid"], "version": env["version"], "visibility": env["visibility"],
                    "deleted": "true" if env["deleted"] else "false"}
            spool.write(json.dumps([[meta[m] for m in meta_columns], flat], ensure_ascii=False) + "\n")
            n += 1
        body_columns = tabular.order_columns(kind, used)
        writer = csv.writer(out)
        writer.writerow(meta_columns + body_columns)
        spool.seek(0)
        for line in spool:
            meta, flat = json.loads(line)
            writer.writerow(meta + [flat.get(c, "") for c in body_columns])
    return n


@contextmanager
def _output(target: str, binary: bool, bom: bool) -> Iterator[IO]:
    """stdout for ``-``; else a temporary file renamed into place only when complete."""
    if target == "-":
        sys.stdout.flush()
        if binary:
            yield sys.stdout.buffer
        else:
            stream = io.TextIOWrapper(sys.stdout.buffer, encoding="utf-8", newline="")
            yield stream
            stream.flush()
            stream.detach()   # leave stdout open
        sys.stdout.buffer.flush()
        return
    path = Path(target)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent or ".")
    try:
        with (os.fdopen(fd, "wb") if binary else
              os.fdopen(fd, "w", encoding="utf-8-sig" if bom else "utf-8", newline="")) as f:
            yield f
        os.replace(tmp, path)
    except BaseException:
        os.unlink(tmp)
        raise


def run_export(cfg: NodeConfig, fmt: str, output: str, kind: str | None = None) -> int:
    """Export the node's store to ``output`` (a path, or ``-`` for stdout); the record count.

    CSV files get a byte-order mark so that spreadsheet programs read them as UTF-8.
    """
    if fmt == "csv" and kind is None:
        raise ValueError("CSV export needs a kind")
    store = open_store(cfg.store_url)
    try:
        with _output(output, binary=fmt == "jsonl", bom=True) as out:
            if fmt == "jsonl":
                return export_jsonl(store, out, kind)
            return export_csv(store, kind, out)
    finally:
        store.close()
