"""Read export files (CSV, Excel ``.xlsx``, Parquet) into a DuckDB staging database.

Every file becomes one staging table whose columns are all text (``VARCHAR``), exactly as
written in the file; parsing numbers and dates is :mod:`transform`'s job, so that a value
that does not parse can be reported with its row and column. CSV goes through DuckDB's
own reader (no Python loop over rows); text that is not UTF-8 is converted from
Windows-1252 first, in blocks.
"""

from __future__ import annotations

import codecs
import datetime as dt
import hashlib
import re
import tempfile
from dataclasses import dataclass
from pathlib import Path

import duckdb
import pyarrow as pa

from salespulse.ingest.mapping import Format
from salespulse.ingest.validate import ImportProblem

BLOCK = 1 << 22  # 4 MiB


class SourceError(Exception):
    """A file cannot be read at all; carries the problem to report."""

    def __init__(self, problem: ImportProblem) -> None:
        super().__init__(str(problem))
        self.problem = problem


@dataclass(frozen=True)
class ReadResult:
    table: str  # staging table: all VARCHAR columns, in file order
    path: Path
    columns: tuple[str, ...]
    rows: int
    sha256: str
    size: int


def sql_str(value: str) -> str:
    """A SQL string literal."""
    return "'" + value.replace("'", "''") + "'"


def ident(name: str) -> str:
    """A quoted SQL identifier."""
    return '"' + name.replace('"', '""') + '"'


def _problem(path: Path, text: str, hint: str | None = None, row: int | None = None) -> SourceError:
    return SourceError(ImportProblem(str(path), row, None, text, hint))


def file_hash(path: Path) -> tuple[str, int]:
    h = hashlib.sha256()
    size = 0
    with path.open("rb") as f:
        while block := f.read(BLOCK):
            h.update(block)
            size += len(block)
    return h.hexdigest(), size


def _check_utf8(path: Path) -> tuple[int, int] | None:
    """``None`` if the file is valid UTF-8, else (line, byte offset) of the first bad byte."""
    dec = codecs.getincrementaldecoder("utf-8")()
    offset = 0
    lines = 1
    with path.open("rb") as f:
        while True:
            block = f.read(BLOCK)
            final = not block
            try:
                dec.decode(block, final=final)
            except UnicodeDecodeError as exc:
                bad = max(exc.start - len(dec.getstate()[0]), 0)
                return lines + block[:bad].count(b"\n"), offset + bad
            if final:
                return None
            lines += block.count(b"\n")
            offset += len(block)


def _transcode(path: Path, encoding: str, workdir: Path) -> Path:
    """Convert ``path`` to a UTF-8 copy in ``workdir`` (block by block)."""
    target = workdir / f"utf8-{abs(hash(str(path)))}-{path.name}"
    dec = codecs.getincrementaldecoder(encoding)()
    lines = 1
    with path.open("rb") as src, target.open("w", encoding="utf-8", newline="") as out:
        while True:
            block = src.read(BLOCK)
            try:
                out.write(dec.decode(block, final=not block))
            except UnicodeDecodeError as exc:
                line = lines + block[: exc.start].count(b"\n")
                raise _problem(
                    path,
                    f"undecodable text: byte 0x{block[exc.start]:02x} is neither UTF-8 nor "
                    f"{encoding}",
                    "save the export as UTF-8 (or set format.encoding)",
                    row=line,
                ) from exc
            if not block:
                break
            lines += block.count(b"\n")
    return target


def _clean_duckdb_error(exc: Exception) -> tuple[str, int | None]:
    text = str(exc).split("\n\nPossible Solution", 1)[0]
    first = text.strip().splitlines()[0] if text.strip() else type(exc).__name__
    m = re.search(r"[Ll]ine:? (\d+)", text)
    first = re.sub(r"^[A-Za-z ]*Error: ", "", first)
    return first[:300], int(m.group(1)) if m else None


def read_csv(
    con: duckdb.DuckDBPyConnection, name: str, path: Path, fmt: Format, workdir: Path
) -> int:
    """Load CSV ``path`` into staging table ``name``; returns the number of data rows."""
    data = path
    if fmt.encoding in ("auto", "utf-8"):
        bad = _check_utf8(path)
        if bad is not None:
            if fmt.encoding == "utf-8":
                raise _problem(
                    path,
                    f"undecodable text: not valid UTF-8 (byte offset {bad[1]})",
                    'save the export as UTF-8, or set format.encoding = "windows-1252"',
                    row=bad[0],
                )
            data = _transcode(path, "windows-1252", workdir)
    else:
        data = _transcode(path, fmt.encoding, workdir)
    opts = ["header = true", "all_varchar = true", "encoding = 'utf-8'"]
    if fmt.delimiter is not None:
        opts.append(f"delim = {sql_str(fmt.delimiter)}")
    if fmt.quote is not None:
        opts.append(f"quote = {sql_str(fmt.quote)}")
    try:
        con.execute(
            f"CREATE TABLE {ident(name)} AS SELECT * FROM read_csv({sql_str(str(data))}, "
            + ", ".join(opts)
            + ")"
        )
    except duckdb.Error as exc:
        msg, line = _clean_duckdb_error(exc)
        raise _problem(
            path,
            f"cannot read the CSV: {msg}",
            "check the separator and quoting (format.delimiter, format.quote) around that line",
            row=line,
        ) from exc
    return int(con.execute(f"SELECT count(*) FROM {ident(name)}").fetchone()[0])  # type: ignore[index]


def _cell(value: object, decimal: str) -> str | None:
    if value is None:
        return None
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, dt.datetime):
        return value.isoformat(sep=" ")
    if isinstance(value, dt.date):
        return value.isoformat()
    if isinstance(value, float):
        text = str(int(value)) if value.is_integer() else repr(value)
        return text.replace(".", ",") if decimal == "," else text
    if isinstance(value, int):
        return str(value)
    text = str(value)
    return text if text.strip() else None


def read_xlsx(con: duckdb.DuckDBPyConnection, name: str, path: Path, fmt: Format) -> int:
    """Load a sheet of an ``.xlsx`` workbook (``format.sheet`` or the first one)."""
    import openpyxl

    try:
        wb = openpyxl.load_workbook(path, read_only=True, data_only=True)
    except Exception as exc:  # openpyxl raises many kinds for broken files
        raise _problem(path, f"cannot open the workbook: {exc}", "save it again as .xlsx") from exc
    try:
        if fmt.sheet is not None and fmt.sheet not in wb.sheetnames:
            raise _problem(
                path,
                f"the workbook has no sheet {fmt.sheet!r}",
                "sheets: " + ", ".join(wb.sheetnames),
            )
        ws = wb[fmt.sheet] if fmt.sheet is not None else wb.worksheets[0]
        rows = ws.iter_rows(values_only=True)
        header: list[str] | None = None
        for r in rows:
            if any(v is not None and str(v).strip() for v in r):
                header = ["" if v is None else str(v).strip() for v in r]
                break
        if header is None:
            raise _problem(path, "the file is empty (no header row)", "export it again")
        while header and not header[-1]:
            header.pop()
        names = [h or f"column{i + 1}" for i, h in enumerate(header)]
        cols: list[list[str | None]] = [[] for _ in names]
        for r in rows:
            if not any(v is not None for v in r):
                continue
            for i in range(len(names)):
                cols[i].append(_cell(r[i], fmt.decimal) if i < len(r) else None)
    finally:
        wb.close()
    arrow = pa.table({n: pa.array(c, pa.string()) for n, c in zip(names, cols, strict=True)})
    con.register("_xlsx_arrow", arrow)
    try:
        con.execute(f"CREATE TABLE {ident(name)} AS SELECT * FROM _xlsx_arrow")
    finally:
        con.unregister("_xlsx_arrow")
    return int(arrow.num_rows)


def read_parquet(con: duckdb.DuckDBPyConnection, name: str, path: Path, fmt: Format) -> int:
    try:
        desc = con.execute(f"DESCRIBE SELECT * FROM read_parquet({sql_str(str(path))})").fetchall()
    except duckdb.Error as exc:
        msg, _ = _clean_duckdb_error(exc)
        raise _problem(path, f"cannot read the Parquet file: {msg}", "export it again") from exc
    sel = []
    for col, typ, *_ in desc:
        text = f"CAST({ident(col)} AS VARCHAR)"
        if fmt.decimal == "," and re.match(r"(DOUBLE|FLOAT|DECIMAL|REAL)", str(typ)):
            text = f"replace({text}, '.', ',')"
        sel.append(f"{text} AS {ident(col)}")
    con.execute(
        f"CREATE TABLE {ident(name)} AS SELECT {', '.join(sel)} "
        f"FROM read_parquet({sql_str(str(path))})"
    )
    return int(con.execute(f"SELECT count(*) FROM {ident(name)}").fetchone()[0])  # type: ignore[index]


def read_file(
    con: duckdb.DuckDBPyConnection, name: str, path: Path, fmt: Format, workdir: Path | None = None
) -> ReadResult:
    """Read ``path`` (by its extension) into staging table ``name``."""
    sha, size = file_hash(path)
    if size == 0 or (size < 8 and not path.read_bytes().strip(b"\xef\xbb\xbf \r\n\t")):
        raise _problem(path, "the file is empty", "export it again; a header row at least")
    suffix = path.suffix.lower()
    if suffix in (".xlsx", ".xlsm"):
        rows = read_xlsx(con, name, path, fmt)
    elif suffix in (".parquet", ".pq"):
        rows = read_parquet(con, name, path, fmt)
    elif suffix == ".xls":
        raise _problem(path, "old Excel .xls files are not supported", "save it as .xlsx or .csv")
    else:
        if workdir is None:
            with tempfile.TemporaryDirectory(prefix="salespulse-") as tmp:
                rows = read_csv(con, name, path, fmt, Path(tmp))
        else:
            rows = read_csv(con, name, path, fmt, workdir)
    columns = tuple(r[0] for r in con.execute(f"DESCRIBE {ident(name)}").fetchall())
    return ReadResult(name, path, columns, rows, sha, size)
