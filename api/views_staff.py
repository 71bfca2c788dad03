"""Staff pages: sign-in and the forms that create and edit this node's records."""
from __future__ import annotations

from flask import Blueprint, Flask

from .auth import read_scope


def init_staff(app: Flask) -> None:
    pass


def add_staff_pages(bp: Blueprint) -> None:
    pass


def viewer_scope() -> frozenset[str]:
    """What the pages may show their reader."""
    return read_scope()
