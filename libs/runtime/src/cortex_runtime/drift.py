"""Projection verify, its database half (docs/audit.md): scratch copies of a projection's tables
and the row-by-row comparison of a live table with its replayed copy, in SQL.

Everything runs in the caller's one REPEATABLE READ transaction: the live tables are read in one
snapshot, the scratch tables are temporary tables created in that transaction, and the caller
rolls it back at the end, so they are gone with it (also when verify is killed half-way).
"""

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import Table, text
from sqlalchemy.dialects import postgresql
from sqlalchemy.ext.asyncio import AsyncConnection
from sqlalchemy.schema import CreateTable

from cortex_contracts.messages.verify import ROW, Difference, TableCheck

SHOWN_CHARS = 300  # a value longer than this is cut in the report (it is compared whole)


async def create_scratch(conn: AsyncConnection, tables: Sequence[Table]) -> None:
    """Temporary copies of `tables` (given in dependency order; name them apart from the live
    ones, e.g. with a suffix): gone when the transaction ends."""
    dialect = postgresql.dialect()
    for table in tables:
        ddl = str(CreateTable(table).compile(dialect=dialect))
        await conn.exec_driver_sql(ddl.replace("CREATE TABLE", "CREATE TEMPORARY TABLE", 1))


@dataclass(frozen=True)
class Comparison:
    """A live table against its replayed copy: rows matched on `key`, each of `columns`
    compared as text (`shown_as[column]`: an SQL expression over `{}` for the column, when its
    plain text is not the way to compare or show it)."""

    live: str
    replayed: str
    key: tuple[str, ...]
    columns: tuple[str, ...]
    where: str = ""  # SQL condition on both sides: the rows the comparison covers
    shown_as: Mapping[str, str] = field(default_factory=dict)
    note: str = ""

    def _side(self, table: str, *, key_as_json: bool = True) -> str:
        keys = ", ".join(_quoted(name) for name in self.key)
        values = "".join(
            f", {self.shown_as.get(name, '{}::text').format(_quoted(name))} AS c{i}"
            for i, name in enumerate(self.columns)
        )
        where = f" WHERE {self.where}" if self.where else ""
        selected = f"jsonb_build_array({keys}) AS key_" if key_as_json else f"{keys}, true AS in_"
        return f"SELECT {selected}{values} FROM {_quoted(table)}{where}"

    def summary_sql(self) -> str:
        """Rows on each side, and rows that differ: one pass over both tables, matched on the
        key's own columns (seven times faster than the listing, which builds a JSON key per
        row), so a table without drift costs only this. A NULL in a key never matches here: such
        rows count as differing, and the listing, which matches them, has the last word."""
        matched = " AND ".join(f"l.{_quoted(k)} = r.{_quoted(k)}" for k in self.key)
        values = [f"c{i}" for i in range(len(self.columns))]
        changed = (
            f" OR ({', '.join('l.' + v for v in values)}) IS DISTINCT FROM"
            f" ({', '.join('r.' + v for v in values)})"
            if values
            else ""
        )
        return (
            f"WITH l AS ({self._side(self.live, key_as_json=False)}),"
            f" r AS ({self._side(self.replayed, key_as_json=False)}) "
            "SELECT count(l.in_), count(r.in_),"
            f" count(*) FILTER (WHERE l.in_ IS NULL OR r.in_ IS NULL{changed})"
            f" FROM l FULL JOIN r ON {matched}"
        )

    def differences_sql(self) -> str:
        presence = (
            f"('{ROW}', CASE WHEN l.key_ IS NULL THEN 'absent' ELSE 'present' END,"
            " CASE WHEN r.key_ IS NULL THEN 'absent' ELSE 'present' END)"
        )
        values = [presence] + [f"('{name}', l.c{i}, r.c{i})" for i, name in enumerate(self.columns)]
        # A row on one side only is one difference (its presence); a row on both sides has one
        # per column that differs.
        return (
            f"WITH l AS ({self._side(self.live)}), r AS ({self._side(self.replayed)}) "
            "SELECT coalesce(l.key_, r.key_)::text, d.col, d.live, d.replayed, count(*) OVER () "
            "FROM l FULL JOIN r ON l.key_ = r.key_ "
            f"CROSS JOIN LATERAL (VALUES {', '.join(values)}) AS d(col, live, replayed) "
            "WHERE d.live IS DISTINCT FROM d.replayed "
            f"AND ((l.key_ IS NULL OR r.key_ IS NULL) = (d.col = '{ROW}')) "
            "ORDER BY coalesce(l.key_, r.key_), d.col LIMIT :shown"
        )


async def compare(
    conn: AsyncConnection, comparison: Comparison, max_shown: int
) -> tuple[TableCheck, list[Difference]]:
    """The table's counts and its differences (the first `max_shown` listed, all counted)."""
    summary = await conn.execute(text(comparison.summary_sql()))
    live_rows, replayed_rows, differing = summary.one()
    found: Sequence[Any] = ()  # (key, column, live, replayed, differences in all)
    if differing:
        listed = await conn.execute(
            text(comparison.differences_sql()), {"shown": max(max_shown, 1)}
        )
        found = listed.all()
    total = int(found[0][4]) if found else 0
    differences = [
        Difference(
            table=comparison.live,
            key=key,
            column=column,
            live=_shown(live),
            replayed=_shown(replayed),
        )
        for key, column, live, replayed, _ in found[:max_shown]
    ]
    check = TableCheck(
        table=comparison.live,
        live_rows=live_rows,
        replayed_rows=replayed_rows,
        differences=total,
        note=comparison.note,
    )
    return check, differences


def _shown(value: str | None) -> str | None:
    if value is None or len(value) <= SHOWN_CHARS:
        return value
    return f"{value[:SHOWN_CHARS]}… ({len(value)} characters)"


def _quoted(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'
