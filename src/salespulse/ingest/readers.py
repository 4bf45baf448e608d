"""Read export files (CSV, Excel ``.xlsx``, Parquet) into a DuckDB staging database.

Every file becomes one staging table whose columns are all text (``VARCHAR``), exactly as
written in the file; parsing numbers and dates is :mod:`transform`'s job, so that a value
that does not parse can be reported with its row and column. CSV goes through DuckDB's
own reader (no Python loop over rows); text that is not UTF-8 is converted from
Windows-1252 first, in blocks.
"""

from __future__ import annotations

import codecs
import csv
import datetime as dt
import hashlib
import re
from dataclasses import dataclass
from pathlib import Path

import duckdb
import pyarrow as pa

from salespulse.ingest.mapping import Format
from salespulse.ingest.validate import ImportProblem

BLOCK = 1 << 22  # 4 MiB
#: DuckDB's default limit on the length of one CSV line (bytes).
MAX_LINE = 2_000_000
#: Separators tried when a file's dialect has to be found from its header line.
DELIMITERS = (",", ";", "\t", "|")


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


def _bom_encoding(path: Path) -> str | None:
    """``utf-16`` for a file that starts with a UTF-16 byte-order mark."""
    with path.open("rb") as f:
        head = f.read(2)
    return "utf-16" if head in (b"\xff\xfe", b"\xfe\xff") else None


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


def _clean_duckdb_error(exc: Exception, *paths: tuple[Path, Path]) -> tuple[str, int | None]:
    """DuckDB's reason in one line (without its SQL echo and advice), and the line it names.

    ``paths`` are (internal, shown) pairs: a transcoded copy is named as the user's file.
    """
    text = str(exc)
    for internal, shown in paths:
        text = text.replace(str(internal), str(shown))
    text = text.split("\n\nPossible Solution", 1)[0].split("\nPossible fixes", 1)[0]
    text = text.split("\n\nLINE ", 1)[0]
    lines = [ln.strip() for ln in text.strip().splitlines() if ln.strip()]
    first = lines[0] if lines else type(exc).__name__
    m = re.search(r"[Ll]ine:? (\d+)", first)
    first = re.sub(r"^[A-Za-z ]*Error: ", "", first)
    reasons = [
        ln
        for ln in lines[1:]
        if re.match(r"(Expected Number of Columns|Maximum line size|Value with unterminated)", ln)
    ]
    if reasons:
        first = "; ".join(reasons) if m else f"{first}: {'; '.join(reasons)}"
    return first[:400], int(m.group(1)) if m else None


def _long_line(path: Path, limit: int = MAX_LINE) -> tuple[int, int] | None:
    """(line number, length in bytes) of the first line longer than ``limit``, if any."""
    line, length = 1, 0
    with path.open("rb") as f:
        while block := f.read(BLOCK):
            start = 0
            while True:
                nl = block.find(b"\n", start)
                if nl < 0:
                    length += len(block) - start
                    break
                length += nl - start
                if length > limit:
                    return line, length
                line, length, start = line + 1, 0, nl + 1
            if length > limit:
                # keep counting to the end of this line for the message
                rest = f.read(BLOCK)
                while rest:
                    nl = rest.find(b"\n")
                    if nl >= 0:
                        return line, length + nl
                    length += len(rest)
                    rest = f.read(BLOCK)
                return line, length
    return None


def _header_fields(path: Path, delimiter: str | None, quote: str | None) -> tuple[str, list[str]]:
    """The separator and the column names from the first line of a UTF-8 file."""
    with path.open("r", encoding="utf-8-sig", newline="") as f:
        first = f.readline()
    if delimiter is None:
        outside = re.sub(r'"[^"]*"', "", first)
        delimiter = max(DELIMITERS, key=outside.count)
    row = next(csv.reader([first], delimiter=delimiter, quotechar=quote or '"'), [])
    names: list[str] = []
    for i, n in enumerate(row):
        n = n.strip() or f"column{i + 1}"
        while n in names:
            n += "_"
        names.append(n)
    return delimiter, names


def _strict_read(
    con: duckdb.DuckDBPyConnection, name: str, data: Path, fmt: Format
) -> duckdb.Error | None:
    """Read with the dialect taken from the header line, no sniffing; the error if any.

    DuckDB's sniffer gives up on (or reads as one column) a file with a ragged row; read
    strictly, the same file fails on the row that does not fit, which is what to report.
    """
    delim, names = _header_fields(data, fmt.delimiter, fmt.quote)
    if len(names) < 2:
        return duckdb.InvalidInputException("the header has one column")
    q = fmt.quote or '"'
    cols = "{" + ", ".join(f"{sql_str(n)}: 'VARCHAR'" for n in names) + "}"
    try:
        con.execute(
            f"CREATE TABLE {ident(name)} AS SELECT * FROM read_csv({sql_str(str(data))}, "
            f"header = true, auto_detect = false, delim = {sql_str(delim)}, "
            f"quote = {sql_str(q)}, escape = {sql_str(q)}, columns = {cols}, "
            "encoding = 'utf-8')"
        )
    except duckdb.Error as exc:
        return exc
    return None


def read_csv(
    con: duckdb.DuckDBPyConnection, name: str, path: Path, fmt: Format, workdir: Path
) -> int:
    """Load CSV ``path`` into staging table ``name``; returns the number of data rows."""
    data = path
    encoding = fmt.encoding
    if encoding == "auto":
        encoding = _bom_encoding(path) or "auto"
    if encoding in ("auto", "utf-8"):
        bad = _check_utf8(path)
        if bad is not None:
            if encoding == "utf-8":
                raise _problem(
                    path,
                    f"undecodable text: not valid UTF-8 (byte offset {bad[1]})",
                    'save the export as UTF-8, or set format.encoding = "windows-1252"',
                    row=bad[0],
                )
            data = _transcode(path, "windows-1252", workdir)
    else:
        data = _transcode(path, encoding, workdir)
    opts = ["header = true", "all_varchar = true", "encoding = 'utf-8'"]
    if fmt.delimiter is not None:
        opts.append(f"delim = {sql_str(fmt.delimiter)}")
    if fmt.quote is not None:
        opts.append(f"quote = {sql_str(fmt.quote)}")
    sql = (
        f"CREATE TABLE {ident(name)} AS SELECT * FROM read_csv({sql_str(str(data))}, "
        + ", ".join(opts)
        + ")"
    )
    failure: duckdb.Error | None = None
    try:
        con.execute(sql)
    except duckdb.Error as exc:
        failure = exc
    if failure is None:
        cols = [r[0] for r in con.execute(f"DESCRIBE {ident(name)}").fetchall()]
        if len(cols) == 1 and any(d in cols[0] for d in DELIMITERS):
            # the sniffer saw no consistent separator: a ragged row, most likely
            con.execute(f"DROP TABLE {ident(name)}")
            failure = _strict_read(con, name, data, fmt)
            if failure is None:
                return _rows(con, name)
            if "Expected Number of Columns" not in str(failure):
                con.execute(sql)  # not a ragged row after all: keep the sniffer's reading
                return _rows(con, name)
    elif "Maximum line size" not in str(failure) and "Expected Number" not in str(failure):
        strict = _strict_read(con, name, data, fmt)
        if strict is None:
            return _rows(con, name)
        failure = strict if "Expected Number of Columns" in str(strict) else failure
    if failure is not None:
        raise _read_problem(failure, path, data)
    return _rows(con, name)


def _rows(con: duckdb.DuckDBPyConnection, name: str) -> int:
    return int(con.execute(f"SELECT count(*) FROM {ident(name)}").fetchone()[0])  # type: ignore[index]


def _read_problem(exc: duckdb.Error, path: Path, data: Path) -> SourceError:
    """The problem to report for a CSV DuckDB cannot read, located in the user's file."""
    text = str(exc)
    if "Maximum line size" in text:
        long = _long_line(data)
        row = long[0] if long else None
        size = f"{long[1] / 1e6:.1f} MB" if long else "too long"
        return _problem(
            path,
            f"row is {size} long; the limit is {MAX_LINE / 1e6:.0f} MB per row",
            "a value this long is usually a missing closing quote (the rest of the file becomes "
            "one value): check the quotes on that row",
            row=row,
        )
    m = re.search(r"Expected Number of Columns: (\d+) Found: (\d+)", text)
    msg, line = _clean_duckdb_error(exc, (data, path))
    if m:
        return _problem(
            path,
            f"row has {m.group(2)} fields, the header has {m.group(1)}",
            "a value that contains the separator must be in quotes; fix that row "
            "(or set format.delimiter)",
            row=line,
        )
    return _problem(
        path,
        f"cannot read the CSV: {msg}",
        "check the separator and quoting (format.delimiter, format.quote) around that line",
        row=line,
    )


def _cell(value: object, decimal: str) -> str | None:
    if value is None:
        return None
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, dt.datetime):
        if value.time() == dt.time(0) and value.tzinfo is None:
            return value.date().isoformat()  # Excel keeps a date as a datetime at midnight
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
            from salespulse.ingest.workdir import scratch

            with scratch() as tmp:
                rows = read_csv(con, name, path, fmt, tmp)
        else:
            rows = read_csv(con, name, path, fmt, workdir)
    columns = tuple(r[0] for r in con.execute(f"DESCRIBE {ident(name)}").fetchall())
    return ReadResult(name, path, columns, rows, sha, size)
