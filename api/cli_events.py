"""``jembatan events``: the events calendar as iCalendar and an event's outcomes, read from the
node's store as its administrator (every visibility).

    jembatan events ics [--from DATE] [--to DATE] [--country CC] [--kind KIND] [--lang TAG]
                        [-o FILE]
    jembatan events outcomes RID [--limit N] [--cursor C]
"""
from __future__ import annotations

import json
from contextlib import closing
from datetime import date
from pathlib import Path

import click

from jembatan.graph import open_store
from jembatan.graph.store import LOCAL
from jembatan.network import vocab

from .cli_keys import dir_option
from .node import load_node


def _day(ctx: click.Context, param: click.Parameter, value: str | None) -> str | None:
    if value is None:
        return None
    try:
        if len(value) != 10:
            raise ValueError
        return date.fromisoformat(value).isoformat()
    except ValueError:
        raise click.BadParameter(f"{value!r} is not a date YYYY-MM-DD") from None


@click.group("events")
def events() -> None:
    """Events: the calendar as iCalendar, and what was signed at an event."""


@events.command("ics")
@dir_option()
@click.option("--from", "first", callback=_day,
              help="First day, YYYY-MM-DD (default: 30 days ago, or 395 days before --to).")
@click.option("--to", "last", callback=_day,
              help="Last day, YYYY-MM-DD (default: 365 days ahead, or 395 days after --from).")
@click.option("--country", help="Events held in this country (ISO 3166-1 alpha-2).")
@click.option("--kind", type=click.Choice(vocab.EVENT_KINDS), help="Events of this kind.")
@click.option("--lang", type=click.Choice(vocab.UI_LOCALES), default="en", show_default=True,
              help="Language of names and descriptions.")
@click.option("-o", "--output", type=click.Path(dir_okay=False, writable=True, path_type=Path),
              help="Write to this file instead of standard output.")
def ics_command(home: Path, first: str | None, last: str | None, country: str | None,
                kind: str | None, lang: str, output: Path | None) -> None:
    """The events whose first day is in the window, as an iCalendar file (at most 1000).
    Each event's URL points at the node's pages when node.json has a url."""
    from .events import calendar_window
    from .events_ical import events_calendar, window_events

    if country is not None and country not in vocab.countries():
        raise click.BadParameter(f"{country!r} is not an ISO 3166-1 alpha-2 country code",
                                 param_hint="--country")
    args = {k: v for k, v in (("from_", first), ("to", last)) if v is not None}
    start, end = calendar_window(args)
    cfg = load_node(home)
    with closing(open_store(cfg.store_url)) as store:
        found = window_events(store, LOCAL, start, end, country=country, kind=kind)
    payload = events_calendar(found, lang, cfg.url, name=cfg.name)
    if output is None:
        click.echo(payload.decode("utf-8"), nl=False)
    else:
        output.write_bytes(payload)
        click.echo(f"{len(found)} events written to {output}", err=True)


@events.command("outcomes")
@dir_option()
@click.argument("rid")
@click.option("--limit", type=click.IntRange(1, 500), default=50, show_default=True,
              help="Agreements listed (the statistics count them all).")
@click.option("--cursor", help="The next_cursor of the previous page.")
def outcomes_command(home: Path, rid: str, limit: int, cursor: str | None) -> None:
    """The event RID, the agreements signed at it (newest change first) and its statistics,
    as JSON."""
    from .events import outcomes_doc

    with closing(open_store(load_node(home).store_url)) as store:
        doc = outcomes_doc(store, LOCAL, rid, limit=limit, cursor=cursor)
    click.echo(json.dumps(doc, ensure_ascii=False, indent=2))
