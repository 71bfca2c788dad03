"""Full-text search on the SQLite store: FTS5 over ``textindex`` tokens.

The MATCH expression is built from our own token list — each query term one FTS5 phrase of
quoted tokens — and bound as a parameter; no user text is ever part of SQL or of FTS5 syntax.

Ranking is ``textindex``'s (title and body points per term, then newest), the same on every
backend: each term's column matches come from FTS5 column filters (``title : "a b"``) over
the window's rowid range. Ranking every match is what makes a common word slow, so a word
found in 300,000 records would take over a second. Matches are therefore ranked in *windows* of at most ``WINDOW`` records, taken in index order from the
newest (rowids grow as records are first seen): the first window holds the newest
``WINDOW`` matches, best first; the next page after a window is exhausted continues with the
following, older window. When a search matches no more than ``WINDOW`` records (nearly
always) the order is plain relevance; when it matches more, it is relevance among recent
records first, and a page never costs more than ranking one window.

The cursor carries the window's rowid bounds and the keyset (score, seq) inside it, signed
like every cursor.
"""
from __future__ import annotations

import sqlite3

from jembatan.network.errors import BadRequest

from .cursor import CursorCodec
from .filters import query_fingerprint
from .sqlite_query import conditions, record
from .store import Page, RecordQuery
from .textindex import BODY_POINTS, TITLE_POINTS, Term, query_terms

WINDOW = 2000
_TOP = 2**63 - 1
#: cursor position: window upper rowid, lower rowid, started (0/1), score, seq
_SHAPE = (int, int, int, int, int)


def _phrase(term: Term) -> str:
    # Tokens hold only word characters, but quotes are doubled anyway: the expression must
    # be FTS5 string literals whatever the tokenizer produced.
    body = " ".join(tok.replace('"', '""') for tok in term.tokens)
    return f'"{body}"' + ("*" if term.prefix else "")


def match_expression(terms: list[Term]) -> str:
    """An FTS5 query: each term a quoted phrase of its tokens (prefix if so marked), ANDed."""
    return " AND ".join(_phrase(term) for term in terms)


class _Search:
    def __init__(self, conn: sqlite3.Connection, terms: list[Term], where: list[str], params: list):
        self.conn, self.match = conn, match_expression(terms)
        self.where, self.params = " AND ".join(where), params
        # (points, FTS5 expression) per distinct term and column
        self.columns = [(points, f"{column} : {_phrase(term)}") for term in dict.fromkeys(terms)
                        for column, points in (("title", TITLE_POINTS), ("body", BODY_POINTS))]

    def window(self, upper: int) -> int | None:
        """The lower rowid bound of the window ending at ``upper``; None if no match is left."""
        rows = self.conn.execute(
            "SELECT search.rowid FROM search JOIN records r ON r.id = search.rowid"
            f" WHERE search MATCH ? AND search.rowid <= ? AND {self.where}"
            " ORDER BY search.rowid DESC LIMIT ?",
            (self.match, upper, *self.params, WINDOW)).fetchall()
        if not rows:
            return None
        return rows[-1][0] if len(rows) == WINDOW else 0

    def rank(self, lower: int, upper: int, after: tuple[float, int] | None, limit: int) -> list:
        keyset, kparams = "", []
        if after is not None:
            keyset = "WHERE score < ? OR (score = ? AND seq < ?)"
            kparams = [after[0], after[0], after[1]]
        # each column match is a set computed once per query (a non-correlated IN)
        score = " + ".join(
            f"{points} * (search.rowid IN (SELECT rowid FROM search"
            " WHERE search MATCH ? AND rowid BETWEEN ? AND ?))" for points, _ in self.columns)
        sparams = [v for _, expr in self.columns for v in (expr, lower, upper)]
        sql = (
            "SELECT r2.envelope, p.seq, r2.hash, p.score FROM ("
            " SELECT id, seq, score FROM ("
            f"  SELECT r.id AS id, r.seq AS seq, {score} AS score"
            "   FROM search JOIN records r ON r.id = search.rowid"
            f"  WHERE search MATCH ? AND search.rowid BETWEEN ? AND ? AND {self.where}"
            f" ) {keyset} ORDER BY score DESC, seq DESC LIMIT ?"
            ") p JOIN records r2 ON r2.id = p.id ORDER BY p.score DESC, p.seq DESC")
        return self.conn.execute(
            sql, (*sparams, self.match, lower, upper, *self.params, *kparams, limit)).fetchall()


def search_page(conn: sqlite3.Connection, codec: CursorCodec, text: str, q: RecordQuery) -> Page:
    """Best match first (``textindex`` points), then newest; see the module for windows."""
    fp = query_fingerprint("search", q, text)
    state = codec.decode(q.cursor, fp, _SHAPE) if q.cursor is not None else None
    terms = query_terms(text)
    if not terms:
        return Page([], None)
    built = conditions(conn, q)
    if built is None:
        return Page([], None)
    s = _Search(conn, terms, *built)
    if state is None:
        upper, lower, after = _TOP, s.window(_TOP), None
        if lower is None:
            return Page([], None)
    else:
        upper, lower, started, score, seq = state
        if lower < 0 or upper < lower:   # signed by us, so never; but never trust blindly
            raise BadRequest("invalid cursor")
        after = (score, seq) if started else None

    items, need = [], q.limit
    while True:
        rows = s.rank(lower, upper, after, need + 1)
        items += [record(env, seq_, digest) for env, seq_, digest, _ in rows[:need]]
        if len(rows) > need:
            last = rows[need - 1]
            return Page(items, codec.encode([upper, lower, 1, last[3], last[1]], fp))
        need -= len(rows)
        if lower == 0:
            return Page(items, None)
        upper, after = lower - 1, None      # this window is done: the next, older one
        lower = s.window(upper)
        if lower is None:
            return Page(items, None)
        if need == 0:
            return Page(items, codec.encode([upper, lower, 0, 0, 0], fp))
