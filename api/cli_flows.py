"""``jembatan flows`` and ``jembatan stats``: the API's country flows and statistics, read
from the node's store as its administrator (every visibility)."""
from __future__ import annotations

import json
from pathlib import Path

import click

from jembatan.graph import flows, open_store
from jembatan.graph.store import LOCAL
from jembatan.network import vocab

from .cli_keys import dir_option
from .node import load_node


def _years(first: int | None, last: int | None) -> tuple[int, int] | None:
    if first is not None and last is not None and first > last:
        raise click.BadParameter("must not be after --to", param_hint="--from")
    if first is None and last is None:
        return None
    return (first or flows.FIRST_YEAR, last or flows.LAST_YEAR)


def _period(fn):
    fn = click.option("--to", "last", type=click.IntRange(flows.FIRST_YEAR, flows.LAST_YEAR), help="Last year (inclusive).")(fn)
    return click.option("--from", "first", type=click.IntRange(flows.FIRST_YEAR, flows.LAST_YEAR),
                        help="First year (inclusive).")(fn)


def _country(value: str | None, hint: str = "--country") -> str | None:
    if value is not None and value not in vocab.countries():
        raise click.BadParameter(f"{value!r} is not an ISO 3166-1 alpha-2 country code",
                                 param_hint=hint)
    return value


def _dump(doc: dict) -> None:
    click.echo(json.dumps(doc, ensure_ascii=False, indent=2))


@click.command("flows")
@dir_option()
@_period
@click.option("--field", type=click.Choice(sorted(vocab.field_codes())), help="Technology field.")
@click.option("--kind", type=click.Choice(vocab.AGREEMENT_KINDS), help="Agreement kind.")
@click.option("--provider-kind", type=click.Choice(vocab.INSTITUTION_KINDS),
              help="The lead provider's institution kind.")
@click.option("--recipient-kind", type=click.Choice(vocab.INSTITUTION_KINDS),
              help="The lead recipient's institution kind.")
@click.option("--pair", nargs=2, metavar="PROVIDER RECIPIENT",
              help="One country pair, year by year, instead of the matrix.")
@click.option("--format", "fmt", type=click.Choice(["csv", "json"]), default="csv", show_default=True)
@click.option("--top", type=click.IntRange(0, 200), default=10, show_default=True,
              help="Corridors listed in the JSON.")
def flows_command(home: Path, first: int | None, last: int | None, field: str | None,
                  kind: str | None, provider_kind: str | None, recipient_kind: str | None,
                  pair: tuple[str, str] | None, fmt: str, top: int) -> None:
    """Technology flows between countries: one agreement is one flow, from its lead
    provider's country to its lead recipient's; values per currency."""
    from .flows import matrix_csv, matrix_doc, series_doc

    f = flows.FlowFilter(years=_years(first, last), field=field, kind=kind,
                         provider_kind=provider_kind, recipient_kind=recipient_kind)
    if pair:
        for code in pair:
            _country(code, "--pair")
    store = open_store(load_node(home).store_url)
    try:
        if pair:
            _dump(series_doc(store, LOCAL, f, *pair))
        elif fmt == "csv":
            click.echo(matrix_csv(flows.matrix(store, LOCAL, f)), nl=False)
        else:
            _dump(matrix_doc(store, LOCAL, f, top))
    finally:
        store.close()


@click.command("stats")
@dir_option()
@click.option("--country", help="Only this country (ISO 3166-1 alpha-2).")
@_period
def stats_command(home: Path, country: str | None, first: int | None, last: int | None) -> None:
    """The alliance's figures: members, technologies, demands (as held now); agreements,
    events and enterprises served in the period."""
    from .flows import stats_doc

    years = _years(first, last)
    store = open_store(load_node(home).store_url)
    try:
        _dump(stats_doc(store, LOCAL, _country(country), years))
    finally:
        store.close()
