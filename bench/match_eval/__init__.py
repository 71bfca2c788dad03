"""Labelled evaluation set for cross-language matchmaking (technologies ↔ enterprise demands).

``load()`` returns the technologies and the demands as written in the JSON files. Bodies carry
no owner/requester reference (the owning institutions are not part of the set); a caller that
needs schema-valid bodies fills ``owner`` / ``requester`` with an institution rid of its own.
"""
from __future__ import annotations

import json
from pathlib import Path

HERE = Path(__file__).resolve().parent


def _read(name: str, key: str) -> list[dict]:
    with open(HERE / name, encoding="utf-8") as fh:
        return json.load(fh)[key]


def load() -> tuple[list[dict], list[dict]]:
    """(technologies, demands).

    technology: ``{"key", "owner_country", "body"}``;
    demand: ``{"key", "requester_country", "relevant": [technology keys], "body"}``.
    """
    return _read("technologies.json", "technologies"), _read("demands.json", "demands")


def title_languages(entry: dict) -> set[str]:
    """Languages of an entry's title, the basis of the cross-language statistics."""
    return set(entry["body"]["title"])
