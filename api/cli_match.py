"""``jembatan match RID``: the technologies that answer a demand, or the demands a
technology answers, read from the node's store as its administrator (every visibility)."""
from __future__ import annotations

import json
import os
from pathlib import Path

import click

from jembatan.graph import open_store
from jembatan.graph.store import LOCAL
from jembatan.network import errors, vocab

from .cli_keys import dir_option
from .node import load_node


def _title(title: dict, lang: str) -> str:
    return title.get(lang) or title.get("en") or next(iter(title.values()), "")


@click.command("match")
@dir_option()
@click.argument("rid")
@click.option("--limit", type=click.IntRange(1, 100), default=10, show_default=True)
@click.option("--lang", type=click.Choice(vocab.UI_LOCALES), default="en", show_default=True,
              help="Language of titles and concept labels.")
@click.option("--json", "as_json", is_flag=True, help="The API's JSON document instead of a list.")
def match_command(home: Path, rid: str, limit: int, lang: str, as_json: bool) -> None:
    """Rank technologies for the demand RID, or demands for the technology RID, with the
    reasons of each match."""
    from jembatan.graph.match import Matcher

    store = open_store(load_node(home).store_url)
    try:
        matcher = Matcher(os.environ.get("JEMBATAN_MATCH_ENCODER") or "tfidf")
        try:
            doc = matcher.match(store, rid, LOCAL, limit=limit, lang=lang)
        except errors.JembatanError as exc:
            detail = "; ".join(e["detail"] for e in exc.errors or ()) or str(exc)
            raise click.ClickException(detail)
    finally:
        store.close()
    if as_json:
        click.echo(json.dumps(doc, ensure_ascii=False, indent=2))
        return
    for i, r in enumerate(doc["results"], 1):
        click.echo(f"{i:>3}. {r['score']:.3f}  {_title(r['title'], lang)}  {r['rid']}")
        why = r["reasons"]
        parts = [c["label"] for c in why.get("concepts", [])[:4]]
        parts += why.get("terms", [])[:4]
        if why.get("fields"):
            parts.append("fields: " + ", ".join(why["fields"]))
        if why.get("path"):
            parts.append("linked through " + why["path"][1])
        if parts:
            click.echo("       " + " · ".join(parts))
    if not doc["results"]:
        click.echo("No match.")
