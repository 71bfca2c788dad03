"""Record bodies as spreadsheet rows: one text cell per column, and back.

The column layout is derived from the body schemas (``schemas.BODY_SCHEMAS``), so a field
added to a schema gets its column without touching this module:

    multilingual text     one column per language tag      title.en, title.zh-Hans
    list of values        one cell, items split by ";"     fields, keywords, countries
    list of objects       items by ";", values by "|"      parties = rid|role;rid|role
    nested object         dotted columns                   ip.status, budget.amount
    mapping               one column per key               identifiers.ror
    integer               digits ("7"; "7.0" as spreadsheets write it)   trl

Inside a list cell a literal ``;``, ``|`` or ``\\`` is written ``\\;``, ``\\|``, ``\\\\``.
Empty cells are omitted, so an absent field and an empty list read the same. Errors name
the column (``title.en``, ``trl``, ``parties``), never an internal path.
"""
from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache
from typing import Any, Iterable, Mapping, Sequence

from marshmallow import Schema
from marshmallow import fields as mf
from marshmallow import validate

from .envelope import load_body
from .errors import ValidationError
from .schemas import BODY_SCHEMAS
from .text import MultilingualText

TEXT, SCALAR, INTEGER, LIST, RECORDS, MAPPING = "text", "scalar", "integer", "list", "records", "mapping"


@dataclass(frozen=True)
class Spec:
    """How one body field (or a family of columns, for text and mappings) maps to cells."""
    column: str                    # column name, or the prefix before ".<tag>" / ".<key>"
    path: tuple[str, ...]          # where the value sits in the body
    type: str                      # TEXT, SCALAR, INTEGER, LIST, RECORDS or MAPPING
    keys: tuple[str, ...] = ()     # MAPPING: allowed keys (empty: any); RECORDS: item fields


def _schema_fields(nested: Any) -> dict[str, mf.Field]:
    schema = nested() if isinstance(nested, type) else nested
    if not isinstance(schema, Schema):
        raise TypeError(f"cannot lay out {nested!r} as columns")
    return dict(schema.fields)


def _choices(field: mf.Field) -> tuple[str, ...]:
    for validator in field.validators:
        if isinstance(validator, validate.OneOf):
            return tuple(str(c) for c in validator.choices)
    return ()


def _specs(fields: Mapping[str, mf.Field], prefix: tuple[str, ...] = ()) -> list[Spec]:
    out: list[Spec] = []
    for name, field in fields.items():
        path = prefix + (name,)
        column = ".".join(path)
        if isinstance(field, MultilingualText):
            out.append(Spec(column, path, TEXT))
        elif isinstance(field, mf.Nested):
            out.extend(_specs(_schema_fields(field.nested), path))
        elif isinstance(field, mf.List):
            if isinstance(field.inner, mf.Nested):
                out.append(Spec(column, path, RECORDS, tuple(_schema_fields(field.inner.nested))))
            else:
                out.append(Spec(column, path, LIST))
        elif isinstance(field, mf.Mapping):
            keys = _choices(field.key_field) if field.key_field is not None else ()
            out.append(Spec(column, path, MAPPING, keys))
        elif isinstance(field, mf.Integer):
            out.append(Spec(column, path, INTEGER))
        else:
            out.append(Spec(column, path, SCALAR))
    return out


@dataclass(frozen=True)
class Layout:
    specs: tuple[Spec, ...]
    fixed: dict[str, Spec]        # exact column name → spec
    families: dict[str, Spec]     # "title" → spec of title.<tag>; "identifiers" → spec

    def resolve(self, column: str) -> tuple[Spec, str | None] | None:
        """The spec of a column and its tag/key part, or None if the kind has no such column."""
        spec = self.fixed.get(column)
        if spec is not None:
            return spec, None
        base, dot, key = column.rpartition(".")
        spec = self.families.get(base) if dot and key else None
        if spec is None or (spec.type == MAPPING and spec.keys and key not in spec.keys):
            return None
        return spec, key


@lru_cache(maxsize=None)
def layout(kind: str) -> Layout:
    if kind not in BODY_SCHEMAS:
        raise ValueError(f"unknown kind {kind!r}")
    specs = tuple(_specs(BODY_SCHEMAS[kind]().fields))
    return Layout(specs,
                  {s.column: s for s in specs if s.type not in (TEXT, MAPPING)},
                  {s.column: s for s in specs if s.type in (TEXT, MAPPING)})


def columns(kind: str, languages: Sequence[str] = ("en", "zh-Hans")) -> list[str]:
    """A header template for ``kind``: text fields in ``languages``, every mapping key."""
    out: list[str] = []
    for spec in layout(kind).specs:
        if spec.type == TEXT:
            out.extend(f"{spec.column}.{tag}" for tag in languages)
        elif spec.type == MAPPING:
            out.extend(f"{spec.column}.{key}" for key in spec.keys)
        else:
            out.append(spec.column)
    return out


def column_patterns(kind: str) -> list[str]:
    """The columns of ``kind`` for people: ``title.<language>``, ``identifiers.<ror|uscc|…>``."""
    out = []
    for spec in layout(kind).specs:
        if spec.type == TEXT:
            out.append(f"{spec.column}.<language>")
        elif spec.type == MAPPING:
            out.append(f"{spec.column}.<{'|'.join(spec.keys) or 'key'}>")
        else:
            out.append(spec.column)
    return out


def is_column(kind: str, column: str) -> bool:
    return layout(kind).resolve(column) is not None


def order_columns(kind: str, names: Iterable[str]) -> list[str]:
    """``names`` (columns of ``kind``) in layout order; tags and keys sorted within a field."""
    lay = layout(kind)
    position = {spec.column: i for i, spec in enumerate(lay.specs)}

    def key(name: str) -> tuple[int, str]:
        found = lay.resolve(name)
        if found is None:
            raise ValueError(f"{name!r} is not a column of a {kind}")
        spec, sub = found
        if spec.type == MAPPING and spec.keys:
            return position[spec.column], f"{spec.keys.index(sub):04d}"
        return position[spec.column], sub or ""

    return sorted(set(names), key=key)


# -- cells ---------------------------------------------------------------------------------

def _escape(value: str, specials: str) -> str:
    if "\\" in value:
        value = value.replace("\\", "\\\\")
    for ch in specials:
        if ch in value:
            value = value.replace(ch, "\\" + ch)
    return value


def _split(cell: str, sep: str) -> list[str]:
    """Split on ``sep`` not preceded by a backslash; escapes are kept for the next level."""
    if "\\" not in cell:
        return cell.split(sep)
    parts, current, i = [], [], 0
    while i < len(cell):
        ch = cell[i]
        if ch == "\\" and i + 1 < len(cell):
            current.append(cell[i:i + 2])
            i += 2
            continue
        if ch == sep:
            parts.append("".join(current))
            current = []
        else:
            current.append(ch)
        i += 1
    parts.append("".join(current))
    return parts


def _unescape(value: str) -> str:
    if "\\" not in value:
        return value
    out, i = [], 0
    while i < len(value):
        if value[i] == "\\" and i + 1 < len(value):
            out.append(value[i + 1])
            i += 2
        else:
            out.append(value[i])
            i += 1
    return "".join(out)


def parse_integer(cell: str) -> int:
    text = cell.strip()
    try:
        return int(text)
    except ValueError:
        pass
    try:
        number = float(text)
    except ValueError:
        raise ValueError(f"Not a whole number: {cell!r}.")
    if not number.is_integer():
        raise ValueError(f"Not a whole number: {cell!r}.")
    return int(number)


def _cell(value: Any) -> str:
    return str(value)


def flatten(kind: str, body: Mapping[str, Any] | None) -> dict[str, str]:
    """The body as ``{column: cell}``; fields absent or empty get no column."""
    out: dict[str, str] = {}
    if not body:
        return out
    for spec in layout(kind).specs:
        value: Any = body
        for part in spec.path:
            value = value.get(part) if isinstance(value, Mapping) else None
            if value is None:
                break
        if value is None or value == [] or value == {}:
            continue
        if spec.type in (TEXT, MAPPING):
            for sub, text in value.items():
                out[f"{spec.column}.{sub}"] = _cell(text)
        elif spec.type == LIST:
            out[spec.column] = ";".join(_escape(_cell(v), ";|") for v in value)
        elif spec.type == RECORDS:
            out[spec.column] = ";".join(
                "|".join(_escape(_cell(item.get(k, "")), ";|") for k in spec.keys) for item in value)
        else:
            out[spec.column] = _cell(value)
    return out


def _put(body: dict, path: tuple[str, ...], value: Any) -> None:
    for part in path[:-1]:
        body = body.setdefault(part, {})
    body[path[-1]] = value


def unflatten(kind: str, row: Mapping[str, str | None]) -> dict:
    """The body a row describes (not yet validated against the schema).

    Raises ``ValidationError`` naming every column that is unknown for ``kind`` or whose
    cell cannot be read (a non-integer ``trl``, a ``parties`` item without ``|role``).
    """
    body, problems = _read(kind, row)
    if problems:
        raise ValidationError("The row is invalid.", errors=problems)
    return body


def _read(kind: str, row: Mapping[str, str | None]) -> tuple[dict, list[dict[str, str]]]:
    lay = layout(kind)
    body: dict = {}
    problems: list[dict[str, str]] = []
    for column, cell in row.items():
        if cell is None or not cell.strip():
            continue
        found = lay.resolve(column)
        if found is None:
            problems.append({"field": column, "detail": f"Not a column of a {kind}."})
            continue
        spec, sub = found
        try:
            if spec.type in (TEXT, MAPPING):
                _put(body, spec.path + (sub,), cell)
            elif spec.type == INTEGER:
                _put(body, spec.path, parse_integer(cell))
            elif spec.type == LIST:
                items = [v for v in (_unescape(v).strip() for v in _split(cell, ";")) if v]
                if items:
                    _put(body, spec.path, items)
            elif spec.type == RECORDS:
                items = _records(cell, spec.keys)
                if items:
                    _put(body, spec.path, items)
            else:
                _put(body, spec.path, cell)
        except ValueError as exc:
            problems.append({"field": column, "detail": str(exc)})
    return body, problems


def _records(cell: str, keys: tuple[str, ...]) -> list[dict[str, str]]:
    out = []
    for n, item in enumerate(_split(cell, ";"), 1):
        if not item.strip():
            continue
        values = [_unescape(v).strip() for v in _split(item, "|")]
        if len(values) != len(keys):
            raise ValueError(f"item {n}: expected {'|'.join(keys)}, got {_unescape(item)!r}.")
        out.append({k: v for k, v in zip(keys, values) if v})
    return out


def column_of(kind: str, path: str) -> tuple[str, str]:
    """Map a body field path from schema errors (``parties.0.role``) to (column, detail prefix)."""
    lay = layout(kind)
    parts = path.split(".")
    for n in range(len(parts), 0, -1):
        name = ".".join(parts[:n])
        if lay.resolve(name) is not None or name in lay.families:
            rest = parts[n:]
            prefix = ""
            if rest and rest[0].isdigit():
                prefix = f"item {int(rest[0]) + 1}: "
                rest = rest[1:]
            if rest:
                prefix += ".".join(rest) + ": "
            return name, prefix
    return path, ""


def load_row(kind: str, row: Mapping[str, str | None]) -> dict:
    """Read and validate a row as a body of ``kind``; every error names its column."""
    body, problems = _read(kind, row)
    try:
        loaded = load_body(kind, body, prefix="")
    except ValidationError as exc:
        # a cell that could not be read is already reported; its "missing" echo is noise
        seen = {p["field"] for p in problems}
        for err in exc.errors or []:
            column, prefix = column_of(kind, err["field"])
            if column not in seen:
                problems.append({"field": column, "detail": prefix + err["detail"]})
    if problems:
        raise ValidationError("The row is invalid.", errors=problems)
    return loaded
