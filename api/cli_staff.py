"""``jembatan staff``: the accounts that sign in to the node's pages.

    staff add NAME --role ROLE [--password-stdin]   the password from a prompt (typed twice)
                                                    or the first line of standard input
    staff list                                      name, role and creation time of each
    staff remove NAME                               the account and its open sessions
"""
from __future__ import annotations

import sys
from pathlib import Path

import click

from .cli_keys import dir_option
from .node import ROLES, load_node
from .staff_accounts import MIN_PASSWORD, StaffAccounts, StaffError


@click.group()
def staff() -> None:
    """Staff accounts of the web pages (editors and admins create and edit records there)."""


@staff.command("add")
@dir_option()
@click.argument("name")
@click.option("--role", required=True, type=click.Choice(ROLES),
              help="editor or admin may write; analyst and viewer may only read.")
@click.option("--password-stdin", is_flag=True,
              help="Read the password from the first line of standard input.")
def staff_add(home: Path, name: str, role: str, password_stdin: bool) -> None:
    """Add a staff account (the password is stored as a scrypt hash)."""
    accounts = StaffAccounts(load_node(home).home)
    if password_stdin:
        password = sys.stdin.readline().rstrip("\r\n")
    else:
        password = click.prompt(f"Password (at least {MIN_PASSWORD} characters)",
                                hide_input=True, confirmation_prompt=True)
    try:
        account = accounts.add(name, password, role)
    except StaffError as exc:
        raise click.ClickException(str(exc)) from None
    click.echo(f"Added staff account {account.name} ({account.role})")


@staff.command("list")
@dir_option()
def staff_list(home: Path) -> None:
    """List the staff accounts."""
    for account in StaffAccounts(load_node(home).home).list():
        click.echo(f"{account.name}\t{account.role}\t{account.created}")


@staff.command("remove")
@dir_option()
@click.argument("name")
def staff_remove(home: Path, name: str) -> None:
    """Remove a staff account; its open sessions end at once."""
    try:
        StaffAccounts(load_node(home).home).remove(name)
    except StaffError as exc:
        raise click.ClickException(str(exc)) from None
    click.echo(f"Removed staff account {name}")
