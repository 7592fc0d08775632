"""Writing many rows in one statement: ``INSERT … SELECT FROM unnest(…)`` and ``UPDATE … FROM``.

Django's ``bulk_update`` builds a ``CASE WHEN`` per field and row in Python, and Django's cursors bind on
the client: every value of a bulk statement is escaped and quoted into the SQL text in Python, which
costs more CPU than the database spends on the whole statement. On PostgreSQL these statements take one
array per column, so the statement's text is the same whatever the number of rows, and bind on the
server (``bound_cursor``). Values go through each field's own ``get_db_prep_save`` (JSON, dates,
encrypted text) and each array is cast to its column's type. On SQLite they are plain ``VALUES``
statements (``UPDATE … FROM`` since SQLite 3.33; older ones get one UPDATE per row).
"""

import contextlib
import datetime as dt
import functools
import sqlite3
from collections.abc import Callable, Iterator, Mapping, Sequence
from typing import Any

import psycopg
from django.db import DEFAULT_DB_ALIAS, connection, connections, models
from django.db.backends.utils import CursorWrapper

ROWS_PER_STATEMENT = 500


@contextlib.contextmanager
def bound_cursor() -> Iterator[CursorWrapper]:
    """A cursor of the default connection, in its transaction, that binds values on the server (PostgreSQL).

    Wrapped as Django wraps its own, so its statements are logged and counted like any other query.
    Elsewhere, Django's own cursor.
    """
    if connection.vendor != "postgresql":
        with connection.cursor() as cursor:
            yield cursor
        return
    connection.ensure_connection()
    with connection.wrap_database_errors:
        raw = psycopg.Cursor(connection.connection)
    cursor = connection._prepare_cursor(raw)
    try:
        yield cursor
    finally:
        cursor.close()


def greatest(column: str, value: str) -> str:
    """SQL for the larger of two nullable expressions (either may be NULL)."""
    if connection.vendor == "postgresql":
        return f"GREATEST({column}, {value})"  # GREATEST skips NULLs
    return f"MAX(COALESCE({column}, {value}), COALESCE({value}, {column}))"


# Fields whose database value is the Python value itself, when it has this type: preparing thousands of values
# through get_db_prep_save (and the connection proxy behind it) costs more than the rest of a bulk statement.
_PLAIN = {
    models.CharField: str,
    models.TextField: str,
    models.BooleanField: bool,
    models.IntegerField: int,
    models.PositiveIntegerField: int,
    models.PositiveSmallIntegerField: int,
    models.PositiveBigIntegerField: int,
    models.BigIntegerField: int,
    models.BigAutoField: int,
}


def _preparer(field: models.Field, db: Any) -> Callable[[Any], Any]:
    """``field.get_db_prep_save`` for ``db``, short-cut for values that need no preparing."""
    prepare = field.get_db_prep_save
    target = field.target_field if isinstance(field, models.ForeignKey) else field
    plain = _PLAIN.get(type(target))
    if type(field) is models.DateTimeField and db.vendor == "postgresql":
        return lambda value: (
            value if value is None or (isinstance(value, dt.datetime) and value.tzinfo) else (prepare(value, db))
        )
    if plain is None:
        return lambda value: prepare(value, db)
    return lambda value: value if value is None or type(value) is plain else prepare(value, db)


def _array(field: models.Field) -> str:
    return f"CAST(%b AS {field.db_type(connection)}[])"  # binary: psycopg escapes text arrays element by element


# Below this many rows a multi-row VALUES costs less than one array per column (each array's dumper is set
# up per statement): the intake's batches are mostly a few rows, a drained batch hundreds.
ARRAYS_FROM_ROWS = 16


@functools.lru_cache(maxsize=64)
def _insert_sql(model: type[models.Model], ignore_conflicts: bool, rows: int) -> str:
    """The INSERT of ``rows`` rows (0: any number, as arrays) of ``model``, built once per shape."""
    meta = model._meta
    quote = connection.ops.quote_name
    fields = _insert_fields(model)
    table, pk = quote(meta.db_table), quote(meta.pk.column)
    columns = ", ".join(quote(field.column) for field in fields)
    if rows:
        row = "(" + ", ".join(["%s"] * len(fields)) + ")"
        source = "VALUES " + ", ".join([row] * rows)
    else:
        source = f"SELECT * FROM unnest({', '.join(_array(field) for field in fields)})"  # noqa: S608 (our casts)
    conflict = " ON CONFLICT DO NOTHING" if ignore_conflicts else ""
    return f"INSERT INTO {table} ({columns}) {source}{conflict} RETURNING {pk}"


@functools.lru_cache(maxsize=64)
def _insert_fields(model: type[models.Model]) -> list[models.Field]:
    return [field for field in model._meta.concrete_fields if not field.primary_key]


def insert_rows(objects: Sequence[models.Model], *, ignore_conflicts: bool = False) -> list[models.Model]:
    """Insert model instances (all of one model) in one statement; returns them, with their ids set.

    With ``ignore_conflicts`` a row that breaks a unique constraint is left out silently and the ids are
    not set (which rows were inserted is not known): read them back by their unique fields.
    """
    if not objects:
        return []
    model = type(objects[0])
    if connection.vendor != "postgresql":
        return model.objects.bulk_create(objects, ignore_conflicts=ignore_conflicts)
    db = connections[DEFAULT_DB_ALIAS]
    preparers = [(field, _preparer(field, db)) for field in _insert_fields(model)]
    with bound_cursor() as cursor:
        for start in range(0, len(objects), ROWS_PER_STATEMENT):
            chunk = objects[start : start + ROWS_PER_STATEMENT]
            if len(chunk) < ARRAYS_FROM_ROWS:
                sql = _insert_sql(model, ignore_conflicts, len(chunk))
                values = [prepare(field.pre_save(obj, True)) for obj in chunk for field, prepare in preparers]
            else:
                sql = _insert_sql(model, ignore_conflicts, 0)
                values = [[prepare(field.pre_save(obj, True)) for obj in chunk] for field, prepare in preparers]
            cursor.execute(sql, values)
            returned = cursor.fetchall()
            if not ignore_conflicts:
                # The rows come back in the order they were given.
                for obj, (new_pk,) in zip(chunk, returned, strict=True):
                    obj.pk = new_pk
                    obj._state.adding, obj._state.db = False, connection.alias
    return list(objects)


def update_from_values(
    model: type[models.Model],
    rows: Sequence[Mapping[str, Any]],
    *,
    fields: Sequence[str],
    expressions: Mapping[str, str] | None = None,
    where: str = "",
) -> int:
    """Set ``fields`` of each row (a mapping with ``pk`` and those fields); returns the rows changed.

    ``expressions`` replaces the plain ``column = v.column`` of some fields with SQL of its own, in which
    ``{table}`` names the table and ``{value}`` the row's new value (``greatest`` builds one). ``where``
    adds a condition in the same terms, e.g. ``"{table}.status = 'sending'"``.
    """
    if not rows:
        return 0
    meta = model._meta
    quote = connection.ops.quote_name
    table = quote(meta.db_table)
    pk = meta.pk
    columns = [meta.get_field(name) for name in fields]
    names = ["pk", *(f"c{index}" for index in range(len(columns)))]
    assignments = []
    for name, field in zip(names[1:], columns, strict=True):
        value = f"v.{name}"
        template = (expressions or {}).get(field.name)
        expression = template.format(table=table, value=value) if template else value
        assignments.append(f"{quote(field.column)} = {expression}")
    sets, key = ", ".join(assignments), f"{table}.{quote(pk.column)}"
    condition = f" AND ({where.format(table=table)})" if where else ""

    db = connections[DEFAULT_DB_ALIAS]
    preparers = {field.name: _preparer(field, db) for field in [pk, *columns]}

    def prepared(chunk: Sequence[Mapping[str, Any]], field: models.Field, name: str) -> list[Any]:
        prepare = preparers[field.name]
        return [prepare(row[name]) for row in chunk]

    changed = 0
    if connection.vendor == "postgresql":
        arrays = ", ".join(_array(field) for field in [pk, *columns])
        sql = f"UPDATE {table} SET {sets} FROM unnest({arrays}) AS v ({', '.join(names)}) WHERE {key} = v.pk{condition}"  # noqa: S608 (names from the model; values are parameters)
        with bound_cursor() as cursor:
            for start in range(0, len(rows), ROWS_PER_STATEMENT):
                chunk = rows[start : start + ROWS_PER_STATEMENT]
                values = [prepared(chunk, pk, "pk"), *(prepared(chunk, field, field.name) for field in columns)]
                cursor.execute(sql, values)
                changed += cursor.rowcount
        return changed
    if sqlite3.sqlite_version_info < (3, 33):
        return _one_by_one(table, quote(pk.column), pk, columns, names, assignments, condition, rows)
    row_sql = "(" + ", ".join(["%s"] * len(names)) + ")"
    with connection.cursor() as cursor:
        for start in range(0, len(rows), ROWS_PER_STATEMENT):
            chunk = rows[start : start + ROWS_PER_STATEMENT]
            params: list[Any] = []
            for row in chunk:
                params.append(pk.get_db_prep_save(row["pk"], connection))
                params += [field.get_db_prep_save(row[field.name], connection) for field in columns]
            values = ", ".join([row_sql] * len(chunk))
            cursor.execute(
                f"WITH v ({', '.join(names)}) AS (VALUES {values}) "  # noqa: S608 (names from the model; values are parameters)
                f"UPDATE {table} SET {sets} FROM v WHERE {key} = v.pk{condition}",
                params,
            )
            changed += cursor.rowcount
    return changed


def _one_by_one(table, pk_column, pk, columns, names, assignments, condition, rows) -> int:
    """The same statement for an SQLite without ``UPDATE … FROM``: each row's values in a one-row ``v``."""
    statement = ", ".join(assignments)
    for name in sorted(names[1:], key=len, reverse=True):  # c10 before c1
        statement = statement.replace(f"v.{name}", f"(SELECT {name} FROM v)")  # noqa: S608 (our own aliases)
    select = ", ".join(f"%s AS {name}" for name in names)
    changed = 0
    with connection.cursor() as cursor:
        for row in rows:
            values = [pk.get_db_prep_save(row["pk"], connection)]
            values += [field.get_db_prep_save(row[field.name], connection) for field in columns]
            cursor.execute(
                f"WITH v AS (SELECT {select}) UPDATE {table} SET {statement} "  # noqa: S608 (as above)
                f"WHERE {table}.{pk_column} = (SELECT pk FROM v){condition}",
                values,
            )
            changed += cursor.rowcount
    return changed
