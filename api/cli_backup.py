"""``jembatan store backup | restore | new-epoch``: a node's store saved and brought back.

A restored store has gone back in time: changes made after the backup are gone, and the
change sequence will hand out numbers again that peers have already read. So a restore
starts a new **epoch**; peers presenting a cursor of the old one get 410 and read the
node's feed again from the beginning (applying what they already hold changes nothing).

SQLite stores are backed up online with SQLite's backup API. A Neo4j store is saved and
loaded with ``neo4j-admin database dump|load``; run ``jembatan store new-epoch`` after a load.
"""
from __future__ import annotations

import os
import sqlite3
from contextlib import closing
from pathlib import Path

import click

from jembatan.graph import open_store

from .cli_keys import dir_option
from .node import NodeConfig, load_node


def _sqlite_path(cfg: NodeConfig) -> Path:
    url = cfg.store_url
    if not url.startswith("sqlite:///"):
        raise click.UsageError("backup and restore work on SQLite stores; for Neo4j use "
                               "`neo4j-admin database dump|load`, then `jembatan store new-epoch`")
    return Path(url.removeprefix("sqlite://"))


@click.command("backup")
@dir_option()
@click.argument("target", type=click.Path(dir_okay=False, path_type=Path))
def store_backup(home: Path, target: Path) -> None:
    """Copy the node's store to TARGET (consistent, while the node runs)."""
    src = _sqlite_path(load_node(home))
    if target.exists():
        raise click.UsageError(f"{target} exists; give a new file")
    partial = target.with_name(target.name + ".partial")
    with closing(sqlite3.connect(src)) as a, closing(sqlite3.connect(partial)) as b:
        a.backup(b)
    os.replace(partial, target)
    click.echo(f"Backed up {src} to {target}")


@click.command("restore")
@dir_option()
@click.argument("backup", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option("--yes", is_flag=True, help="Do not ask; the current store is replaced.")
def store_restore(home: Path, backup: Path, yes: bool) -> None:
    """Replace the node's store with BACKUP and start a new epoch. Stop the node first."""
    cfg = load_node(home)
    db = _sqlite_path(cfg)
    with closing(sqlite3.connect(f"file:{backup}?mode=ro", uri=True)) as conn:
        if conn.execute("PRAGMA quick_check").fetchone()[0] != "ok":
            raise click.ClickException(f"{backup} is not a sound SQLite database")
    if not yes:
        click.confirm(f"Replace {db} with {backup}?", abort=True)
    copy = db.with_name(db.name + ".restoring")
    with closing(sqlite3.connect(backup)) as a, closing(sqlite3.connect(copy)) as b:
        a.backup(b)
    # a write-ahead log left by the old database must never be replayed into the restored one
    for suffix in ("-wal", "-shm"):
        Path(str(db) + suffix).unlink(missing_ok=True)
    os.replace(copy, db)
    with closing(open_store(cfg.store_url)) as store:
        epoch = store.new_epoch()
    click.echo(f"Restored {db} from {backup}; new epoch {epoch}: peers read this node's feed "
               "again from the beginning.")


@click.command("new-epoch")
@dir_option()
def store_new_epoch(home: Path) -> None:
    """Start a new epoch (after restoring the store by other means)."""
    cfg = load_node(home)
    with closing(open_store(cfg.store_url)) as store:
        click.echo(f"New epoch {store.new_epoch()}")
