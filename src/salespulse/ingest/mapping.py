"""The mapping file: a TOML description of how export files become canonical tables.

The reference with examples is ``docs/import.md``. In short::

    preset = "salesforce"            # optional: start from a shipped preset
    data_dir = "../exports"          # optional: where the files are (relative to this file)

    [format]                         # how values are written (per source: [sources.x.format])
    locale = "nl"                    # ; separator, decimal comma, dd-mm-yyyy dates

    [pipeline]                       # the stages deals move through
    id = "sales"
    stages = [{ name = "Prospecting", probability = 0.1 }, { name = "Won", outcome = "won" }]

    [sources.deals]                  # one export file → one canonical table
    file = "deals.csv"
    [sources.deals.columns]
    deal_id = "Deal ID"              # canonical field = source column
    amount = { column = "Value", default = "0" }

Everything is checked when the file is loaded: unknown keys, tables and fields are a
:class:`UserError` naming the key, with the closest valid name as a hint.
"""

from __future__ import annotations

import difflib
import re
import tomllib
from dataclasses import dataclass, field
from datetime import date
from importlib import resources
from pathlib import Path
from typing import Any

from salespulse.errors import UserError
from salespulse.warehouse.schema import DEAL_OUTCOMES, TABLES_BY_NAME

PRESETS = ("hubspot", "salesforce")
REFERENCE_ACTIONS = ("error", "empty", "create")
#: Referenced tables for which ``create`` can make a placeholder row (id, name = id).
CREATABLE = ("reps", "accounts", "products", "teams")

LOCALES: dict[str, dict[str, Any]] = {
    "nl": {
        "delimiter": ";",
        "decimal": ",",
        "thousands": ".",
        "date_format": ["%d-%m-%Y", "%d-%m-%Y %H:%M", "%d-%m-%Y %H:%M:%S"],
    },
    "en": {"delimiter": ",", "decimal": ".", "thousands": ",", "date_format": []},
}

_TOP_KEYS = {
    "preset",
    "data_dir",
    "as_of",
    "currency",
    "format",
    "pipeline",
    "history",
    "unknown_references",
    "sources",
    "checks",
    "timezone",
    "settings",
}
_FORMAT_KEYS = {
    "locale",
    "delimiter",
    "quote",
    "encoding",
    "decimal",
    "thousands",
    "date_format",
    "null_values",
    "sheet",
    "true_values",
    "false_values",
}
_SOURCE_KEYS = {
    "table",
    "file",
    "files",
    "optional",
    "skip",
    "columns",
    "format",
    "stage_date_columns",
    "filter",
    "distinct",
    "lookup",
    "timezone",
    "attributes",
    "on_duplicate",
}
_LOOKUP_KEYS = {"file", "key", "on", "format"}
#: Tables whose records can carry custom attributes (``[sources.x.attributes]``).
ATTRIBUTE_TABLES = ("accounts", "leads", "deals")
_ATTRIBUTE_NAME = re.compile(r"^[a-z][a-z0-9_]{0,62}$")
_FIELD_KEYS = {
    "column",
    "value",
    "sql",
    "map",
    "unmapped",
    "default",
    "format",
    "when_closed",
    "optional",
    "split",
}
_STAGE_KEYS = {"name", "id", "order", "probability", "outcome", "aliases", "required"}
_HISTORY_KEYS = {"snapshots", "current_stage"}
_CHECK_KEYS = {"earliest_date", "max_years_ahead"}
ENCODINGS = ("auto", "utf-8", "utf-16", "windows-1252", "latin-1")


@dataclass(frozen=True)
class Field:
    """How one canonical field is filled: from a column, a constant or an SQL expression."""

    column: str | None = None
    value: str | None = None
    sql: str | None = None
    map: dict[str, str | None] = field(default_factory=dict)
    unmapped: str = "keep"  # keep | error | empty
    default: str | None = None
    formats: tuple[str, ...] = ()
    when_closed: bool = False
    optional: bool = False  # a missing column leaves the field empty instead of an error
    #: The column holds a list (HubSpot's ``"123;456"`` associations): take its first item.
    split: str | None = None


@dataclass(frozen=True)
class Format:
    """How a source file is written."""

    delimiter: str | None = None  # None: detect
    quote: str | None = None
    encoding: str = "auto"
    decimal: str = "."
    thousands: str | None = None
    date_formats: tuple[str, ...] = ()  # empty: ISO 8601
    null_values: tuple[str, ...] = ()
    sheet: str | None = None
    true_values: tuple[str, ...] = ("1", "true", "yes", "y", "ja", "j", "waar", "x")
    false_values: tuple[str, ...] = ("0", "false", "no", "n", "nee", "onwaar")


@dataclass(frozen=True)
class Lookup:
    """Another file of the source, joined to each row: ``key`` (its column) = ``on``.

    Its columns are available to fields as ``"<name>.<column>"``; a row whose ``on`` value
    is not in the file gets empty values. ``key`` must be unique in the file.
    """

    name: str
    file: Path
    key: str
    on: str  # column of the source file
    format: Format


@dataclass(frozen=True)
class Source:
    """One export (one or more files of the same layout) feeding one canonical table."""

    name: str
    table: str
    files: tuple[Path, ...]
    columns: dict[str, Field]
    format: Format
    optional: bool = False
    #: Deals only: a regular expression whose ``stage`` group picks the stage out of column
    #: names like ``Date entered "Qualified (Sales Pipeline)"`` (HubSpot); each such column
    #: holds when the deal entered that stage.
    stage_date_columns: str | None = None
    filter: str | None = None  # SQL condition on source columns; other rows are ignored
    distinct: bool = False  # identical canonical rows collapse into one (e.g. teams from reps)
    lookups: tuple[Lookup, ...] = ()
    #: IANA zone the export's times are written in (None: UTC); see docs/import.md.
    timezone: str | None = None
    #: Custom attributes (accounts, leads, deals): attribute name → how to fill it.
    attributes: dict[str, Field] = field(default_factory=dict)
    #: Rows of this source with the same key: ``error`` (a problem) or ``last`` (the last
    #: one in file order wins, e.g. history rows that share a timestamp).
    on_duplicate: str = "error"


@dataclass(frozen=True)
class Stage:
    name: str
    stage_id: str
    order: int
    probability: float | None
    outcome: str | None  # won | lost | None (open)
    aliases: tuple[str, ...] = ()
    required: bool | None = None


@dataclass(frozen=True)
class Pipeline:
    pipeline_id: str
    name: str
    stages: tuple[Stage, ...]


@dataclass(frozen=True)
class Checks:
    """Plausibility limits: a date outside [earliest_date, import date + max_years_ahead
    years] is a problem (a typo like 2099 or 1900, or a wrong date format)."""

    earliest_date: date = date(1990, 1, 1)
    max_years_ahead: int = 10


@dataclass(frozen=True)
class Mapping:
    path: Path
    data_dir: Path
    sources: tuple[Source, ...]
    pipeline: Pipeline | None
    currency: str | None
    as_of: str | None
    snapshots: bool | None  # None: on when no source fills deal_stage_history
    current_stage: bool
    unknown_references: dict[str, str]
    skipped: tuple[str, ...] = ()  # optional sources whose files are absent
    checks: Checks = field(default_factory=Checks)
    #: Settings the import stores in the database (``[settings]``: reporting currency,
    #: fiscal year, time zone, …), validated like settings.toml.
    settings: dict[str, Any] = field(default_factory=dict)

    def source_tables(self) -> list[str]:
        return sorted({s.table for s in self.sources})


def slug(text: str) -> str:
    """``'Closed Won'`` → ``'closed_won'``: a stable identifier from a display name."""
    s = re.sub(r"[^0-9a-z]+", "_", text.strip().lower()).strip("_")
    return s or "stage"


def _closest(word: str, options: Any) -> str:
    match = difflib.get_close_matches(word, list(options), n=1, cutoff=0.5)
    return f"did you mean {match[0]!r}?" if match else "valid: " + ", ".join(sorted(options))


def _check_keys(where: str, given: dict[str, Any], allowed: set[str], path: Path) -> None:
    for k in given:
        if k not in allowed:
            raise UserError(f"{path}: unknown key {k!r} in {where}", hint=_closest(k, allowed))


def _merge(base: dict[str, Any], over: dict[str, Any]) -> dict[str, Any]:
    """Deep merge: tables merge key by key, everything else in ``over`` replaces."""
    out = dict(base)
    for k, v in over.items():
        if isinstance(v, dict) and isinstance(out.get(k), dict):
            out[k] = _merge(out[k], v)
        else:
            out[k] = v
    return out


def load_preset(name: str) -> dict[str, Any]:
    if name not in PRESETS:
        raise UserError(f"unknown preset {name!r}", hint=_closest(name, PRESETS))
    text = resources.files("salespulse.ingest.presets").joinpath(f"{name}.toml").read_text("utf-8")
    return tomllib.loads(text)


def _as_list(value: Any) -> list[Any]:
    if value is None:
        return []
    return list(value) if isinstance(value, list | tuple) else [value]


def _format(raw: dict[str, Any], base: Format, where: str, path: Path) -> Format:
    _check_keys(where, raw, _FORMAT_KEYS, path)
    values: dict[str, Any] = {}
    if "locale" in raw:
        loc = raw["locale"]
        if loc not in LOCALES:
            raise UserError(
                f"{path}: unknown locale {loc!r} in {where}", hint=_closest(loc, LOCALES)
            )
        values.update(LOCALES[loc])
    values.update({k: v for k, v in raw.items() if k != "locale"})
    enc = str(values.get("encoding", base.encoding)).lower().replace("cp1252", "windows-1252")
    enc = {"utf8": "utf-8", "utf-8-sig": "utf-8", "latin1": "latin-1", "utf16": "utf-16"}.get(
        enc, enc
    )
    if enc not in ENCODINGS:
        raise UserError(
            f"{path}: unsupported encoding {enc!r} in {where}", hint=_closest(enc, ENCODINGS)
        )
    decimal = values.get("decimal", base.decimal)
    if decimal not in (".", ","):
        raise UserError(f"{path}: decimal must be '.' or ',' in {where}")
    delim = values.get("delimiter", base.delimiter)
    if delim in ("auto", ""):
        delim = None
    if delim == "\\t":
        delim = "\t"
    return Format(
        delimiter=delim,
        quote=values.get("quote", base.quote),
        encoding=enc,
        decimal=decimal,
        thousands=values.get("thousands", base.thousands) or None,
        date_formats=tuple(_as_list(values["date_format"]))
        if "date_format" in values
        else base.date_formats,
        null_values=tuple(str(v) for v in _as_list(values["null_values"]))
        if "null_values" in values
        else base.null_values,
        sheet=values.get("sheet", base.sheet),
        true_values=tuple(str(v).lower() for v in _as_list(values["true_values"]))
        if "true_values" in values
        else base.true_values,
        false_values=tuple(str(v).lower() for v in _as_list(values["false_values"]))
        if "false_values" in values
        else base.false_values,
    )


def _field(raw: Any, where: str, path: Path) -> Field:
    if isinstance(raw, str):
        return Field(column=raw)
    if not isinstance(raw, dict):
        raise UserError(
            f'{path}: {where} must be a column name or a table like {{ column = "..." }}'
        )
    _check_keys(where, raw, _FIELD_KEYS, path)
    given = [k for k in ("column", "value", "sql") if k in raw]
    if len(given) > 1:
        raise UserError(f"{path}: {where} has {' and '.join(given)}; give only one of them")
    if not given and "default" not in raw:
        raise UserError(f"{path}: {where} needs column, value, sql or default")
    unmapped = raw.get("unmapped", "keep")
    if unmapped not in ("keep", "error", "empty"):
        raise UserError(f"{path}: {where}.unmapped must be keep, error or empty")
    if "sql" in raw:
        check_sql(str(raw["sql"]), where, path)
    mp = raw.get("map", {})
    if not isinstance(mp, dict):
        raise UserError(f"{path}: {where}.map must be a table of source value = canonical value")
    return Field(
        column=raw.get("column"),
        value=None if raw.get("value") is None else str(raw["value"]),
        sql=raw.get("sql"),
        map={str(k): (None if v == "" else str(v)) for k, v in mp.items()},
        unmapped=unmapped,
        default=None if raw.get("default") is None else str(raw["default"]),
        formats=tuple(_as_list(raw.get("format"))),
        when_closed=bool(raw.get("when_closed", False)),
        optional=bool(raw.get("optional", False)),
        split=None if not raw.get("split") else str(raw["split"]),
    )


#: Functions a mapping's ``sql`` / ``filter`` may not call: they read files, the
#: environment or the database's own state. (The staging database also has file access
#: switched off once the files are read; this check gives the clear message.)
_FORBIDDEN_FUNCTIONS = re.compile(
    r"^(read_.*|.*_scan|parquet_.*|sniff_csv|glob|query|query_table|getenv|st_read.*|"
    r"load|install|pragma_.*|duckdb_.*|current_setting|which_secret|json_execute_serialized_sql)$"
)


def check_sql(expr: str, where: str, path: Path) -> None:
    """Refuse a mapping expression that is more than an expression over the row.

    A mapping file is code: an ``sql`` expression runs in the import. It may use
    DuckDB's scalar functions on the source columns, but not subqueries, tables or
    functions that read files (``read_text``, ``read_csv``, ``glob``, …).
    """
    import sqlglot
    from sqlglot import exp

    bad = UserError(
        f"{path}: {where}: sql may only be an expression over the row's columns: {expr!r}",
        hint="no subqueries, tables or file readers (read_text, read_csv, glob, …); "
        "to use another file of the source, declare a lookup (docs/import.md)",
    )
    try:
        trees = sqlglot.parse(f"SELECT ({expr})", read="duckdb")
    except sqlglot.errors.SqlglotError as exc:
        raise UserError(
            f"{path}: {where}: not a valid SQL expression: {expr!r}",
            hint="a DuckDB expression, e.g. \"concat_ws(' ', FirstName, LastName)\"",
        ) from exc
    if len(trees) != 1 or not isinstance(trees[0], exp.Select):
        raise bad
    root = trees[0]
    if root.args.get("from") or root.args.get("joins") or len(root.expressions) != 1:
        raise bad
    for node in root.walk():
        if node is not root and isinstance(node, exp.Select | exp.Subquery | exp.Table):
            raise bad
        if isinstance(node, exp.Func):
            name = (node.name if isinstance(node, exp.Anonymous) else node.sql_name()).lower()
            if _FORBIDDEN_FUNCTIONS.match(name) or isinstance(node, exp.ReadCSV):
                raise UserError(
                    f"{path}: {where}: sql may not call {name}(): {expr!r}",
                    hint="mapping expressions cannot read files; "
                    "declare a lookup to use another file of the source (docs/import.md)",
                )


def _pipeline(raw: dict[str, Any], path: Path) -> Pipeline:
    _check_keys("[pipeline]", raw, {"id", "name", "stages"}, path)
    pid = str(raw.get("id", "default"))
    stages: list[Stage] = []
    seen: set[str] = set()
    for i, st in enumerate(_as_list(raw.get("stages")), start=1):
        if isinstance(st, str):
            st = {"name": st}
        _check_keys(f"[pipeline] stage {i}", st, _STAGE_KEYS, path)
        if "name" not in st:
            raise UserError(f"{path}: [pipeline] stage {i} has no name")
        outcome = st.get("outcome")
        if outcome not in (None, *DEAL_OUTCOMES):
            raise UserError(f"{path}: stage {st['name']!r}: outcome must be 'won' or 'lost'")
        prob = st.get("probability")
        if prob is not None and not 0 <= float(prob) <= 1:
            raise UserError(
                f"{path}: stage {st['name']!r}: probability {prob} is not between 0 and 1",
                hint="write probabilities as fractions: 0.2, not 20",
            )
        sid = str(st.get("id", slug(st["name"])))
        if sid in seen:
            raise UserError(f"{path}: two stages have the id {sid!r}", hint="give them an id")
        seen.add(sid)
        stages.append(
            Stage(
                name=str(st["name"]),
                stage_id=sid,
                order=int(st.get("order", i)),
                probability=None if prob is None else float(prob),
                outcome=outcome,
                aliases=tuple(str(a) for a in _as_list(st.get("aliases"))),
                required=st.get("required"),
            )
        )
    if not stages:
        raise UserError(f"{path}: [pipeline] has no stages", hint="list them in stages = [...]")
    return Pipeline(pid, str(raw.get("name", pid)), tuple(stages))


def _resolve_files(spec: dict[str, Any], data_dir: Path, where: str, path: Path) -> list[Path]:
    names = _as_list(spec.get("files")) + _as_list(spec.get("file"))
    if not names:
        raise UserError(f"{path}: {where} has no file", hint='add file = "export.csv"')
    out: list[Path] = []
    for n in names:
        p = Path(str(n)).expanduser()
        p = p if p.is_absolute() else data_dir / p
        if any(ch in p.name for ch in "*?["):
            out.extend(sorted(p.parent.glob(p.name)))
        elif not p.exists() and p.parent.is_dir():  # Account.csv vs account.csv
            same = [x for x in p.parent.iterdir() if x.name.lower() == p.name.lower()]
            out.append(same[0] if same else p)
        else:
            out.append(p)
    return out


def load_mapping(path: str | Path, data_dir: str | Path | None = None) -> Mapping:
    """Read, merge with its preset, and check the mapping file at ``path``.

    Paths of files in the mapping are relative to ``data_dir`` when given (``--data-dir``),
    else to the mapping's own ``data_dir`` key (itself relative to the mapping file), else to
    the folder of the mapping file.
    """
    path = Path(path).expanduser()
    if not path.is_file():
        raise UserError(f"mapping file not found: {path}", hint="see docs/import.md")
    try:
        raw = tomllib.loads(path.read_text("utf-8"))
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
        raise UserError(f"{path}: not a valid TOML file: {exc}", hint="see docs/import.md") from exc
    _check_keys("the mapping", raw, _TOP_KEYS, path)
    if "preset" in raw:
        raw = _merge(
            load_preset(str(raw["preset"])), {k: v for k, v in raw.items() if k != "preset"}
        )
        _check_keys("the preset", raw, _TOP_KEYS, path)
    if data_dir is not None:
        base = Path(data_dir).expanduser()
    elif "data_dir" in raw:
        base = Path(str(raw["data_dir"])).expanduser()
        base = base if base.is_absolute() else path.parent / base
    else:
        base = path.parent
    base = base.resolve()
    fmt = _format(raw.get("format", {}), Format(), "[format]", path)
    default_tz = _timezone(raw.get("timezone"), "timezone", path)
    currency = raw.get("currency")
    pipeline = _pipeline(raw["pipeline"], path) if "pipeline" in raw else None
    history = raw.get("history", {})
    _check_keys("[history]", history, _HISTORY_KEYS, path)
    refs = raw.get("unknown_references", {})
    for k, v in refs.items():
        if k not in TABLES_BY_NAME:
            raise UserError(
                f"{path}: unknown table {k!r} in [unknown_references]",
                hint=_closest(k, TABLES_BY_NAME),
            )
        if v not in REFERENCE_ACTIONS:
            raise UserError(
                f"{path}: [unknown_references] {k} = {v!r}", hint="use error, empty or create"
            )
        if v == "create" and k not in CREATABLE:
            raise UserError(
                f"{path}: cannot create placeholder {k}",
                hint="create works for " + ", ".join(CREATABLE),
            )

    checks = _checks(raw.get("checks", {}), path)
    sources: list[Source] = []
    skipped: list[str] = []
    for name, spec in raw.get("sources", {}).items():
        where = f"[sources.{name}]"
        if not isinstance(spec, dict):
            raise UserError(f"{path}: {where} must be a table")
        _check_keys(where, spec, _SOURCE_KEYS, path)
        if spec.get("skip"):
            continue
        tname = spec.get("table", name)
        if tname not in TABLES_BY_NAME or tname == "pipelines":
            raise UserError(
                f"{path}: {where} fills unknown table {tname!r}",
                hint='set table = "..." to a canonical table: ' + _closest(tname, TABLES_BY_NAME),
            )
        if tname == "stages":
            raise UserError(f"{path}: {where}: stages come from [pipeline], not from a file")
        files = _resolve_files(spec, base, where, path)
        optional = bool(spec.get("optional", False))
        missing = [f for f in files if not f.is_file()]
        if missing or not files:
            if optional:
                skipped.append(name)
                continue
            shown = missing[0] if missing else (base / str(spec.get("file", spec.get("files"))))
            raise UserError(
                f"{path}: {where}: file not found: {shown}",
                hint="paths are relative to the mapping file's data_dir (or --data-dir)",
            )
        if spec.get("filter") is not None:
            check_sql(str(spec["filter"]), f"{where} filter", path)
        t = TABLES_BY_NAME[tname]
        cols_raw = spec.get("columns", {})
        columns: dict[str, Field] = {}
        for cname, fraw in cols_raw.items():
            if cname not in t.column_names:
                raise UserError(
                    f"{path}: {where}: table {tname} has no field {cname!r}",
                    hint=_closest(cname, t.column_names),
                )
            if fraw is False or fraw == "":
                continue  # a preset field switched off
            columns[cname] = _field(fraw, f"{where} {cname}", path)
        src_fmt = _format(spec.get("format", {}), fmt, f"{where}.format", path)
        sources.append(
            Source(
                name=name,
                table=tname,
                files=tuple(files),
                columns=columns,
                format=src_fmt,
                optional=optional,
                stage_date_columns=spec.get("stage_date_columns"),
                filter=spec.get("filter"),
                distinct=bool(spec.get("distinct", False)),
                lookups=_lookups(spec.get("lookup", {}), base, src_fmt, where, path),
                timezone=_timezone(spec["timezone"], f"{where} timezone", path)
                if "timezone" in spec
                else default_tz,
                attributes=_attributes(spec.get("attributes", {}), tname, where, path),
                on_duplicate=_on_duplicate(spec.get("on_duplicate", "error"), where, path),
            )
        )
    if not sources:
        raise UserError(f"{path}: the mapping has no sources", hint="add a [sources.deals] table")
    if any(s.table in ("deals", "deal_stage_history") for s in sources) and pipeline is None:
        raise UserError(
            f"{path}: deals need a [pipeline] with its stages",
            hint="list the stage names your CRM uses in [pipeline] stages = [...]",
        )
    return Mapping(
        path=path,
        data_dir=base,
        sources=tuple(sources),
        pipeline=pipeline,
        currency=None if currency is None else str(currency),
        as_of=None if raw.get("as_of") is None else str(raw["as_of"]),
        snapshots=history.get("snapshots"),
        current_stage=bool(history.get("current_stage", False)),
        unknown_references=dict(refs),
        skipped=tuple(skipped),
        checks=checks,
        settings=_settings(raw.get("settings", {}), path),
    )


def _settings(raw: Any, path: Path) -> dict[str, Any]:
    from salespulse.settings import check_settings

    if not isinstance(raw, dict):
        raise UserError(f'{path}: [settings] must be a table, e.g. reporting_currency = "USD"')
    return check_settings(raw, f"{path} [settings]") if raw else {}


def _on_duplicate(value: Any, where: str, path: Path) -> str:
    if value not in ("error", "last"):
        raise UserError(f"{path}: {where} on_duplicate = {value!r}", hint="use error or last")
    return str(value)


def _timezone(value: Any, where: str, path: Path) -> str | None:
    if value is None or value in ("UTC", "utc", "Etc/UTC"):
        return None
    from zoneinfo import ZoneInfo, ZoneInfoNotFoundError, available_timezones

    try:
        ZoneInfo(str(value))
    except (ZoneInfoNotFoundError, ValueError) as exc:
        raise UserError(
            f"{path}: {where}: unknown time zone {value!r}",
            hint=_closest(str(value), available_timezones())
            + " (IANA names like Europe/Amsterdam)",
        ) from exc
    return str(value)


def _lookups(raw: Any, base: Path, fmt: Format, where: str, path: Path) -> tuple[Lookup, ...]:
    if not isinstance(raw, dict):
        raise UserError(f"{path}: {where}.lookup must be a table of lookups")
    out: list[Lookup] = []
    for name, spec in raw.items():
        lw = f"{where}.lookup.{name}"
        if not isinstance(spec, dict):
            raise UserError(f'{path}: {lw} must be a table: file = "...", key = "...", on = "..."')
        if not re.match(r"^[A-Za-z_][A-Za-z0-9_]*$", name):
            raise UserError(f"{path}: {lw}: a lookup name is a plain word", hint='e.g. "lead"')
        _check_keys(lw, spec, _LOOKUP_KEYS, path)
        for k in ("file", "key", "on"):
            if not isinstance(spec.get(k), str) or not spec[k]:
                raise UserError(
                    f"{path}: {lw} needs {k}",
                    hint='file = "leads.csv", key = "<its id column>", on = "<column here>"',
                )
        files = _resolve_files({"file": spec["file"]}, base, lw, path)
        if len(files) != 1 or not files[0].is_file():
            raise UserError(
                f"{path}: {lw}: file not found: {files[0] if files else spec['file']}",
                hint="paths are relative to the mapping file's data_dir (or --data-dir)",
            )
        out.append(
            Lookup(
                name=name,
                file=files[0],
                key=spec["key"],
                on=spec["on"],
                format=_format(spec.get("format", {}), fmt, f"{lw}.format", path),
            )
        )
    return tuple(out)


def _attributes(raw: Any, table: str, where: str, path: Path) -> dict[str, Field]:
    if not raw:
        return {}
    if not isinstance(raw, dict):
        raise UserError(f'{path}: {where}.attributes must be a table: name = "column"')
    if table not in ATTRIBUTE_TABLES:
        raise UserError(
            f"{path}: {where}: custom attributes are for {', '.join(ATTRIBUTE_TABLES)}, not {table}"
        )
    own = TABLES_BY_NAME[table].column_names
    out: dict[str, Field] = {}
    for name, fraw in raw.items():
        if not _ATTRIBUTE_NAME.match(name):
            raise UserError(
                f"{path}: {where}.attributes: {name!r} is not a valid attribute name",
                hint="lower case letters, digits and _, starting with a letter (lead_type)",
            )
        if name in own:
            raise UserError(
                f"{path}: {where}.attributes: {name!r} is a field of {table}",
                hint=f"map it under [{where[1:-1]}.columns] instead",
            )
        if fraw is False or fraw == "":
            continue
        out[name] = _field(fraw, f"{where}.attributes {name}", path)
    return out


def _checks(raw: dict[str, Any], path: Path) -> Checks:
    _check_keys("[checks]", raw, _CHECK_KEYS, path)
    base = Checks()
    earliest = raw.get("earliest_date", base.earliest_date)
    if isinstance(earliest, str):
        try:
            earliest = date.fromisoformat(earliest)
        except ValueError:
            earliest = None
    if not isinstance(earliest, date):
        raise UserError(f"{path}: [checks] earliest_date must be a date", hint='e.g. "1990-01-01"')
    ahead = raw.get("max_years_ahead", base.max_years_ahead)
    if not isinstance(ahead, int) or isinstance(ahead, bool) or not 0 <= ahead <= 1000:
        raise UserError(
            f"{path}: [checks] max_years_ahead must be a whole number of years", hint="e.g. 10"
        )
    return Checks(earliest, ahead)
