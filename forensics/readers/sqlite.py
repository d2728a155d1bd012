"""SQLite databases into raw tables, opened so that nothing can ever be written.

The file is opened read-only and immutable (file:...?mode=ro&immutable=1): SQLite takes no
lock, writes no journal, WAL or shared-memory file, and ignores a WAL beside the database,
which is therefore recorded as a problem when one is present. Each table of sqlite_schema is
read in rowid order (WITHOUT ROWID tables in primary-key order), values as SQLite stores
them: integer, real, text, blob or NULL. Text that is not valid UTF-8 is kept as its bytes.
"""

from __future__ import annotations

import re
import sqlite3
from collections.abc import Sequence
from pathlib import Path
from urllib.parse import quote

from forensics.rawtables import BATCH_ROWS, ColumnInfo, SourceWriter, TableWriter, Value

LOCATOR = "_rowid"
ROWID_NAMES = ("rowid", "_rowid_", "oid")
GENERATED = {
    2: "generated (VIRTUAL: computed by SQLite when read, not stored in the file)",
    3: "generated (STORED)",
}


class RawText(bytes):
    """A TEXT value that is not valid UTF-8: its bytes as SQLite holds them."""


def _text(raw: bytes) -> str | bytes:
    """sqlite3 text_factory: text as str, or its exact bytes when it is not UTF-8."""
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError:
        return RawText(raw)


def _quote_name(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


def sqlite_uri(path: Path) -> str:
    """The read-only, immutable URI of a database file."""
    return f"file:{quote(str(Path(path).resolve()))}?mode=ro&immutable=1"


def read_sqlite(path: Path, out: SourceWriter) -> None:
    """Read every table of a SQLite database into raw tables; damage is recorded, not raised."""
    path = Path(path)
    _side_files(path, out)
    try:
        conn = sqlite3.connect(sqlite_uri(path), uri=True)
    except sqlite3.Error as exc:
        out.problem(path.name, f"cannot open as SQLite: {exc}")
        return
    try:
        conn.text_factory = _text
        try:
            schema, encoding = _schema(conn)
        except sqlite3.Error as exc:
            # A file shorter than its header says (truncated copy) is refused unless the schema is
            # "writable"; the connection is still read-only and immutable: nothing can be written.
            try:
                conn.execute("PRAGMA writable_schema = ON")
                schema, encoding = _schema(conn)
            except sqlite3.Error:
                out.problem(path.name, f"schema unreadable: {exc}")
                return
            out.problem(
                path.name,
                f"{exc} on opening: the file is shorter than its header says or its schema is "
                "damaged; read with PRAGMA writable_schema=ON (still read-only) to recover more",
            )
        table_kinds = _table_list(conn)
        for name, sql in schema:
            if not isinstance(name, str):
                out.problem(
                    repr(bytes(name)),
                    "table name is not UTF-8; the table cannot be named to read it",
                )
                continue
            if name.lower().startswith("sqlite_"):
                out.problem(name, "SQLite internal table, not read", skipped=True)
                continue
            try:
                _read_table(
                    conn,
                    name,
                    sql if isinstance(sql, str) else "",
                    encoding,
                    table_kinds.get(name),
                    out,
                )
            except sqlite3.Error as exc:
                out.problem(name, str(exc))
    finally:
        conn.close()


def _schema(conn: sqlite3.Connection) -> tuple[list[tuple[str | bytes, str | bytes | None]], str]:
    """The tables of sqlite_schema (name, CREATE statement) in order, and the text encoding."""
    tables = conn.execute(
        "SELECT name, sql FROM sqlite_master WHERE type = 'table' ORDER BY rowid"
    ).fetchall()
    return tables, conn.execute("PRAGMA encoding").fetchone()[0]


def _side_files(path: Path, out: SourceWriter) -> None:
    """Record a WAL or rollback journal beside the database: immutable mode does not read them."""
    wal = (
        "write-ahead log: transactions committed to it but not yet copied into the database file "
        "are not in these tables"
    )
    journal = (
        "rollback journal: an interrupted transaction was not rolled back; the tables are the file "
        "as it is, possibly half-changed"
    )
    for suffix, what in (("-wal", wal), ("-journal", journal)):
        side = path.with_name(path.name + suffix)
        try:
            size = side.stat().st_size
        except OSError:
            continue
        if size > 0:
            out.problem(
                side.name,
                f"{size} bytes of {what}; its frames were not read (immutable mode ignores it)",
            )


def _table_list(conn: sqlite3.Connection) -> dict[str, tuple[str, bool]]:
    """Each table's type (table, virtual, shadow) and whether it is WITHOUT ROWID (SQLite 3.37+)."""
    try:
        rows = conn.execute("PRAGMA main.table_list").fetchall()
    except sqlite3.Error:
        return {}
    return {row[1]: (row[2], bool(row[4])) for row in rows if isinstance(row[1], str)}


def _without_rowid(sql: str) -> bool:
    """Whether CREATE TABLE ends with WITHOUT ROWID among its table options."""
    options = sql[sql.rfind(")") + 1 :] if ")" in sql else ""
    return bool(re.search(r"\bWITHOUT\s+ROWID\b", options, re.IGNORECASE))


def _read_table(
    conn: sqlite3.Connection,
    name: str,
    sql: str,
    encoding: str,
    listed: tuple[str, bool] | None,
    out: SourceWriter,
) -> None:
    """Read one table in batches into its raw table."""
    virtual = re.match(r"\s*CREATE\s+VIRTUAL\s+TABLE", sql, re.IGNORECASE) is not None
    kind = listed[0] if listed else ("virtual" if virtual else "table")
    without_rowid = listed[1] if listed else _without_rowid(sql)
    notes: list[str] = []
    if virtual:
        module = re.search(r"\bUSING\s+(\w+)", sql, re.IGNORECASE)
        notes.append(
            f"virtual table (module {module.group(1) if module else '?'}): "
            "rows as the module gives them"
        )
    if kind == "shadow":
        notes.append("shadow table: holds the stored content of a virtual table")
    if encoding.upper() != "UTF-8":
        notes.append(f"database text encoding {encoding}; text read as UTF-8 converted by SQLite")
    try:
        xinfo = conn.execute(f"PRAGMA main.table_xinfo({_quote_name(name)})").fetchall()
    except sqlite3.Error as exc:
        out.problem(name, f"{'virtual table ' if virtual else ''}columns unreadable: {exc}")
        return
    columns = []  # (name, declared type, pk order)
    for _cid, column, declared, _notnull, _default, pk, hidden in xinfo:
        if hidden == 1:
            notes.append(f"column {column!r} is a hidden column of the virtual table; not read")
            continue
        if hidden in GENERATED:
            notes.append(f"column {column!r} is {GENERATED[hidden]}")
        columns.append((column, declared or None, pk))
    source_names = [c[0] for c in columns]
    lowered = {n.lower() for n in source_names}
    rowid = None if without_rowid else next((r for r in ROWID_NAMES if r not in lowered), None)
    if without_rowid:
        notes.append(
            "WITHOUT ROWID table: no rowid; rows are located by their primary key "
            "and read in its order"
        )
    elif rowid is None:
        notes.append("columns named rowid, _rowid_ and oid hide the rowid; _rowid is null")
    names = [n if n != LOCATOR else f"{n}_column" for n in source_names]
    if names != source_names:
        notes.append(
            f"column {LOCATOR!r} named {LOCATOR + '_column'!r}: {LOCATOR} is the rowid locator"
        )
    select = ", ".join(_quote_name(n) for n in source_names)
    if rowid:
        query = f"SELECT {rowid}, {select} FROM main.{_quote_name(name)} ORDER BY {rowid}"
    else:
        keys = [_quote_name(c[0]) for c in sorted(columns, key=lambda c: c[2]) if c[2]]
        order = f" ORDER BY {', '.join(keys)}" if keys else ""
        query = f"SELECT NULL, {select} FROM main.{_quote_name(name)}{order}"
    table = out.table(
        name,
        [ColumnInfo(n, d) for n, (_, d, _) in zip(names, columns, strict=True)],
        [] if without_rowid else [LOCATOR],
    )
    table.info.notes.extend(notes)
    binary = [bool(d and "BLOB" in d.upper()) for _, d, _ in columns]
    try:
        cursor = conn.execute(query)
    except sqlite3.Error as exc:
        out.problem(name, f"{'virtual table ' if virtual else ''}unreadable: {exc}")
        return
    classes: list[set[str]] = [set() for _ in columns]
    raw_text = [0] * len(columns)
    try:
        while rows := cursor.fetchmany(BATCH_ROWS):
            _add_batch(table, rows, without_rowid, binary, classes, raw_text)
    except sqlite3.Error as exc:
        out.problem(name, f"{exc} (after {table.info.rows} rows were read)")
    finally:
        _column_notes(table, names, classes, raw_text)


def _add_batch(
    table: TableWriter,
    rows: Sequence[tuple[Value, ...]],
    without_rowid: bool,
    binary: list[bool],
    classes: list[set[str]],
    raw_text: list[int],
) -> None:
    """One batch of (rowid, values...) rows into the table, noting storage classes seen."""
    transposed = list(zip(*rows, strict=True))
    columns: list[list[Value]] = []
    for index, values in enumerate(transposed[1:]):
        column: list[Value] = []
        for value in values:
            if isinstance(value, RawText):
                raw_text[index] += 1
                classes[index].add("text")
                value = bytes(value)
            elif value is not None:
                classes[index].add(_CLASSES[type(value)])
            column.append(value)
        columns.append(column)
    locators: list[list[int | None]] = [] if without_rowid else [list(transposed[0])]  # type: ignore[arg-type]
    table.add_columns(columns, locators, binary)


_CLASSES = {int: "integer", float: "real", str: "text", bytes: "blob"}


def _column_notes(
    table: TableWriter, names: list[str], classes: list[set[str]], raw_text: list[int]
) -> None:
    """Notes for columns that mix storage classes or hold text that is not UTF-8."""
    for name, seen, raw in zip(names, classes, raw_text, strict=True):
        if len(seen) > 1:
            table.info.notes.append(
                f"column {name!r} holds {', '.join(sorted(seen))} values: stored as one type "
                "(numbers as their text, or text as UTF-8 bytes beside blobs)"
            )
        if raw:
            table.info.notes.append(
                f"column {name!r}: {raw} text values are not valid UTF-8 and are kept as "
                "their exact bytes"
            )
