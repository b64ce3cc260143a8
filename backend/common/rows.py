"""Hand-written SQL for the hottest reads, with values converted exactly as the ORM converts them.

Building the SQL of an ORM query costs more than running it for the small, fixed-shape reads
made on every request (authenticating a token, a 50-id ``IN`` list: ~0.5–1 ms of Python each),
so those few reads are written as SQL. The caller names the model field behind each selected
column, and every value passes through that field's converters — the backend's, then the
field's own ``from_db_value`` — so a row holds what ``values_list`` would hold (aware datetimes
on SQLite, decoded JSON on both engines).
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Sequence
from datetime import date, datetime
from types import MethodType
from typing import Any

from django.db import connection
from django.db.models import Field, Model
from django.db.models.fields import AutoFieldMixin

Converter = Callable[[Any, Any, Any], Any]


def fields(model: type[Model], *names: str) -> tuple[Field[Any, Any], ...]:
    """``model``'s fields ``names`` (attribute names such as ``case_id`` work too), or all its
    concrete fields in model order when no names are given."""
    if not names:
        return tuple(model._meta.concrete_fields)
    found = tuple(model._meta.get_field(name) for name in names)
    if not all(isinstance(field, Field) and field.column for field in found):
        raise ValueError(f"not all of {names} are columns of {model.__name__}")
    return found


def select_list(alias: str, columns: Sequence[Field[Any, Any]]) -> str:
    """``alias."column", …`` for ``columns``."""
    return ", ".join(f"{alias}.{connection.ops.quote_name(field.column)}" for field in columns)


def placeholders(count: int) -> str:
    """``%s, %s, …`` for an ``IN`` list of ``count`` values (callers skip the query for none)."""
    if count < 1:
        raise ValueError("an IN list needs at least one value")
    return ", ".join(["%s"] * count)


#: Per column that needs converting: its index, the column expression the converters expect,
#: and each converter as (is a method of the backend's operations, function).
_Plan = tuple[tuple[int, Any, tuple[tuple[bool, Converter], ...]], ...]


@functools.lru_cache(maxsize=64)
def _plan(vendor: str, columns: tuple[Field[Any, Any], ...]) -> _Plan:
    """Which converters each column needs on this engine, worked out once. The backend's
    converters are methods of the calling thread's connection, so they are kept unbound and
    bound again to the connection of each call."""
    ops = connection.ops
    plan = []
    for index, field in enumerate(columns):
        expression = field.get_col(field.model._meta.db_table)
        steps: list[tuple[bool, Converter]] = []
        for converter in ops.get_db_converters(expression):
            if getattr(converter, "__self__", None) is ops:
                steps.append((True, converter.__func__))
            else:
                steps.append((False, converter))
        steps.extend((False, converter) for converter in expression.get_db_converters(connection))
        if steps:
            plan.append((index, expression, tuple(steps)))
    return tuple(plan)


def fetch_rows(
    sql: str, params: Sequence[Any], columns: tuple[Field[Any, Any], ...]
) -> list[tuple[Any, ...]]:
    """Run ``sql``, which selects one value per entry of ``columns`` in that order, and convert
    each value as the ORM would for that field."""
    plan = _plan(connection.vendor, tuple(columns))
    with connection.cursor() as cursor:
        cursor.execute(sql, list(params))
        fetched = cursor.fetchall()
    if not plan:
        return [tuple(row) for row in fetched]
    ops = connection.ops
    steps = [
        (index, expression, [MethodType(function, ops) if on_ops else function for on_ops, function in found])
        for index, expression, found in plan
    ]
    converted = []
    for row in fetched:
        values = list(row)
        for index, expression, functions in steps:
            value = values[index]
            for function in functions:
                value = function(value, expression, connection)
            values[index] = value
        converted.append(tuple(values))
    return converted


def insert_rows(model: type[Model], rows: Sequence[Model]) -> None:
    """``INSERT … VALUES (…), (…)`` of new rows, as many per statement as the database takes.

    What ``bulk_create`` stores (each field prepares its own value), without its per-row
    bookkeeping, which costs more than the insert for a replication batch. Auto primary keys
    are left to the database and not read back.
    """
    if not rows:
        return
    columns = [
        f for f in model._meta.concrete_fields if not (f.primary_key and isinstance(f, AutoFieldMixin))
    ]
    table = connection.ops.quote_name(model._meta.db_table)
    names = ", ".join(connection.ops.quote_name(f.column) for f in columns)
    row_sql = "(" + ", ".join(["%s"] * len(columns)) + ")"
    per_statement = max(1, (connection.features.max_query_params or 10_000) // len(columns))
    prepared: dict[tuple[int, type, Any], Any] = {}

    def prepare(index: int, f: Any, value: Any) -> Any:
        # Many rows share a value (the clock, the author, the device, the origin): prepare each
        # distinct scalar once. Other values (JSON objects and lists) are prepared every time.
        if not isinstance(value, str | int | float | datetime | date | None):
            return f.get_db_prep_save(value, connection)
        key = (index, type(value), value)
        if key not in prepared:
            prepared[key] = f.get_db_prep_save(value, connection)
        return prepared[key]

    attnames = [(index, f, f.attname) for index, f in enumerate(columns)]
    with connection.cursor() as cursor:
        for start in range(0, len(rows), per_statement):
            chunk = rows[start : start + per_statement]
            params = [
                prepare(index, f, getattr(row, attname)) for row in chunk for index, f, attname in attnames
            ]
            cursor.execute(
                f"INSERT INTO {table} ({names}) VALUES {', '.join([row_sql] * len(chunk))}", params
            )


def update_rows(model: type[Model], rows: Sequence[Model], fields: Sequence[str]) -> None:
    """``UPDATE … FROM (VALUES …)`` by primary key, in one statement per 500 rows.

    Django's ``bulk_update`` builds a ``CASE WHEN`` per field and row, which costs more than the
    writes themselves for a replication batch.
    """
    table = connection.ops.quote_name(model._meta.db_table)
    pk = model._meta.pk
    assert pk is not None
    columns = [pk, *(model._meta.get_field(name) for name in fields)]
    postgres = connection.vendor == "postgresql"

    def placeholder(f: Any) -> str:
        return f"CAST(%s AS {f.db_type(connection)})" if postgres else "%s"

    row_sql = "(" + ", ".join(placeholder(f) for f in columns) + ")"
    names = [connection.ops.quote_name(f.column) for f in columns]
    assignments = ", ".join(f"{name} = v.{name}" for name in names[1:])
    with connection.cursor() as cursor:
        for start in range(0, len(rows), 500):
            chunk = rows[start : start + 500]
            params: list[Any] = []
            for row in chunk:
                for f in columns:
                    params.append(f.get_db_prep_save(getattr(row, f.attname), connection))
            sql = (
                f"WITH v({', '.join(names)}) AS (VALUES {', '.join([row_sql] * len(chunk))}) "
                f"UPDATE {table} SET {assignments} FROM v WHERE {table}.{names[0]} = v.{names[0]}"
            )
            cursor.execute(sql, params)
