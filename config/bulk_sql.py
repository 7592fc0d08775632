"""Writing many rows in one statement: ``UPDATE … FROM (VALUES …)``, on PostgreSQL and SQLite alike.

Django's ``bulk_update`` builds a ``CASE WHEN`` per field and row in Python: for a few hundred rows that
costs more CPU than the database spends on the whole statement. Here each row is one tuple of
parameters. Values go through each field's own ``get_db_prep_save`` (JSON, dates, encrypted text), and
on PostgreSQL each parameter is cast to its column's type, so a NULL or a JSON value never arrives as
untyped text. SQLite supports ``UPDATE … FROM`` since 3.33; older ones get one UPDATE per row.
"""

import sqlite3
from collections.abc import Mapping, Sequence
from typing import Any

from django.db import connection, models

ROWS_PER_STATEMENT = 500


def greatest(column: str, value: str) -> str:
    """SQL for the larger of two nullable expressions (either may be NULL)."""
    if connection.vendor == "postgresql":
        return f"GREATEST({column}, {value})"  # GREATEST skips NULLs
    return f"MAX(COALESCE({column}, {value}), COALESCE({value}, {column}))"


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
    cast = connection.vendor == "postgresql"

    def placeholder(field: models.Field) -> str:
        return f"CAST(%s AS {field.db_type(connection)})" if cast else "%s"

    row_sql = "(" + ", ".join(placeholder(field) for field in [pk, *columns]) + ")"
    assignments = []
    for name, field in zip(names[1:], columns, strict=True):
        value = f"v.{name}"
        template = (expressions or {}).get(field.name)
        expression = template.format(table=table, value=value) if template else value
        assignments.append(f"{quote(field.column)} = {expression}")
    condition = f" AND ({where.format(table=table)})" if where else ""
    changed = 0
    if connection.vendor == "sqlite" and sqlite3.sqlite_version_info < (3, 33):
        return _one_by_one(table, quote(pk.column), pk, columns, names, assignments, condition, rows)
    with connection.cursor() as cursor:
        for start in range(0, len(rows), ROWS_PER_STATEMENT):
            chunk = rows[start : start + ROWS_PER_STATEMENT]
            params: list[Any] = []
            for row in chunk:
                params.append(pk.get_db_prep_save(row["pk"], connection))
                params += [field.get_db_prep_save(row[field.name], connection) for field in columns]
            values = ", ".join([row_sql] * len(chunk))
            sets, key = ", ".join(assignments), f"{table}.{quote(pk.column)}"
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
