"""``jembatan key`` and ``jembatan registry``: a node's signing keys and its alliance registry.

    key show [--json]                 the identity card(s) an alliance administrator admits
    key rotate [--not-before ISO]     a new key; the open key's window closes at that instant
    registry pin KEY [--replace]      pin the alliance root public key in node.json
    registry import FILE              install a registry (root-signed, higher serial only)
    registry show [--json]            the installed registry
"""
from __future__ import annotations

import json
from pathlib import Path

import click

from jembatan.network.keys import add_key, parse_user_time, read_key_infos
from jembatan.network.registry import Registry, install_registry, load_node_registry

from .node import load_node, pin_alliance_root


def dir_option(required: bool = True):
    return click.option("--dir", "home", envvar="JEMBATAN_HOME", required=required,
                        type=click.Path(file_okay=False, path_type=Path),
                        help="The node directory (or set JEMBATAN_HOME).")


def user_time(value: str | None, option: str = "--not-before") -> int | None:
    if value is None:
        return None
    try:
        return parse_user_time(value)
    except (ValueError, OverflowError) as exc:
        raise click.BadParameter(str(exc), param_hint=option) from None


# -- key ------------------------------------------------------------------------------------

@click.group()
def key() -> None:
    """The node's ed25519 signing keys."""


@key.command("show")
@dir_option()
@click.option("--json", "as_json", is_flag=True, help="The cards as JSON (for `alliance admit --card`).")
def key_show(home: Path, as_json: bool) -> None:
    """Show the node's keys: node id, URL, kid, public key and validity window of each.

    This is the identity card an alliance administrator admits; old keys stay listed (and
    kept) so records signed with them stay verifiable.
    """
    cfg = load_node(home)
    infos = read_key_infos(cfg.home)
    if not infos:
        raise click.ClickException("this node has no key yet: `jembatan key rotate` makes one")
    cards = [{"node_id": cfg.node_id, **({"url": cfg.url} if cfg.url else {}), "kid": i.kid,
              "public": i.public, "not_before": i.not_before, "not_after": i.not_after,
              "status": i.status} for i in infos]
    if as_json:
        click.echo(json.dumps(cards, indent=2))
        return
    click.echo(f"node  {cfg.node_id}" + (f"  {cfg.url}" if cfg.url else ""))
    for card in cards:
        click.echo(f"key   {card['kid']}  {card['status']}  valid {card['not_before']} → "
                   f"{card['not_after'] or 'open'}")
        click.echo(f"      public {card['public']}")


@key.command("rotate")
@dir_option()
@click.option("--not-before", metavar="ISO",
              help="When the new key takes over (ISO 8601, UTC if no offset) [now].")
def key_rotate(home: Path, not_before: str | None) -> None:
    """Make a new key pair, valid from --not-before; the current key stays valid until then.

    Old keys are kept, never deleted: records they signed stay verifiable. Have the alliance
    administrator admit the new key (`jembatan alliance admit … --not-before` the same
    instant) before it takes over, or peers will refuse the records it signs.
    """
    cfg = load_node(home)
    before = read_key_infos(cfg.home)
    info = add_key(cfg.home, user_time(not_before))
    if before:
        click.echo(f"New key {info.kid} takes over at {info.not_before}; "
                   f"{before[-1].kid} signs until then.")
    else:
        click.echo(f"First key {info.kid}, valid from {info.not_before}.")
    click.echo(f"public {info.public}")
    click.echo(f"Admit it: jembatan alliance admit --dir ALLIANCE {cfg.node_id} --kid {info.kid} "
               f"--public-key {info.public} --not-before {info.not_before}")


# -- registry -------------------------------------------------------------------------------

def show_registry(reg: Registry, root: str | None, as_json: bool) -> None:
    """Print a registry: the document itself, or readable lines (`registry show`, `alliance show`)."""
    if as_json:
        click.echo(reg.text.decode("utf-8"), nl=False)
        return
    click.echo(f"root  {root}")
    click.echo(f"alliance {reg.alliance}  serial {reg.serial}  issued {reg.issued_at}  "
               f"{len(reg.nodes())} nodes")
    for n in reg.nodes():
        click.echo(f"node  {n.node}  {n.status}  {n.url}")
        for k in n.keys:
            click.echo(f"      key {k.kid}  {k.status}  valid {k.not_before} → "
                       f"{k.not_after or 'open'}  {k.public}")


@click.group()
def registry() -> None:
    """The alliance registry this node trusts."""


@registry.command("pin")
@dir_option()
@click.argument("root_key")
@click.option("--replace", is_flag=True, help="Replace another pinned root (drops its registry).")
def registry_pin(home: Path, root_key: str, replace: bool) -> None:
    """Pin the alliance root public key ROOT_KEY (registries must be signed by it)."""
    dropped = pin_alliance_root(home, root_key, replace=replace)
    click.echo(f"Pinned the alliance root {root_key.strip()}")
    if dropped:
        click.echo("The registry signed by the previous root was removed; import a new one.",
                   err=True)


@registry.command("import")
@dir_option()
@click.argument("file", type=click.Path(exists=True, dir_okay=False, path_type=Path))
def registry_import(home: Path, file: Path) -> None:
    """Install the registry FILE: it must carry the pinned root's signature and a higher serial
    than the installed one; otherwise nothing changes."""
    cfg = load_node(home)
    reg = install_registry(cfg.home, file.read_bytes())
    click.echo(f"Installed the registry of {reg.alliance}, serial {reg.serial}, "
               f"{len(reg.nodes())} nodes")
    if not reg.is_member(cfg.node_id):
        click.echo(f"Note: this node ({cfg.node_id}) is not an active member in it.", err=True)


@registry.command("show")
@dir_option()
@click.option("--json", "as_json", is_flag=True, help="The registry document as installed.")
def registry_show(home: Path, as_json: bool) -> None:
    """Show the installed alliance registry."""
    cfg = load_node(home)
    reg = load_node_registry(cfg.home)
    if reg is None:
        raise click.ClickException("no registry installed: `jembatan registry import FILE`")
    show_registry(reg, cfg.alliance_root, as_json)
