"""The ``jembatan`` command line: init, serve, token, import, export, demo, store copy, and
(from ``cli_keys`` and ``cli_alliance``) key, registry and alliance.

Every command finds its node through ``--dir`` or ``JEMBATAN_HOME``. User errors end with a
one-line message on stderr and a non-zero exit (2 for bad usage or a bad node directory,
1 for anything else), never a traceback.
"""
from __future__ import annotations

import os
import shutil
import signal
import sys
from contextlib import closing
from pathlib import Path
from typing import Any

import click

from jembatan.graph import open_store
from jembatan.network.errors import BadRequest, JembatanError
from jembatan.network.ids import KINDS
from jembatan.network.keys import ensure_key, read_key_infos
from jembatan.network.vocab import VISIBILITIES

from .cli_alliance import alliance as alliance_group
from .cli_backup import store_backup, store_new_epoch, store_restore
from .cli_demo import demo
from .cli_events import events as events_group
from .cli_flows import flows_command, stats_command
from .cli_match import match_command
from .cli_keys import key as key_group, registry as registry_group
from .cli_lifecycle import stage_command
from .cli_staff import staff as staff_group
from .cli_sync import peer as peer_group, quarantine, sync
from .import_sources import FORMATS, ImportFailed, format_of
from .node import ROLES, NodeConfig, NodeError, Tokens, init_node, load_node
from .settings import from_env
from .store_copy import StoreArgumentError, redact


class _Cli(click.Group):
    """Turns the domain's errors into click's: a message and an exit code, no traceback."""

    def invoke(self, ctx: click.Context) -> Any:
        try:
            return super().invoke(ctx)
        except (NodeError, StoreArgumentError) as exc:
            raise click.UsageError(str(exc), ctx) from None
        except (ImportFailed, JembatanError, OSError) as exc:
            message = getattr(exc, "detail", None) or str(exc)
            details = [f"{e['field']}: {e['detail']}" for e in getattr(exc, "errors", None) or ()]
            if details and not any(d in message for d in details):
                message += " " + "; ".join(details)
            raise click.ClickException(message) from None


def _dir_option(required: bool = True):
    return click.option("--dir", "home", envvar="JEMBATAN_HOME", required=required,
                        type=click.Path(file_okay=False, path_type=Path),
                        help="The node directory (or set JEMBATAN_HOME).")


@click.group(cls=_Cli, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(package_name="jembatan")
def cli() -> None:
    """Jembatan: a node of the China–ASEAN technology transfer alliance."""


# -- init -----------------------------------------------------------------------------------

def _create_store(cfg: NodeConfig) -> None:
    store = open_store(cfg.store_url)
    store.close()


@cli.command()
@_dir_option()
@click.option("--name", required=True, help="The institution running the node.")
@click.option("--country", required=True, help="ISO 3166-1 alpha-2 code, e.g. ID, CN, TH.")
@click.option("--node-id", help="Node id (lowercase letters, digits, '-'); default: from the name.")
@click.option("--store", default="sqlite:///node.db", show_default=True,
              help="Store URL; a relative sqlite path is inside the node directory.")
@click.option("--url", help="The base URL peers reach this node at (shown by `key show`).")
@click.option("--alliance-root", metavar="KEY",
              help="Pin the alliance root public key (as `jembatan alliance init` prints it).")
def init(home: Path, name: str, country: str, node_id: str | None, store: str,
         url: str | None, alliance_root: str | None) -> None:
    """Create a node: its identity (node.json), its first signing key and its empty store."""
    created_dir = not home.exists()
    had_keys = (home / "keys.json").exists()
    cfg = init_node(home, name=name, country=country, node_id=node_id, store=store, url=url,
                    alliance_root=alliance_root)
    try:
        _create_store(cfg)
    except BaseException as exc:
        # nothing half-made: a node without a store would look usable and is not
        (cfg.home / "node.json").unlink(missing_ok=True)
        if created_dir:
            shutil.rmtree(cfg.home, ignore_errors=True)
        elif not had_keys:
            (cfg.home / "keys.json").unlink(missing_ok=True)
            shutil.rmtree(cfg.home / "keys", ignore_errors=True)
        if isinstance(exc, (ValueError, BadRequest)):   # a store URL we cannot use
            raise click.UsageError(f"--store {store}: {exc}") from None
        if isinstance(exc, Exception):
            raise click.ClickException(f"cannot create the store {cfg.store_url}: {exc}") from None
        raise
    click.echo(f"Created node {cfg.node_id} in {cfg.home}")
    key = read_key_infos(cfg.home)[-1]
    click.echo(f"Signing key {key.kid}: {key.public}  (`jembatan key show` for the identity card)")


# -- serve ----------------------------------------------------------------------------------

def _url(host: str, port: int) -> str:
    return f"http://[{host}]:{port}/" if ":" in host else f"http://{host}:{port}/"


def _serve(cfg: NodeConfig, host: str, port: int, dev: bool) -> None:
    if dev:
        from werkzeug.serving import make_server

        from .app import create_app
        server = make_server(host, port, create_app({"JEMBATAN_HOME": str(cfg.home)}), threaded=True)
        click.echo(f"Serving {cfg.node_id} on {_url(host, server.server_port)}")
        sys.stdout.flush()
        signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
        try:
            server.serve_forever()
        except KeyboardInterrupt:
            pass
        finally:
            server.server_close()
        return
    from gunicorn.app.base import BaseApplication

    class NodeApplication(BaseApplication):
        """gunicorn through its Python API; each worker builds its own app (no preload), so
        no store connection is ever shared across a fork."""

        def load_config(self) -> None:
            settings = from_env()
            workers = settings["JEMBATAN_WORKERS"] or 2 * (os.cpu_count() or 1) + 1
            bind = f"[{host}]:{port}" if ":" in host else f"{host}:{port}"
            # no control socket: its default path is per user, and two nodes on one
            # machine would fight over it
            for key, value in {"bind": [bind], "workers": workers, "preload_app": False,
                               "proc_name": f"jembatan {cfg.node_id}",
                               "loglevel": settings["JEMBATAN_LOG_LEVEL"],
                               "control_socket_disable": True,
                               "when_ready": self.when_ready}.items():
                self.cfg.set(key, value)

        @staticmethod
        def when_ready(server) -> None:
            # with --port 0 only the bound socket knows the port
            bound = server.LISTENERS[0].sock.getsockname()[1]
            print(f"Serving {cfg.node_id} on {_url(host, bound)}", flush=True)

        def load(self):
            from .app import create_app
            return create_app({"JEMBATAN_HOME": str(cfg.home)})

    NodeApplication().run()


@cli.command()
@_dir_option()
@click.option("--host", default="127.0.0.1", show_default=True, help="Address to listen on.")
@click.option("--port", default=5000, show_default=True, type=click.IntRange(0, 65535),
              help="Port to listen on; 0 picks a free one (the URL is printed).")
@click.option("--dev", is_flag=True, help="Flask's development server instead of gunicorn.")
def serve(home: Path, host: str, port: int, dev: bool) -> None:
    """Serve the node's REST API (gunicorn, or Flask's server with --dev).

    gunicorn runs JEMBATAN_WORKERS worker processes (default: 2 × cores + 1). A node made
    before nodes had keys gets its first signing key here, before any worker starts.
    """
    cfg = load_node(home)
    made = ensure_key(cfg.home)
    if made is not None:
        click.echo(f"Made the node's first signing key {made.kid}: {made.public}", err=True)
    _serve(cfg, host, port, dev)


# -- token ----------------------------------------------------------------------------------

@cli.group()
def token() -> None:
    """API bearer tokens."""


@token.command("create")
@_dir_option()
@click.option("--role", required=True, type=click.Choice(ROLES), help="What the token may do.")
@click.option("--label", help="A note on who holds it.")
def token_create(home: Path, role: str, label: str | None) -> None:
    """Create a token and print it (only the token; it is stored hashed, so keep it)."""
    cfg = load_node(home)
    click.echo(Tokens(cfg.home).create(role, label))


# -- import / export ------------------------------------------------------------------------

@cli.command("import")
@_dir_option()
@click.argument("file", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option("--format", "fmt", type=click.Choice(FORMATS), help="Default: from the extension.")
@click.option("--kind", type=click.Choice(KINDS), help="Kind of the rows that name none.")
@click.option("--visibility", type=click.Choice(VISIBILITIES),
              help="Visibility of draft rows that name none (default: the stored record's, "
                   "public for new records).")
@click.option("--skip-invalid", is_flag=True,
              help="Import the valid rows; write the invalid ones to --rejects.")
@click.option("--rejects", type=click.Path(dir_okay=False, path_type=Path),
              help="Where --skip-invalid writes rejected rows [FILE.rejects.EXT].")
@click.option("--report", type=click.Path(dir_okay=False, path_type=Path),
              help="Per-row report, one JSON line per row [FILE.report.jsonl].")
@click.option("--sheet", help="XLSX worksheet (default: the first).")
@click.option("--jobs", type=click.IntRange(1, 64), help="Validating processes [one per core].")
def import_(home: Path, file: Path, fmt: str | None, kind: str | None, visibility: str | None,
            skip_invalid: bool, rejects: Path | None, report: Path | None, sheet: str | None,
            jobs: int | None) -> None:
    """Import records from CSV, XLSX or JSON Lines, all or nothing.

    One invalid row and nothing is written (exit 1), unless --skip-invalid. Everything is
    written in one transaction: an interrupted import leaves the store as it was.

    \b
    CSV/XLSX: a header row, then one record per row. Columns:
      rid, record_kind (or --kind), visibility, version, deleted   about the record
      title.en, title.zh-Hans, …     one column per language of a text field
      fields, keywords, countries    lists as a;b;c  (a literal ; is written \\;)
      ip.status, budget.amount, …    nested fields
      parties                        rid|role;rid|role
    JSON Lines: {"kind", "rid", "visibility", "body": {...}} per line, or full
    envelopes as `jembatan export` writes them.

    A row with the rid of a stored record becomes its next version, or `unchanged` when
    its content is the same; `version`, if given, must be the stored version.
    """
    from .importer import ImportOptions, run_import

    cfg = load_node(home)
    fmt = fmt or format_of(file)
    if fmt is None:
        raise click.UsageError(f"cannot tell the format of {file.name} from its extension: "
                               "pass --format csv|xlsx|jsonl")
    opts = ImportOptions(fmt=fmt, kind=kind, visibility=visibility, skip_invalid=skip_invalid,
                         report=report, rejects=rejects, sheet=sheet, jobs=jobs)
    tty = sys.stderr.isatty()
    with click.progressbar(length=1, label=f"Importing {file.name}", file=sys.stderr) as bar:
        def progress(done: int, total: int) -> None:
            bar.length = max(total, 1)
            bar.update(done - bar.pos)

        def on_write() -> None:
            if not tty:
                click.echo("Writing to the store in one transaction…", err=True)

        result = run_import(cfg, file, opts, progress=progress, on_write=on_write)
    c = result.counts
    click.echo(f"{result.read} rows read in {result.seconds:.1f} s ({result.rate:,.0f} rows/s): "
               f"{c['created']} created, {c['updated']} updated, {c['unchanged']} unchanged, "
               f"{c['stale']} stale, {c['rejected']} rejected. Report: {result.report}")
    if c["rejected"]:
        for row, field, detail in result.errors:
            click.echo(f"row {row}, {field}: {detail}", err=True)
        if c["rejected"] > len({r for r, _, _ in result.errors}):
            click.echo(f"… every rejected row is in {result.report}", err=True)
    if not result.written:
        raise click.ClickException(f"nothing was imported: {c['rejected']} of {result.read} rows "
                                   "are invalid; fix them, or import the rest with --skip-invalid")
    if result.rejects:
        click.echo(f"{c['rejected']} rejected rows, with their reasons, are in {result.rejects}", err=True)


#: the whole graph through networkx (``api.graph_export.FORMATS``; named here so that the
#: CLI starts without importing networkx)
GRAPH_FORMATS = ("graphml", "gexf", "nodelink", "edges")


@cli.command("export")
@_dir_option()
@click.option("--format", "fmt", required=True, type=click.Choice(["jsonl", "csv", *GRAPH_FORMATS]),
              help="jsonl: full envelopes (lossless); csv: one kind, body columns; "
                   "graphml, gexf (Gephi), nodelink (JSON), edges (CSV edge list): the graph.")
@click.option("--kind", type=click.Choice(KINDS),
              help="Only this kind (required for csv; not for the graph formats).")
@click.option("--output", "-o", default="-", show_default=True, help="File, or - for stdout.")
def export(home: Path, fmt: str, kind: str | None, output: str) -> None:
    """Export the node's records, PRIVATE ONES AND TOMBSTONES INCLUDED.

    This is the administrator's copy of everything the node holds: keep it as private as
    the node itself. The graph formats hold every record's node and edges (a tombstone's
    node, or one never received, is a stub) and the Country and Field nodes.
    """
    if fmt == "csv" and kind is None:
        raise click.UsageError("--format csv needs --kind (one kind per CSV file)")
    if fmt in GRAPH_FORMATS:
        if kind is not None:
            raise click.UsageError(f"--kind is not for --format {fmt}: the graph formats "
                                   "export the whole graph")
        from .graph_export import run_graph_export

        nodes, edges = run_graph_export(load_node(home), fmt, output)
        click.echo(f"{nodes} nodes and {edges} edges exported", err=True)
        return
    from .exporter import run_export

    cfg = load_node(home)
    n = run_export(cfg, fmt, output, kind)
    click.echo(f"{n} records exported", err=True)


# -- store ----------------------------------------------------------------------------------

@cli.group()
def store() -> None:
    """The node's store (SQLite or Neo4j)."""


@store.command("copy")
@click.argument("src")
@click.argument("dst")
@click.option("--batch", default=5000, show_default=True, type=click.IntRange(1, 100_000),
              help="Records per transaction in DST.")
@click.option("--into-nonempty", is_flag=True,
              help="Copy into a DST that holds records (to finish an interrupted copy): the higher "
                   "version wins, the same one is left unchanged. The verification still compares "
                   "whole stores: a DST with records of its own fails it.")
def store_copy(src: str, dst: str, batch: int, into_nonempty: bool) -> None:
    """Copy every record from SRC into DST, then verify both hold the same.

    SRC and DST are store URLs (sqlite:///path/node.db, neo4j://user:pass@host:7687,
    bolt://…, ?database=NAME) or node directories (standing for their node's store). Every
    record is copied, tombstones and private records included, in change order, one
    transaction per --batch records; DST numbers the changes itself. Peer checkpoints are
    NOT copied: on its new store a node pulls its peers again from the start.

    Then per kind the count and a SHA-256 over the sorted "rid content-hash" lines are
    computed from both stores and printed; exit 1 if they differ. A DST that is not empty
    is refused unless --into-nonempty.
    """
    from .store_copy import NotEmpty, copy_store, format_report, resolve_pair

    src_url, dst_url = resolve_pair(src, dst)
    click.echo(f"Copying {redact(src_url)} → {redact(dst_url)}", err=True)
    with closing(open_store(src_url)) as source, closing(open_store(dst_url)) as target, \
            click.progressbar(length=max(source.last_seq(), 1), label="Copying", file=sys.stderr) as bar:
        def progress(position: int, end: int) -> None:
            bar.length = max(end, 1)
            bar.update(position - bar.pos)

        try:
            report = copy_store(source, target, batch=batch, progress=progress,
                                into_nonempty=into_nonempty)
        except NotEmpty as exc:
            raise click.ClickException(f"{redact(dst_url)}: {exc}; nothing was copied. Pass "
                                       "--into-nonempty to copy into it anyway (see --help).") from None
    click.echo(format_report(report))
    if not report.equal:
        raise click.ClickException("verification failed: the stores differ in "
                                   + ", ".join(report.differing))
    click.echo("Verified: both stores hold the same records.")


for command in (store_backup, store_restore, store_new_epoch):
    store.add_command(command)
cli.add_command(key_group)
cli.add_command(registry_group)
cli.add_command(alliance_group)
cli.add_command(demo)
cli.add_command(peer_group)
cli.add_command(sync)
cli.add_command(quarantine)
cli.add_command(flows_command)
cli.add_command(stats_command)
cli.add_command(match_command)
cli.add_command(events_group)
cli.add_command(staff_group)
cli.add_command(stage_command)


def main() -> None:
    cli(prog_name="jembatan")


if __name__ == "__main__":
    main()
