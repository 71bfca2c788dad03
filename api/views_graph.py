"""The partnership graph's pages: an institution with its neighbourhood, and the explorer."""
from __future__ import annotations

from flask import Blueprint, render_template

from jembatan.graph.store import StoredRecord


def institution_page(stored: StoredRecord) -> str:
    return render_template("record.html", env=stored.envelope, body=stored.envelope["body"])


def add_graph_pages(bp: Blueprint) -> None:
    pass
