"""``jembatan alliance``: the alliance secretariat's registry, kept in an alliance directory.

    A/root.pem        the alliance root private key, mode 0600 (keep it offline)
    A/registry.json   the current signed registry, the file nodes import

    alliance init --dir A --name NAME
    alliance admit --dir A NODE_ID --url URL --kid K --public-key P [--not-before ISO]
    alliance admit --dir A --card CARD.json          (the output of `jembatan key show --json`)
    alliance suspend | reinstate | revoke --dir A NODE_ID
    alliance revoke-key --dir A NODE_ID KID
    alliance show --dir A [--json]

Every change raises the serial by one, is signed by the root and replaces registry.json
atomically; the rules live in ``network.registry`` (pure functions on documents).
"""
from __future__ import annotations

import json
from contextlib import contextmanager
from pathlib import Path
from typing import Callable, Iterator

import click

from jembatan.network.keys import (EPOCH, KID_CHARS_RE, NodeKey, check_public, dir_lock,
                                   format_time, generate_key, now_ms, write_atomic,
                                   write_private)
from jembatan.network.registry import (REGISTRY_FILE, Registry, admit as admit_node,
                                       load_registry, new_document, publish, revoke_key,
                                       set_node_status)
from jembatan.network.ids import is_node_id

from .cli_keys import show_registry, user_time

ROOT_FILE = "root.pem"


def _alliance_dir(func: Callable) -> Callable:
    return click.option("--dir", "adir", required=True,
                        type=click.Path(file_okay=False, path_type=Path),
                        help="The alliance directory (root key and registry).")(func)


def _load(adir: Path) -> tuple[NodeKey, Registry]:
    pem, reg = adir / ROOT_FILE, adir / REGISTRY_FILE
    if not pem.exists() or not reg.exists():
        raise click.UsageError(f"{adir} is not an alliance directory (no {ROOT_FILE} or "
                               f"{REGISTRY_FILE}); make one with `jembatan alliance init`")
    text = reg.read_bytes()
    try:
        kid = json.loads(text)["sig"]["kid"]
        root = NodeKey.from_pem(pem.read_bytes(), kid)
    except (ValueError, KeyError, TypeError) as exc:
        raise click.ClickException(f"{adir} is damaged: {exc}") from None
    return root, load_registry(text, root.public)


@contextmanager
def _changing(adir: Path) -> Iterator[tuple[NodeKey, Registry]]:
    """Hold the alliance directory while a change is read, derived, signed and written."""
    if not adir.is_dir():
        raise click.UsageError(f"{adir} is not an alliance directory; make one with "
                               "`jembatan alliance init`")
    with dir_lock(adir):
        yield _load(adir)


def _commit(adir: Path, root: NodeKey, current: Registry, doc: dict) -> Registry:
    text = publish(doc, root, serial=current.serial + 1)
    write_atomic(adir / REGISTRY_FILE, text)
    reg = load_registry(text, root.public)
    click.echo(f"Registry serial {reg.serial} written to {adir / REGISTRY_FILE}; every node "
               "installs it with `jembatan registry import`.")
    return reg


@click.group()
def alliance() -> None:
    """Alliance administration: the root key and the registry of member nodes."""


@alliance.command("init")
@_alliance_dir
@click.option("--name", required=True, help="The alliance's name.")
def alliance_init(adir: Path, name: str) -> None:
    """Make the alliance root key (A/root.pem, 0600) and an empty registry (serial 0).

    Prints the root public key: every node pins it (`jembatan init --alliance-root KEY` or
    `jembatan registry pin KEY`).
    """
    name = name.strip()
    if not 1 <= len(name) <= 200:
        raise click.BadParameter("1 to 200 characters", param_hint="--name")
    if (adir / ROOT_FILE).exists():
        raise click.UsageError(f"{adir} already holds an alliance root key")
    adir.mkdir(parents=True, exist_ok=True, mode=0o700)
    root = generate_key()
    text = publish(new_document(name), root, serial=0)
    write_private(adir / ROOT_FILE, root.to_pem())
    write_atomic(adir / REGISTRY_FILE, text)
    click.echo(f"Alliance {name!r}: root key in {adir / ROOT_FILE}, registry serial 0 in "
               f"{adir / REGISTRY_FILE}")
    click.echo("Root public key (nodes pin it):")
    click.echo(root.public)


def _read_card(path: Path, kid: str | None) -> dict:
    """The key to admit from `jembatan key show --json` output: the one named by --kid, else
    the newest."""
    try:
        cards = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise click.BadParameter(f"cannot read {path}: {exc}", param_hint="--card") from None
    cards = cards if isinstance(cards, list) else [cards]
    if not cards or not all(isinstance(c, dict) and {"node_id", "kid", "public", "not_before"}
                            <= c.keys() for c in cards):
        raise click.BadParameter("not the output of `jembatan key show --json`",
                                 param_hint="--card")
    if kid is not None:
        cards = [c for c in cards if c["kid"] == kid]
        if not cards:
            raise click.BadParameter(f"the card has no key {kid!r}", param_hint="--kid")
    return max(cards, key=lambda c: c["not_before"])


@alliance.command("admit")
@_alliance_dir
@click.argument("node_id", required=False)
@click.option("--url", help="The node's base URL (required for a new node).")
@click.option("--kid", help="The key's id, as `jembatan key show` prints it.")
@click.option("--public-key", help="The key's public half (base64url).")
@click.option("--not-before", metavar="ISO", help="Start of the key's window [a new node's "
              "first key: the epoch, like `jembatan init` makes it; a further key: now].")
@click.option("--card", type=click.Path(exists=True, dir_okay=False, path_type=Path),
              help="Take node id, URL, kid, public key and not-before from "
                   "`jembatan key show --json` output; options given override it.")
def alliance_admit(adir: Path, node_id: str | None, url: str | None, kid: str | None,
                   public_key: str | None, not_before: str | None, card: Path | None) -> None:
    """Admit NODE_ID with a key, or add a key to an admitted node.

    A node's previous open key window closes where the new key's starts, so exactly one of
    its keys is valid at any moment.
    """
    if card is not None:
        c = _read_card(card, kid)
        node_id, url = node_id or c["node_id"], url or c.get("url")
        kid, public_key = kid or c["kid"], public_key or c["public"]
        not_before = not_before or c["not_before"]
    missing = [o for o, v in (("NODE_ID", node_id), ("--kid", kid), ("--public-key", public_key))
               if not v]
    if missing:
        raise click.UsageError(f"missing {', '.join(missing)} (or give --card)")
    if not is_node_id(node_id):
        raise click.BadParameter("lowercase letters, digits and '-', 1–63 characters",
                                 param_hint="NODE_ID")
    if not KID_CHARS_RE.match(kid):
        raise click.BadParameter("1–100 of A–Z a–z 0–9 . _ : -", param_hint="--kid")
    try:
        check_public(public_key)
    except ValueError:
        raise click.BadParameter("not an ed25519 public key (43 characters of base64url)",
                                 param_hint="--public-key") from None
    start = user_time(not_before)
    with _changing(adir) as (root, current):
        known = current.node(node_id) is not None
        if start is None:
            stamp = format_time(-(-now_ms() // 1000) * 1000) if known else EPOCH
        else:
            stamp = format_time(start)
        doc = admit_node(current.document(), node_id, url=url, kid=kid, public=public_key,
                         not_before=stamp)
        click.echo(f"{'Added key' if known else 'Admitted node ' + node_id + ' with key'} "
                   f"{kid}, valid from {stamp}")
        _commit(adir, root, current, doc)


def _status_command(name: str, status: str, help_text: str) -> None:
    @alliance.command(name, help=help_text)
    @_alliance_dir
    @click.argument("node_id")
    def command(adir: Path, node_id: str) -> None:
        with _changing(adir) as (root, current):
            doc = set_node_status(current.document(), node_id, status)
            click.echo(f"Node {node_id} is now {status}")
            _commit(adir, root, current, doc)


_status_command("suspend", "suspended", "Suspend NODE_ID: it may no longer sync alliance "
                "records; records it signed still verify.")
_status_command("reinstate", "active", "Make a suspended NODE_ID an active member again.")
_status_command("revoke", "revoked", "Revoke NODE_ID for good: none of its keys verifies "
                "any record any more.")


@alliance.command("revoke-key")
@_alliance_dir
@click.argument("node_id")
@click.argument("kid")
def alliance_revoke_key(adir: Path, node_id: str, kid: str) -> None:
    """Revoke one key of NODE_ID (a stolen or lost key): records it signed stop verifying."""
    with _changing(adir) as (root, current):
        doc = revoke_key(current.document(), node_id, kid)
        click.echo(f"Key {kid} of node {node_id} is revoked")
        _commit(adir, root, current, doc)


@alliance.command("show")
@_alliance_dir
@click.option("--json", "as_json", is_flag=True, help="The registry document itself.")
def alliance_show(adir: Path, as_json: bool) -> None:
    """Show the root public key and the registry."""
    root, reg = _load(adir)
    show_registry(reg, root.public, as_json)
