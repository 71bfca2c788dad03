"""``jembatan stage RID STAGE``: move one of this node's technologies to another stage.

The change is written the way the API and the staff pages write (``api.writes.set_stage``):
a new version, signed, with ``{stage, at, by}`` appended to the technology's stage history.
``--by`` names who made the change; without it, the user running the command.
"""
from __future__ import annotations

import getpass
from pathlib import Path

import click

from jembatan.network import vocab

from .node import load_node


def _os_user() -> str | None:
    try:
        return getpass.getuser()
    except (KeyError, OSError):     # no name for this uid (containers)
        return None


@click.command("stage")
@click.option("--dir", "--home", "home", envvar="JEMBATAN_HOME", required=True,
              type=click.Path(file_okay=False, path_type=Path),
              help="The node directory (or set JEMBATAN_HOME).")
@click.argument("rid")
@click.argument("stage", type=click.Choice(vocab.STAGES))
@click.option("--by", metavar="NAME", help="Who made the change [the user running this].")
def stage_command(home: Path, rid: str, stage: str, by: str | None) -> None:
    """Move the technology RID of this node to STAGE, recording who and when."""
    from .app import create_app
    from .writes import set_stage

    cfg = load_node(home)
    app = create_app({"JEMBATAN_HOME": str(cfg.home)})
    try:
        with app.app_context():
            stored = set_stage(rid, stage, by=by if by is not None else _os_user())
    finally:
        app.extensions["jembatan"].close()
    last = stored.envelope["body"]["stage_history"][-1]
    click.echo(f"{rid}: {stage} (version {stored.version}, {last['at']}, by {last['by']})")
