"""Source rows → canonical rows, in SQL on the DuckDB staging database.

For each source the mapping's fields become SQL expressions over the (all-text) staging
table: first the *raw* text (column, constant or expression; value map; default), then the
*parsed* value of the canonical type (numbers with the source's decimal mark, dates in the
source's formats, booleans, stage lookup). Every check — unparsable values, missing
required values, unknown stages, values outside the allowed set, negative money — is a SQL
condition: one pass counts them all, and only conditions that hit list their rows.
Rows with a problem are left out of the canonical result (and counted as rejected).
"""

from __future__ import annotations

import difflib
import functools
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import date
from typing import Any

import duckdb

from salespulse.ingest.mapping import Field, Format, Mapping, Source
from salespulse.ingest.readers import ReadResult, ident, sql_str
from salespulse.ingest.validate import NON_NEGATIVE, ImportProblem
from salespulse.warehouse.schema import BILLING_MONTHS, TABLES_BY_NAME, Column

STAGE_FIELDS = {("deals", "stage_id"), ("deal_stage_history", "stage_id")}

#: Canonical values accepted for a few coded fields, besides the exact ones.
SYNONYMS: dict[str, dict[str, str]] = {
    "activity_type": {
        "e-mail": "email",
        "mail": "email",
        "emails": "email",
        "calls": "call",
        "meetings": "meeting",
        "tasks": "task",
        "notes": "note",
        "phone": "call",
        "phone call": "call",
        "event": "meeting",
    },
    "direction": {
        "outgoing": "outbound",
        "incoming": "inbound",
        "out": "outbound",
        "in": "inbound",
    },
    "outcome": {"closed won": "won", "closed lost": "lost", "no answer": "no_answer"},
    "billing_period": {
        "monthly": "month",
        "quarterly": "quarter",
        "yearly": "year",
        "annual": "year",
        "annually": "year",
    },
}


@dataclass
class Check:
    """A SQL condition that marks a row as having a problem."""

    condition: str
    column: str | None
    problem: str  # may contain {value}
    hint: str | None
    value_sql: str = "NULL"
    hint_for: Callable[[str | None], str] | None = None  # a hint that depends on the value


@dataclass
class Staged:
    """A source's canonical rows, in staging table ``out``."""

    source: Source
    out: str
    labels: dict[str, str]  # canonical field → source column (for messages)
    rows_in: int
    history: str | None = None  # deal_stage_history rows from "date entered" columns
    rejected: int = 0
    attributes: str | None = None  # custom_attributes rows of the source's records
    checks: list[Check] = field(default_factory=list)


def _num(raw: str, fmt: Format) -> str:
    """A number from text; NaN, infinity and overflowing values (1e400) are not numbers."""
    x = f"regexp_replace({raw}, '[\\s\u00a0€$£]', '', 'g')"
    if fmt.thousands:
        x = f"replace({x}, {sql_str(fmt.thousands)}, '')"
    if fmt.decimal == ",":
        x = f"replace({x}, ',', '.')"
    v = f"TRY_CAST({x} AS DOUBLE)"
    return f"(CASE WHEN isfinite({v}) THEN {v} END)"


_THOUSANDS = {
    ",": re.compile(r"^[-+]?\d{1,3}(,\d{3})+(\.\d+)?$"),
    ".": re.compile(r"^[-+]?\d{1,3}(\.\d{3})+(,\d+)?$"),
}


def number_hint(value: str | None, fmt: Format) -> str:
    """What to do about a value that is not a number in this format."""
    text = re.sub(r"[\s\u00a0€$£]", "", value or "")
    if re.match(r"^[-+]?(nan|inf(inity)?)$", text, re.IGNORECASE):
        return "NaN and infinity are not amounts: fix the value or leave the cell empty"
    if re.match(r"^[-+]?[\d.,]*[eE][-+]?\d+$", text):
        return "the number is too large (beyond ±1.8e308): fix the value"
    for sep, rx in _THOUSANDS.items():
        if rx.match(text) and fmt.thousands != sep:
            other = "." if sep == "," else ","
            extra = f' and format.decimal = "{other}"' if fmt.decimal != other else ""
            return f'set format.thousands = "{sep}"{extra} for numbers like {value!r}'
    if "," in text and fmt.decimal != ",":
        return 'set format.decimal = "," for decimal commas, or fix the value'
    return "fix the value"


_ISO_DATE = r"^\d{4}-\d{1,2}-\d{1,2}$"
_OFFSET = r"\d[ T]?\d{1,2}:\d{2}(:\d{2}(\.\d+)?)?\s*(Z|[+-]\d{2}(:?\d{2})?)$"
#: A date-only value in a timestamp field is stored at this hour UTC: it stays on its
#: calendar day in every reporting time zone from UTC-12 to UTC+11.
DATE_ONLY_HOUR = 12


def _has_time(fmt: str) -> bool:
    return any(d in fmt for d in ("%H", "%I", "%M", "%S", "%X", "%c", "%T"))


def _timestamp(raw: str, formats: tuple[str, ...], tz: str | None = None) -> str:
    """An instant in UTC from text.

    Values with an offset (``Z``, ``+02:00``) are converted with it; other times are
    wall-clock times in ``tz`` (the source's time zone; None = UTC). A date without a time
    is a calendar day, not an instant: it is stored at ``DATE_ONLY_HOUR``:00 UTC.
    """

    def local(x: str) -> str:
        return x if tz is None else f"timezone('UTC', timezone({sql_str(tz)}, {x}))"

    noon = f"INTERVAL {DATE_ONLY_HOUR} HOUR"
    parts = [
        f"TRY_STRPTIME({raw}, {sql_str(f)}) + {noon}"
        if not _has_time(f)
        else local(f"TRY_STRPTIME({raw}, {sql_str(f)})")
        for f in formats
    ]
    parts.append(
        f"CASE WHEN regexp_matches({raw}, {sql_str(_ISO_DATE)}) "
        f"THEN CAST(TRY_CAST({raw} AS DATE) AS TIMESTAMP) + {noon} END"
    )
    parts.append(
        f"CASE WHEN regexp_matches({raw}, {sql_str(_OFFSET)}) "
        f"THEN timezone('UTC', TRY_CAST({raw} AS TIMESTAMPTZ)) END"
    )
    parts.append(local(f"TRY_CAST({raw} AS TIMESTAMP)"))
    return f"COALESCE({', '.join(parts)})"


def _date(raw: str, formats: tuple[str, ...]) -> str:
    """A calendar date from text, as written (no time-zone conversion)."""
    parts = [f"CAST(TRY_STRPTIME({raw}, {sql_str(f)}) AS DATE)" for f in formats]
    parts.append(f"CAST(TRY_CAST({raw} AS TIMESTAMP) AS DATE)")
    return parts[0] if len(parts) == 1 else f"COALESCE({', '.join(parts)})"


def _parse(raw: str, col: Column, fmt: Format, f: Field | None, tz: str | None = None) -> str:
    formats = (f.formats if f and f.formats else ()) or fmt.date_formats
    if col.dtype == "string":
        return raw
    if col.dtype == "float64":
        return _num(raw, fmt)
    if col.dtype == "int64":
        return f"CAST(round({_num(raw, fmt)}) AS BIGINT)"
    if col.dtype == "timestamp":
        return _timestamp(raw, formats, tz)
    if col.dtype == "date":
        return _date(raw, formats)
    if col.dtype == "boolean":
        t = ", ".join(sql_str(v) for v in fmt.true_values)
        fl = ", ".join(sql_str(v) for v in fmt.false_values)
        return (
            f"CASE WHEN lower({raw}) IN ({t}) THEN true WHEN lower({raw}) IN ({fl}) THEN false END"
        )
    raise AssertionError(col.dtype)


def _expected(col: Column, fmt: Format, f: Field | None) -> str:
    formats = (f.formats if f and f.formats else ()) or fmt.date_formats
    if col.dtype in ("date", "timestamp"):
        shown = " or ".join(
            x.replace("%d", "dd")
            .replace("%m", "mm")
            .replace("%Y", "yyyy")
            .replace("%H", "HH")
            .replace("%M", "MM")
            .replace("%S", "SS")
            for x in formats
        )
        return f"a date ({shown or 'yyyy-mm-dd'})"
    if col.dtype in ("float64", "int64"):
        return f"a number (decimal mark {fmt.decimal!r})"
    if col.dtype == "boolean":
        return "yes/no (1/0, true/false)"
    return "text"


def _fmt_hint(col: Column, fmt: Format) -> str:
    if col.dtype in ("date", "timestamp"):
        return 'set format.date_format (e.g. "%d-%m-%Y") or fix the value'
    if col.dtype in ("float64", "int64"):
        return 'set format.decimal = "," for decimal commas, or fix the value'
    return "fix the value"


class Stager:
    """Builds canonical staging tables from read sources, collecting problems."""

    def __init__(
        self, con: duckdb.DuckDBPyConnection, mapping: Mapping, today: date | None = None
    ) -> None:
        self.con = con
        self.mapping = mapping
        self.today = today or date.today()
        c = mapping.checks
        self.earliest = c.earliest_date
        self.latest = _add_years(self.today, c.max_years_ahead)
        self.problems: list[ImportProblem] = []
        self.warnings: list[ImportProblem] = []
        p = mapping.pipeline
        self.stage_ids = [s.stage_id for s in p.stages] if p else []
        self.closed = [s.stage_id for s in p.stages if s.outcome] if p else []
        self.won = [s.stage_id for s in p.stages if s.outcome == "won"] if p else []
        self.lost = [s.stage_id for s in p.stages if s.outcome == "lost"] if p else []

    # -- helpers -----------------------------------------------------------------------
    def q(self, sql: str) -> list[tuple[Any, ...]]:
        return self.con.execute(sql).fetchall()

    def _stage_lookup(self, raw: str) -> str:
        assert self.mapping.pipeline is not None
        whens = []
        for s in self.mapping.pipeline.stages:
            for label in {s.name, s.stage_id, *s.aliases}:
                whens.append(f"WHEN {sql_str(label.strip().lower())} THEN {sql_str(s.stage_id)}")
        return f"(CASE lower({raw}) {' '.join(whens)} END)"

    def stage_of(self, label: str) -> str | None:
        """The stage id for a stage name as it appears in a column header."""
        assert self.mapping.pipeline is not None
        key = label.strip().lower()
        for s in self.mapping.pipeline.stages:
            if key in {x.strip().lower() for x in (s.name, s.stage_id, *s.aliases)}:
                return s.stage_id
        return None

    @staticmethod
    def _resolve(name: str, columns: tuple[str, ...]) -> str | None:
        if name in columns:
            return name
        norm = {c.strip().lower(): c for c in columns}
        return norm.get(name.strip().lower())

    def _nulls(self, expr: str, fmt: Format) -> str:
        x = f"NULLIF(TRIM({expr}), '')"
        if fmt.null_values:
            vals = ", ".join(sql_str(v) for v in fmt.null_values)
            x = f"(CASE WHEN TRIM({expr}) IN ({vals}) THEN NULL ELSE {x} END)"
        return x

    # -- one source --------------------------------------------------------------------
    def stage(
        self,
        src: Source,
        reads: list[ReadResult],
        lookups: dict[str, ReadResult] | None = None,
    ) -> Staged | None:
        """Canonical rows of ``src`` in a staging table; ``None`` if the source is unusable.

        ``lookups`` are the read files of the source's lookups, by lookup name.
        """
        t = TABLES_BY_NAME[src.table]
        fmt = src.format
        before = len(self.problems)
        lookups = lookups or {}
        lk_cols = tuple(f"{lk.name}.{c}" for lk in src.lookups for c in lookups[lk.name].columns)
        # mapped columns must exist in every file of the source (or in its lookups)
        fields = [
            *src.columns.items(),
            *(("attributes." + k, v) for k, v in src.attributes.items()),
        ]
        for rd in reads:
            have = rd.columns + lk_cols
            for cname, fd in fields:
                if (
                    fd.column is not None
                    and not fd.optional
                    and self._resolve(fd.column, have) is None
                ):
                    near = difflib.get_close_matches(fd.column, have, n=1, cutoff=0.6)
                    self.problems.append(
                        ImportProblem(
                            str(rd.path),
                            1,
                            fd.column,
                            f"missing column {fd.column!r} (mapped to {src.table}.{cname})",
                            f"did you mean {near[0]!r}?"
                            if near
                            else "the file has: " + ", ".join(have[:30]),
                        )
                    )
            for lk in src.lookups:
                if self._resolve(lk.on, rd.columns) is None:
                    self.problems.append(
                        ImportProblem(
                            str(rd.path),
                            1,
                            lk.on,
                            f"missing column {lk.on!r} (the key of lookup {lk.name!r})",
                            f"set on = ... in [sources.{src.name}.lookup.{lk.name}]",
                        )
                    )
        for lk in src.lookups:
            lrd = lookups[lk.name]
            if self._resolve(lk.key, lrd.columns) is None:
                near = difflib.get_close_matches(lk.key, lrd.columns, n=1, cutoff=0.6)
                self.problems.append(
                    ImportProblem(
                        str(lrd.path),
                        1,
                        lk.key,
                        f"missing column {lk.key!r} (the key of lookup {lk.name!r})",
                        f"did you mean {near[0]!r}?"
                        if near
                        else "the file has: " + ", ".join(lrd.columns[:30]),
                    )
                )
        for c in t.columns:
            if (
                not c.nullable
                and c.name not in src.columns
                and self._default_raw(src.table, c.name) is None
                and not (c.name == "value" and self._derives_value(src))
            ):
                self.problems.append(
                    ImportProblem(
                        str(self.mapping.path),
                        None,
                        c.name,
                        f"[sources.{src.name}] does not fill the required field "
                        f"{src.table}.{c.name}",
                        f'add {c.name} = "<column>" to [sources.{src.name}.columns]',
                    )
                )
        if len(self.problems) > before:
            return None
        union = " UNION ALL BY NAME ".join(
            f"SELECT {sql_str(str(rd.path))} AS _file, rowid + 2 AS _row, * FROM {ident(rd.table)}"
            for rd in reads
        )
        cols_all = reads[0].columns
        if src.lookups:
            union = self._join_lookups(src, union, cols_all, lookups)
            cols_all = cols_all + lk_cols

        # 1. raw text of every field (column / value / sql, value map, default)
        raw: dict[str, str] = {}
        labels: dict[str, str] = {}
        checks: list[Check] = []
        for c in t.columns:
            f: Field | None = src.columns.get(c.name)
            label = c.name
            if f is None:
                r = self._default_raw(src.table, c.name)
                if r is None:
                    continue
            else:
                r, label = self._field_raw(f, c.name, src, cols_all, raw, checks)
            if c.name in SYNONYMS and c.allowed:
                syn = " ".join(
                    f"WHEN {sql_str(k)} THEN {sql_str(v)}"
                    for k, v in SYNONYMS[c.name].items()
                    if v in c.allowed
                )
                r = f"(CASE lower({r}) {syn} ELSE lower({r}) END)"
            labels[c.name] = label
            raw[c.name] = r
        for aname, f in src.attributes.items():
            r, label = self._field_raw(f, "a_" + aname, src, cols_all, raw, checks)
            labels["a_" + aname] = label
            raw["a_" + aname] = r
        hist_cols: dict[str, str] = {}  # stage id -> source column with its entry date
        if src.stage_date_columns and src.table == "deals" and self.mapping.pipeline:
            rx = re.compile(src.stage_date_columns)
            for colname in cols_all:
                m = rx.match(colname)
                if m:
                    sid = self.stage_of(m.groupdict().get("stage") or m.group(1))
                    if sid is not None and sid not in hist_cols:
                        hist_cols[sid] = colname
        for sid, colname in hist_cols.items():
            raw["h_" + sid] = self._nulls(ident(colname), fmt)
            labels["h_" + sid] = colname

        # 2. parsed value of every field, from its raw text column r_<field>
        parsed: dict[str, str] = {}
        for cname in raw:
            if cname.startswith(("o_", "a_")):
                continue
            rc = ident("r_" + cname)
            label = labels[cname]
            if cname.startswith("h_"):
                col = TABLES_BY_NAME["deal_stage_history"].column("entered_at")
                f = None
            else:
                col = t.column(cname)
                f = src.columns.get(cname)
            if (src.table, cname) in STAGE_FIELDS and self.mapping.pipeline is not None:
                p = self._stage_lookup(rc)
                known = ", ".join(s.name for s in self.mapping.pipeline.stages)
                checks.append(
                    Check(
                        f"{rc} IS NOT NULL AND {ident(cname)} IS NULL",
                        label,
                        "unknown stage {value}",
                        f"add it to [pipeline] stages (or as an alias); known: {known}",
                        rc,
                    )
                )
            else:
                p = _parse(rc, col, fmt, f, src.timezone)
                if col.dtype != "string":
                    numeric = col.dtype in ("float64", "int64")
                    checks.append(
                        Check(
                            f"{rc} IS NOT NULL AND {ident(cname)} IS NULL",
                            label,
                            "cannot read {value} as " + _expected(col, fmt, f),
                            _fmt_hint(col, fmt),
                            rc,
                            functools.partial(number_hint, fmt=fmt) if numeric else None,
                        )
                    )
                if col.dtype in ("date", "timestamp"):
                    lo, hi = self.earliest.isoformat(), self.latest.isoformat()
                    v = ident(cname)
                    checks.append(
                        Check(
                            f"{v} < DATE {sql_str(lo)} OR {v} >= DATE {sql_str(hi)} + 1",
                            label,
                            f"implausible date {{value}} (outside {lo} … {hi})",
                            "fix the value (or the date format); if it is right, widen "
                            "[checks] earliest_date / max_years_ahead in the mapping",
                            rc,
                        )
                    )
            parsed[cname] = p

        # 3. derived fields of deals: outcome from the stage, fields kept only when closed
        derived: dict[str, str] = {}
        if src.table == "deals" and self.mapping.pipeline is not None and "stage_id" in parsed:
            if "outcome" not in src.columns:
                derived["outcome"] = self._outcome_of("stage_id")
            for cname, f in src.columns.items():
                if f.when_closed:
                    derived[cname] = (
                        f"(CASE WHEN {self._in('stage_id', self.closed)} THEN {ident(cname)} END)"
                    )
        if self._derives_value(src) and {"start_on", "billing_period"} <= set(parsed):
            derived["value"] = _subscription_value()
        for cname, f in src.columns.items():
            if f.when_closed and src.table != "deals":
                self.problems.append(
                    ImportProblem(
                        str(self.mapping.path), None, cname, "when_closed only works for deals"
                    )
                )
                return None

        # 4. rules on the parsed values
        final = [c for c in t.columns if c.name in parsed or c.name in derived]
        for c in final:
            v = ident(c.name)
            lab = labels.get(c.name, c.name)
            if c.name not in parsed:  # derived only: the subscription's total value
                v = ident("d_" + c.name)
                if not c.nullable:
                    checks.append(
                        Check(
                            f"{v} IS NULL",
                            labels.get("recurring_amount", "recurring_amount"),
                            f"cannot derive {src.table}.{c.name}: a subscription needs "
                            "recurring_amount, billing_period and start_on",
                            "fill them in, or map value (the total over the term)",
                        )
                    )
            elif not c.nullable:
                checks.append(
                    Check(
                        f"{v} IS NULL AND {ident('r_' + c.name)} IS NULL",
                        lab,
                        f"missing value for {src.table}.{c.name} (required)",
                        "fill it in, or give the field a default in the mapping",
                    )
                )
            if c.allowed and c.name not in derived:
                allowed = ", ".join(sql_str(a) for a in c.allowed)
                checks.append(
                    Check(
                        f"{v} IS NOT NULL AND {v} NOT IN ({allowed})",
                        lab,
                        "{value} is not one of: " + ", ".join(c.allowed),
                        f"map the source values with map = {{ ... }} on {c.name}",
                        v,
                    )
                )
            if c.name in NON_NEGATIVE.get(src.table, ()):
                checks.append(
                    Check(
                        f"{v} < 0",
                        lab,
                        "negative value {value} for " + c.name,
                        "amounts and counts cannot be negative; fix the value",
                        f"CAST({v} AS VARCHAR)",
                    )
                )

        # materialize: raw text, then parsed values, then derived values
        stg = f"_stg_{src.name}"
        raw_sel = ", ".join(
            f"{r} AS {ident(k if k.startswith('o_') else 'r_' + k)}" for k, r in raw.items()
        )
        parsed_sel = ", ".join(f"{p} AS {ident(k)}" for k, p in parsed.items())
        where = f" WHERE {src.filter}" if src.filter else ""
        try:
            self.con.execute(
                f"CREATE TEMP TABLE {ident(stg + '_raw')} AS SELECT _file, _row, {raw_sel} "
                f"FROM ({union}){where}"
            )
            sql = f"SELECT *, {parsed_sel} FROM {ident(stg + '_raw')}"
            if derived:
                extra = ", ".join(f"{e} AS {ident('d_' + k)}" for k, e in derived.items())
                sql = f"SELECT *, {extra} FROM ({sql})"
            self.con.execute(f"CREATE TEMP TABLE {ident(stg)} AS {sql}")
            self.con.execute(f"DROP TABLE {ident(stg + '_raw')}")
        except duckdb.Error as exc:
            self._file_problem(
                reads,
                f"a field expression or filter fails: {str(exc).splitlines()[0]}",
                "check sql = ... and filter = ... in the mapping",
            )
            return None
        bad_conds = self._run_checks(stg, checks)

        out = f"_out_{src.name}"
        keep = ", ".join(
            f"{ident('d_' + c.name)} AS {ident(c.name)}" if c.name in derived else ident(c.name)
            for c in final
        )
        bad = " OR ".join(f"coalesce({b}, false)" for b in bad_conds) or "false"
        self.con.execute(
            f"CREATE TEMP TABLE {ident(out)} AS SELECT _file, _row, {sql_str(src.name)} AS _src, "
            f"{keep} FROM {ident(stg)} WHERE NOT ({bad})"
        )
        rows_out = int(self.q(f"SELECT count(*) FROM {ident(out)}")[0][0])
        if src.on_duplicate == "last":
            pk = ", ".join(ident(k) for k in t.primary_key)
            self.con.execute(
                f"CREATE OR REPLACE TEMP TABLE {ident(out)} AS SELECT * FROM {ident(out)} "
                f"QUALIFY row_number() OVER (PARTITION BY {pk} ORDER BY _file DESC, _row DESC) = 1"
            )
        names = ", ".join(ident(c.name) for c in final)
        if src.distinct:
            self.con.execute(
                f"CREATE OR REPLACE TEMP TABLE {ident(out)} AS SELECT * FROM {ident(out)} "
                f"QUALIFY row_number() OVER (PARTITION BY {names} ORDER BY _file, _row) = 1"
            )
        rows_in = int(self.q(f"SELECT count(*) FROM {ident(stg)}")[0][0])

        history = None
        if hist_cols:
            history = f"_hist_{src.name}"
            parts = [
                f"SELECT _file, _row, _src, o.deal_id, {sql_str(sid)} AS stage_id, "
                f"{ident('h_' + sid)} AS entered_at FROM {ident(stg)} JOIN {ident(out)} o "
                f"USING (_file, _row) WHERE {ident('h_' + sid)} IS NOT NULL"
                for sid in hist_cols
            ]
            self.con.execute(
                f"CREATE TEMP TABLE {ident(history)} AS SELECT * FROM ({' UNION ALL '.join(parts)})"
            )
        attributes = None
        if src.attributes:
            attributes = f"_attr_{src.name}"
            pk = ident(t.primary_key[0])
            parts = [
                f"SELECT _file, _row, _src, {sql_str(src.table)} AS record_table, "
                f"o.{pk} AS record_id, {sql_str(a)} AS name, {ident('r_a_' + a)} AS value "
                f"FROM {ident(stg)} JOIN {ident(out)} o USING (_file, _row)"
                for a in src.attributes
            ]
            self.con.execute(
                f"CREATE TEMP TABLE {ident(attributes)} AS {' UNION ALL '.join(parts)}"
            )
        self.con.execute(f"DROP TABLE {ident(stg)}")
        self._run_checks(out, self._warning_checks(src, labels), into=self.warnings)
        return Staged(
            src,
            out,
            labels,
            rows_in,
            history,
            rows_in - rows_out,
            checks=checks,
            attributes=attributes,
        )

    def _warning_checks(self, src: Source, labels: dict[str, str]) -> list[Check]:
        """Suspicious but valid values, on the canonical rows ``out`` of ``src``."""
        if src.table != "deals":
            return []
        have = {r[0] for r in self.q(f"DESCRIBE {ident('_out_' + src.name)}")}
        out: list[Check] = []
        if {"created_at", "closed_at"} <= have:
            out.append(
                Check(
                    "closed_at < created_at",
                    labels.get("closed_at", "closed_at"),
                    "the deal was closed ({value}) before it was created",
                    "check the dates; cycle times of this deal will be negative",
                    "CAST(closed_at AS VARCHAR) || ' < ' || CAST(created_at AS VARCHAR)",
                )
            )
        if "closed_at" in have:
            end = sql_str(self.today.isoformat())
            out.append(
                Check(
                    f"closed_at >= DATE {end} + 2",
                    labels.get("closed_at", "closed_at"),
                    "the deal was closed in the future ({value})",
                    "a closed deal's close date is when it was won or lost; check the value "
                    "(or --as-of)",
                    "CAST(closed_at AS VARCHAR)",
                )
            )
        if {"amount", "outcome"} <= have:
            out.append(
                Check(
                    "outcome = 'won' AND amount = 0",
                    labels.get("amount", "amount"),
                    "a won deal with amount {value}",
                    "a won deal of 0 lowers average deal size and win value; leave the amount "
                    "empty if it is unknown",
                    "CAST(amount AS VARCHAR)",
                )
            )
        return out

    def _join_lookups(
        self,
        src: Source,
        union: str,
        cols: tuple[str, ...],
        lookups: dict[str, ReadResult],
    ) -> str:
        """The source rows with each lookup's columns joined on (``name.column``)."""
        fmt = src.format
        select = ["s.*"]
        joins = []
        for i, lk in enumerate(src.lookups):
            rd = lookups[lk.name]
            key = self._resolve(lk.key, rd.columns)
            on = self._resolve(lk.on, cols)
            assert key is not None and on is not None  # checked in stage()
            k = self._nulls(ident(key), lk.format)
            dups = self.q(
                f"SELECT {k}, rowid + 2, first_value(rowid + 2) OVER w FROM {ident(rd.table)} "
                f"WHERE {k} IS NOT NULL WINDOW w AS (PARTITION BY {k} ORDER BY rowid) "
                "QUALIFY row_number() OVER w > 1 ORDER BY rowid"
            )
            for value, row, first in dups:
                self.problems.append(
                    ImportProblem(
                        str(rd.path),
                        int(row),
                        key,
                        f"duplicate key {str(value)!r} in lookup {lk.name!r} (also in row {first})",
                        "a lookup key must identify one row; remove the duplicate",
                    )
                )
            alias = f"_lk{i}"
            joins.append(
                f"LEFT JOIN (SELECT {k} AS _key, * FROM {ident(rd.table)} "
                f"QUALIFY row_number() OVER (PARTITION BY {k} ORDER BY rowid) = 1) {alias} "
                f"ON {alias}._key = {self._nulls('s.' + ident(on), fmt)}"
            )
            select += [f"{alias}.{ident(c)} AS {ident(lk.name + '.' + c)}" for c in rd.columns]
        return f"SELECT {', '.join(select)} FROM ({union}) s {' '.join(joins)}"

    def _field_raw(
        self,
        f: Field,
        name: str,
        src: Source,
        cols_all: tuple[str, ...],
        raw: dict[str, str],
        checks: list[Check],
    ) -> tuple[str, str]:
        """The raw-text SQL of a field (column / value / sql, value map, default), its label."""
        fmt = src.format
        label = name
        if f.column is not None:
            found = self._resolve(f.column, cols_all)
            r = self._nulls(ident(found), fmt) if found is not None else "CAST(NULL AS VARCHAR)"
            label = f.column
        elif f.value is not None:
            r = sql_str(f.value)
        elif f.sql is not None:
            r = self._nulls(f"CAST(({f.sql}) AS VARCHAR)", fmt)
        else:
            r = "CAST(NULL AS VARCHAR)"
        if f.split:
            r = (
                f"NULLIF(TRIM(list_filter(string_split({r}, {sql_str(f.split)}), "
                f"x -> TRIM(x) <> '')[1]), '')"
            )
        if f.map:
            whens = " ".join(
                f"WHEN {sql_str(k.strip().lower())} THEN "
                + ("CAST(NULL AS VARCHAR)" if v is None else sql_str(v))
                for k, v in f.map.items()
            )
            if f.unmapped == "error":
                raw["o_" + name] = r
                keys = ", ".join(sql_str(k.strip().lower()) for k in f.map)
                o = ident("o_" + name)
                checks.append(
                    Check(
                        f"{o} IS NOT NULL AND lower({o}) NOT IN ({keys})",
                        label,
                        "value {value} is not in the field's value map",
                        f"add it to the map of {name.removeprefix('a_')} in [sources.{src.name}."
                        + ("attributes]" if name.startswith("a_") else "columns]"),
                        o,
                    )
                )
            other = "CAST(NULL AS VARCHAR)" if f.unmapped == "empty" else r
            r = f"(CASE lower({r}) {whens} ELSE {other} END)"
        if f.default is not None:
            r = f"COALESCE({r}, {sql_str(f.default)})"
        return r, label

    def _run_checks(
        self, stg: str, checks: list[Check], into: list[ImportProblem] | None = None
    ) -> list[str]:
        """Count every check in one pass; list the rows of those that hit (in ``into``)."""
        into = self.problems if into is None else into
        if not checks:
            return []
        conds = [ch.condition for ch in checks]
        counts = self.q(
            "SELECT "
            + ", ".join(f"count_if(coalesce({c}, false))" for c in conds)
            + f" FROM {ident(stg)}"
        )[0]
        for ch, c, n in zip(checks, conds, counts, strict=True):
            if not n:
                continue
            rows = self.q(
                f"SELECT _file, _row, {ch.value_sql} FROM {ident(stg)} WHERE coalesce({c}, false) "
                "ORDER BY _file, _row"
            )
            for file, row, value in rows:
                shown = "''" if value is None else repr(str(value)[:80])
                hint = ch.hint_for(None if value is None else str(value)) if ch.hint_for else None
                into.append(
                    ImportProblem(
                        file, int(row), ch.column, ch.problem.format(value=shown), hint or ch.hint
                    )
                )
        return conds

    def _file_problem(self, reads: list[ReadResult], text: str, hint: str) -> None:
        self.problems.append(ImportProblem(str(reads[0].path), None, None, text, hint))

    def _in(self, col: str, values: list[str]) -> str:
        if not values:
            return "false"
        return f"{ident(col)} IN ({', '.join(sql_str(v) for v in values)})"

    def _outcome_of(self, st: str) -> str:
        return (
            f"(CASE WHEN {self._in(st, self.won)} THEN 'won' "
            f"WHEN {self._in(st, self.lost)} THEN 'lost' END)"
        )

    @staticmethod
    def _derives_value(src: Source) -> bool:
        """Contracts that give a recurring charge instead of their total value."""
        return (
            src.table == "contracts"
            and "value" not in src.columns
            and {"recurring_amount", "billing_period"} <= set(src.columns)
        )

    def _default_raw(self, table: str, cname: str) -> str | None:
        """Fields a mapping need not fill: pipeline and currency of deals."""
        if table in ("deals",) and cname == "pipeline_id" and self.mapping.pipeline:
            return sql_str(self.mapping.pipeline.pipeline_id)
        if cname == "currency" and self.mapping.currency and table in ("deals", "contracts"):
            return sql_str(self.mapping.currency)
        return None


def _subscription_value() -> str:
    """A subscription's total value: the charge × the billing periods in its term.

    The term runs from ``start_on`` to ``end_on`` inclusive and counts in whole months
    (2024-01-15 … 2025-01-14 is 12 months: 12 monthly or 1 yearly charge). An open-ended
    subscription (no ``end_on``) has no total; it is stored with one year of charges, its
    annual value (as ACV counts open-ended contracts as one year); CLV computes its value to
    date from the charge (``semantic/catalogue/customers.py``).
    """
    k = " ".join(f"WHEN {sql_str(p)} THEN {m}" for p, m in BILLING_MONTHS.items())
    months = "date_diff('month', start_on, CAST(end_on + INTERVAL 1 DAY AS DATE))"
    return (
        f"(recurring_amount * (CASE WHEN end_on IS NULL THEN 12 ELSE {months} END)"
        f" / (CASE billing_period {k} END))"
    )


def _add_years(d: date, years: int) -> date:
    try:
        return d.replace(year=d.year + years)
    except ValueError:  # 29 February
        return d.replace(year=d.year + years, day=28)


def _sqltype(col: Column) -> str:
    return {
        "string": "VARCHAR",
        "int64": "BIGINT",
        "float64": "DOUBLE",
        "boolean": "BOOLEAN",
        "date": "DATE",
        "timestamp": "TIMESTAMP",
    }[col.dtype]
