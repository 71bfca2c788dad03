"""The network's pages: the events calendar and the federation's status."""
from __future__ import annotations

from flask import Blueprint


def add_network_pages(bp: Blueprint) -> None:
    pass
