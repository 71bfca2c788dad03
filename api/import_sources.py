"""The files ``jembatan import`` reads: JSON Lines, CSV and XLSX, row by row, and their rejects.

A source yields ``(row number, payload)``: the raw line (bytes) for JSON Lines, the list of
cells (text) for CSV and XLSX, or ``{"errors": [...]}`` for a row already known to be bad.
File-level problems (not UTF-8, no header, unknown columns) raise ``ImportFailed`` before or
while streaming, which aborts the whole import.
"""
from __future__ import annotations

from abc import ABC, abstractmethod

import csv
import io
import json
import os
from datetime import date, datetime, time
from pathlib import Path
from typing import Any, Iterator

from jembatan.network import tabular
from jembatan.network.ids import KINDS

#: columns that describe the record rather than its body → the key they fill in a draft.
#: ``kind`` is a body field of institutions, agreements and events, so the record's kind is
#: ``record_kind``; an endorsement's ``version`` is its body field too.
META_COLUMNS = {"rid": "rid", "record_kind": "kind", "visibility": "visibility",
                "version": "version", "deleted": "deleted"}
#: columns ignored on import: the reasons a rejects file adds (fix the rows, import it again)
IGNORED_COLUMNS = {"errors"}
ERRORS_KEY = "_errors"


class ImportFailed(Exception):
    """The file as a whole cannot be imported; nothing was written."""


class _Counter(io.RawIOBase):
    """Counts the bytes read through it, for a progress bar over a text stream."""

    def __init__(self, raw):
        self.raw, self.n = raw, 0

    def readable(self) -> bool:
        return True

    def readinto(self, buffer) -> int:
        n = self.raw.readinto(buffer)
        self.n += n or 0
        return n

    def close(self) -> None:
        self.raw.close()
        super().close()


def _problems_text(problems: list[dict[str, str]]) -> str:
    return "; ".join(f"{p['field']}: {p['detail']}" for p in problems)


class Source(ABC):
    fmt = ""
    header: tuple[str, ...] | None = None

    def __init__(self, path: Path):
        self.path = path
        self.total = path.stat().st_size   # progress units: bytes, or rows for XLSX
        self.position = 0

    @abstractmethod
    def rows(self) -> Iterator[tuple[int, Any]]:
        """``(row number, payload)`` for every row; a payload that is a dict holds the
        reader's own ``errors`` for that row."""

    @abstractmethod
    def write_rejects(self, target: Path, rejected: dict[int, list[dict[str, str]]]) -> None:
        """Write the rejected rows, each with its reasons, in the source's own format."""


class JsonLines(Source):
    fmt = "jsonl"

    def _lines(self) -> Iterator[tuple[int, bytes]]:
        with open(self.path, "rb") as f:
            for lineno, line in enumerate(f, 1):
                self.position += len(line)
                if line.strip():
                    yield lineno, line

    def rows(self) -> Iterator[tuple[int, Any]]:
        return self._lines()

    def write_rejects(self, target: Path, rejected: dict[int, list[dict[str, str]]]) -> None:
        with open(target, "w", encoding="utf-8") as out:
            for lineno, line in self._lines():
                if lineno not in rejected:
                    continue
                try:
                    obj = json.loads(line)
                except ValueError:
                    obj = None
                if not isinstance(obj, dict):
                    obj = {"_line": line.decode("utf-8", "replace").rstrip("\r\n")}
                obj[ERRORS_KEY] = rejected[lineno]
                out.write(json.dumps(obj, ensure_ascii=False) + "\n")


class _Table(Source):
    """Common to CSV and XLSX: a header row, then one record per row."""

    @abstractmethod
    def _raw_rows(self) -> Iterator[list[str]]:
        """The cells of each row after the header."""

    def check_header(self, names: list[str], kind: str | None) -> None:
        while names and not names[-1]:
            names.pop()          # spreadsheets often carry empty trailing header cells
        if not names:
            raise ImportFailed(f"{self.path.name}: no header row (the first row names the columns)")
        if "" in names:
            raise ImportFailed(f"{self.path.name}: column {names.index('') + 1} has no name in the header")
        seen: set[str] = set()
        for name in names:
            if name in seen:
                raise ImportFailed(f"{self.path.name}: column {name!r} appears twice in the header")
            seen.add(name)
        if kind is None and "record_kind" not in seen and "rid" not in seen:
            raise ImportFailed(f"{self.path.name}: which kind of records? Pass --kind "
                               "(or add a record_kind column)")
        kinds = (kind,) if kind and "record_kind" not in seen else KINDS
        unknown = [n for n in names if n not in META_COLUMNS and n not in IGNORED_COLUMNS
                   and not any(tabular.is_column(k, n) for k in kinds)]
        if unknown:
            plural = "s" if len(unknown) > 1 else ""
            if len(kinds) == 1:
                known = ", ".join(list(META_COLUMNS) + tabular.column_patterns(kind))
                raise ImportFailed(f"{self.path.name}: unknown column{plural} for a {kind}: "
                                   f"{', '.join(unknown)} (columns: {known})")
            raise ImportFailed(f"{self.path.name}: unknown column{plural} for any record kind: "
                               f"{', '.join(unknown)}")
        self.header = tuple(names)

    def rows(self) -> Iterator[tuple[int, Any]]:
        width = len(self.header)
        for rowno, cells in enumerate(self._raw_rows(), 2):
            if not any(c.strip() for c in cells):
                continue
            if len(cells) > width:
                extra = [i + 1 for i, c in enumerate(cells[width:], width) if c.strip()]
                if extra:
                    yield rowno, {"errors": [{"field": f"(column {extra[0]})",
                                              "detail": "A value in a column without a header."}]}
                    continue
                cells = cells[:width]
            elif len(cells) < width:
                cells = cells + [""] * (width - len(cells))
            yield rowno, cells

    def _reject_rows(self, rejected: dict[int, list[dict[str, str]]]) -> Iterator[list[str]]:
        names = [n for n in self.header if n not in IGNORED_COLUMNS]
        yield names + ["errors"]
        keep = [i for i, n in enumerate(self.header) if n not in IGNORED_COLUMNS]
        for rowno, cells in enumerate(self._raw_rows(), 2):
            if rowno in rejected:
                cells = (cells + [""] * len(self.header))[:len(self.header)]
                yield [cells[i] for i in keep] + [_problems_text(rejected[rowno])]


class Csv(_Table):
    fmt = "csv"

    def __init__(self, path: Path, kind: str | None):
        super().__init__(path)
        rows = self._read(header=True)
        try:
            first = next(rows, None)
        finally:
            rows.close()
        self.check_header([c.strip() for c in first or []], kind)

    def _raw_rows(self) -> Iterator[list[str]]:
        return self._read(header=False)

    def _read(self, header: bool) -> Iterator[list[str]]:
        counter = _Counter(open(self.path, "rb", buffering=0))
        text = io.TextIOWrapper(io.BufferedReader(counter, 1 << 16), encoding="utf-8-sig", newline="")
        with text:
            reader = csv.reader(text)
            try:
                if not header:
                    next(reader, None)
                for cells in reader:
                    self.position = counter.n
                    yield cells
            except UnicodeDecodeError:
                raise ImportFailed(f"{self.path.name}: not UTF-8 text (near row {reader.line_num + 1})")
            except csv.Error as exc:
                raise ImportFailed(f"{self.path.name}, row {reader.line_num}: not valid CSV ({exc})")
        self.position = counter.n

    def write_rejects(self, target: Path, rejected: dict[int, list[dict[str, str]]]) -> None:
        with open(target, "w", encoding="utf-8-sig", newline="") as out:
            csv.writer(out).writerows(self._reject_rows(rejected))


def cell_text(value: Any) -> str:
    """An XLSX cell as the text a CSV would hold: 7.0 → "7", a date → "2025-05-01"."""
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float):
        return str(int(value)) if value.is_integer() else repr(value)
    if isinstance(value, datetime):
        return value.date().isoformat() if value.time() == time(0) else value.isoformat()
    if isinstance(value, (date, time)):
        return value.isoformat()
    return str(value)


class Xlsx(_Table):
    fmt = "xlsx"

    def __init__(self, path: Path, kind: str | None, sheet: str | None):
        super().__init__(path)
        self.sheet = sheet
        with self._sheet() as ws:
            self.total = max((ws.max_row or 1) - 1, 1)
        self.check_header([c.strip() for c in next(self._all_rows(), [])], kind)

    def _sheet(self):
        import openpyxl
        from contextlib import contextmanager

        @contextmanager
        def opened():
            try:
                wb = openpyxl.load_workbook(self.path, read_only=True, data_only=True)
            except Exception as exc:  # openpyxl raises zip, XML and key errors alike
                raise ImportFailed(f"{self.path.name}: not an XLSX workbook ({type(exc).__name__})")
            try:
                if self.sheet is None:
                    yield wb.worksheets[0]
                elif self.sheet in wb.sheetnames:
                    yield wb[self.sheet]
                else:
                    raise ImportFailed(f"{self.path.name}: no sheet {self.sheet!r} "
                                       f"(sheets: {', '.join(wb.sheetnames)})")
            finally:
                wb.close()
        return opened()

    def _all_rows(self) -> Iterator[list[str]]:
        with self._sheet() as ws:
            for values in ws.iter_rows(values_only=True):
                yield [cell_text(v) for v in values]

    def _raw_rows(self) -> Iterator[list[str]]:
        rows = self._all_rows()
        next(rows, None)
        for n, cells in enumerate(rows, 1):
            self.position = n
            yield cells

    def write_rejects(self, target: Path, rejected: dict[int, list[dict[str, str]]]) -> None:
        import openpyxl
        wb = openpyxl.Workbook(write_only=True)
        ws = wb.create_sheet("rejects")
        for cells in self._reject_rows(rejected):
            ws.append(cells)
        tmp = target.with_name(target.name + ".tmp")
        wb.save(tmp)
        os.replace(tmp, target)


FORMATS = ("csv", "xlsx", "jsonl")


def format_of(path: Path) -> str | None:
    suffix = path.suffix.lower().lstrip(".")
    return {"csv": "csv", "xlsx": "xlsx", "jsonl": "jsonl", "ndjson": "jsonl"}.get(suffix)


def open_source(path: Path, fmt: str, *, sheet: str | None = None, kind: str | None = None) -> Source:
    if not path.is_file():
        raise ImportFailed(f"{path}: no such file")
    if fmt == "jsonl":
        return JsonLines(path)
    if fmt == "csv":
        return Csv(path, kind)
    if fmt == "xlsx":
        return Xlsx(path, kind, sheet)
    raise ImportFailed(f"unknown format {fmt!r}; one of {', '.join(FORMATS)}")
