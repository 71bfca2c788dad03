"""Full-text search on the Neo4j store: a Lucene full-text index over ``textindex`` tokens.

The index uses Lucene's ``whitespace`` analyzer on token strings that ``textindex`` made
(bigrams for Chinese, Thai, Khmer, Lao and Burmese; folded words for Latin script), so
what matches is exactly what matches in the SQLite store: each query term is a phrase of
its tokens, every term is required, and a one-character continuous-script term is a prefix.
The Lucene query is built from our own token list — every token quoted or escaped — and
passed as a parameter; no user text is ever Cypher or Lucene syntax.

Ranking is ``textindex``'s (title and body points per term, then newest), the same on every
backend: Lucene finds the matches, Cypher scores each by looking for the term's tokens in
the stored token strings. Scope and kind narrow inside Lucene (``search_facets`` tokens);
other filters are checked in Cypher.

Ranking every match is what makes a common word slow, so matches are ranked in *windows*,
and a window is always ranked whole (Lucene's choice among equal scores is not stable from
one query to the next, so a window is never cut by Lucene's rank). A search with fewer than
``WINDOW`` matches — nearly every search — is one window: plain relevance. A search with
more is ranked seq bucket by seq bucket (``neo4j_schema.BUCKET`` records of the change
sequence each, a facet token of every record), newest bucket first: relevance among recent
records first, like the SQLite store's windows, and a page never costs more than ranking
one bucket's matches. The cursor carries the window (-1: the single window, else the
bucket) and the keyset (score, seq) inside it, signed like every cursor.
"""
from __future__ import annotations

from jembatan.network.errors import BadRequest

from . import neo4j_schema
from .cursor import CursorCodec
from .filters import query_fingerprint
from .neo4j_query import conditions, party_condition, record
from .neo4j_schema import SEARCH_INDEX
from .store import Page, RecordQuery
from .textindex import BODY_POINTS, TITLE_POINTS, Term, needle, query_terms

WINDOW = 2000
#: cursor position: window (ALL or a seq bucket), started (0/1), score, seq
_SHAPE = (int, int, int, int)
_SPECIAL = frozenset('+-&|!(){}[]^"~*?:\\/')


def _escape(token: str) -> str:
    """A token as one unquoted Lucene term (every syntax character escaped)."""
    return "".join("\\" + ch if ch in _SPECIAL or ch.isspace() else ch for ch in token)


def _phrase(tokens) -> str:
    """Tokens as one quoted Lucene phrase (the whitespace analyzer splits it back)."""
    return '"' + " ".join(t.replace("\\", "\\\\").replace('"', '\\"') for t in tokens) + '"'


def lucene_query(terms: list[Term], visibilities: list[str], kinds: list[str]) -> tuple[str, list[str]]:
    """(Lucene query, phrases to verify in Cypher) for the terms, narrowed by facets.

    A prefix term of several tokens ("phrase then a prefix") has no Lucene form; Lucene
    finds records holding the phrase and the prefix anywhere in one field, and the exact
    adjacency is checked on the stored token string (" a b c" inside " … a b cd … ").
    """
    clauses, verify = [], []
    for term in dict.fromkeys(terms):   # a repeated term narrows nothing
        toks = term.tokens
        if not term.prefix:
            target = _phrase(toks)
        elif len(toks) == 1:
            target = _escape(toks[0]) + "*"
        else:
            target = f"(+{_phrase(toks[:-1])} +{_escape(toks[-1])}*)"
            verify.append(" " + " ".join(toks))
        clauses.append(f"+(search_title:{target} search_body:{target})")
    clauses.append("+(search_facets:(" + " ".join(f"v_{v}" for v in visibilities) + "))^0")
    if kinds:
        clauses.append("+(search_facets:(" + " ".join(f"k_{k}" for k in kinds) + "))^0")
    return " ".join(clauses), verify


_WINDOW_QUERY = """
CALL db.index.fulltext.queryNodes('{index}', $lucene, {{limit: $window}})
YIELD node, score
WITH collect(node) AS hits
CALL (hits) {{
  UNWIND hits AS r
  WITH r, reduce(s = 0, t IN $needles |
         s + CASE WHEN (' ' + coalesce(r.search_title, '') + ' ') CONTAINS t THEN {title} ELSE 0 END
           + CASE WHEN (' ' + coalesce(r.search_body, '') + ' ') CONTAINS t THEN {body} ELSE 0 END
       ) AS score
  WHERE {where}
  WITH r, score ORDER BY score DESC, r.seq DESC LIMIT $n
  RETURN collect({{score: score, seq: r.seq, envelope: r.envelope, hash: r.hash}}) AS page
}}
RETURN size(hits) AS total, page
"""
ALL = -1   # the cursor's window when every match fits in one


class _Search:
    def __init__(self, read, lucene: str, where: list[str], params: dict):
        self.read = read
        self.lucene = lucene
        self.params = params
        self.where = where

    def window(self, bucket: int, after: tuple[float, int] | None, n: int) -> tuple[int, list]:
        """(Lucene hits of the window, its matching rows after ``after``, best first).

        ``bucket`` ALL: the best ``WINDOW`` hits (all of them when fewer match); else every
        hit in that seq bucket.
        """
        where = list(self.where)
        params = dict(self.params, n=n)
        if bucket == ALL:
            params.update(lucene=self.lucene, window=WINDOW)
        else:
            params.update(lucene=f"{self.lucene} +(search_facets:s_{bucket})^0",
                          window=neo4j_schema.BUCKET)
        if after is not None:
            where.append("(score < $score OR (score = $score AND r.seq < $seq))")
            params.update(score=after[0], seq=after[1])
        cypher = _WINDOW_QUERY.format(index=SEARCH_INDEX, where=" AND ".join(where),
                                      title=TITLE_POINTS, body=BODY_POINTS)
        [row] = self.read(cypher, params)
        page = sorted(row["page"], key=lambda p: (-p["score"], -p["seq"]))
        return row["total"], page

    def newest_bucket(self) -> int:
        [row] = self.read("MATCH (m:StoreMeta {key: $key}) RETURN m.seq AS seq",
                          {"key": neo4j_schema.META_KEY})
        return row["seq"] // neo4j_schema.BUCKET


def search_page(read, codec: CursorCodec, text: str, q: RecordQuery) -> Page:
    """Best match first (``textindex`` points), then newest; see the module for windows."""
    fp = query_fingerprint("search", q, text)
    state = codec.decode(q.cursor, fp, _SHAPE) if q.cursor is not None else None
    terms = query_terms(text)
    if not terms:
        return Page([], None)
    built = conditions(q)
    if built is None:
        return Page([], None)
    where, params = built
    visibilities = [q.visibility] if q.visibility is not None else sorted(q.scope)
    lucene, verify = lucene_query(terms, visibilities, sorted(set(q.kinds)))
    if verify:
        where.append("all(p IN $verify WHERE (' ' + coalesce(r.search_title, '') + ' ') CONTAINS p"
                     " OR (' ' + coalesce(r.search_body, '') + ' ') CONTAINS p)")
        params["verify"] = verify
    if q.party is not None:
        where.append(party_condition())
        params["party"] = q.party
    params["needles"] = [needle(t) for t in dict.fromkeys(terms)]
    s = _Search(read, lucene, where, params)
    items, need = [], q.limit
    if state is None:
        total, rows = s.window(ALL, None, need + 1)
        if total < WINDOW:
            return _single(codec, fp, rows, need)
        window, after = s.newest_bucket(), None
    else:
        window, started, score, seq = state
        if window < ALL or started not in (0, 1):   # signed by us, so never; but never trust blindly
            raise BadRequest("invalid cursor")
        after = (score, seq) if started else None
        if window == ALL:
            return _single(codec, fp, s.window(ALL, after, need + 1)[1], need)

    while window >= 0:
        _, rows = s.window(window, after, need + 1)
        if need == 0:
            # the page is full; only say "more" if an older bucket really has a match
            if rows:
                return Page(items, codec.encode([window, 0, 0, 0], fp))
        else:
            items += [record(row) for row in rows[:need]]
            if len(rows) > need:
                last = rows[need - 1]
                return Page(items, codec.encode([window, 1, last["score"], last["seq"]], fp))
            need -= len(rows)
        window, after = window - 1, None      # this bucket is done: the next, older one
    return Page(items, None)


def _single(codec: CursorCodec, fp: bytes, rows: list, limit: int) -> Page:
    items = [record(row) for row in rows[:limit]]
    if len(rows) > limit:
        last = rows[limit - 1]
        return Page(items, codec.encode([ALL, 1, last["score"], last["seq"]], fp))
    return Page(items, None)
