"""Querysets whose SQL is built once per process and database, then run again with other values.

The lookups every request makes (its vault for the user, its API token) cost more CPU building their SQL through
the ORM (filters, joins, compilation) than the database takes to answer them. A `Prepared` query is the ORM's
own: the queryset is built and compiled once with placeholder values, and each call runs that SQL with the real
values and turns the rows into model instances (with their select_related objects) as the ORM does, or, for a
`values_list()` queryset, into its tuples.
"""

from collections.abc import Callable
from datetime import UTC, datetime
from typing import Generic, TypeVar

from django.db import connections, router
from django.db.models import Model, QuerySet
from django.db.models.query import (  # type: ignore[attr-defined]  # not in the stubs
    ModelIterable,
    get_related_populators,
)

# Placeholder values, one per parameter, found again in the compiled query's parameters. The ints fit a 32-bit
# column: the ORM finds nothing for a value outside its field's range and would compile no SQL.
_INT_PLACEHOLDERS = (-739_010_101, -739_010_102, -739_010_103)
_STR_PLACEHOLDERS = ("\x01prepared-a\x01", "\x01prepared-b\x01", "\x01prepared-c\x01")
_DATETIME_PLACEHOLDERS = tuple(datetime(1901, 2, 3, 4, 5, second, 678_901, tzinfo=UTC) for second in (1, 2, 3))
_PLACEHOLDERS = {int: _INT_PLACEHOLDERS, str: _STR_PLACEHOLDERS, datetime: _DATETIME_PLACEHOLDERS}


M = TypeVar("M", bound=Model)


class Prepared(Generic[M]):
    """`Prepared(Model, lambda a, b: Model.objects.filter(x=a, y=b), int, int)(1, 2)` is the list of that
    queryset's instances for a=1, b=2, read from the database the router reads `Model` from. The builder must use
    each value once as a plain lookup value (no expression turns it into something else); `kinds` says which are
    ints, strs and datetimes (aware, as the ORM keeps them). A `values_list()` queryset gives its rows' tuples."""

    def __init__(self, model: type[M], build: Callable[..., QuerySet], *kinds: type) -> None:
        self.model = model
        self.build = build
        self.kinds = kinds
        self._compiled: dict[str, tuple] = {}

    def _compile(self, db: str) -> tuple:
        taken = {kind: iter(values) for kind, values in _PLACEHOLDERS.items()}
        placeholders = [next(taken[kind]) for kind in self.kinds]
        queryset = self.build(*placeholders).using(db)
        compiler = queryset.query.get_compiler(using=db)
        sql, params = compiler.as_sql()
        ops = connections[db].ops
        # A datetime reaches the database as the backend adapts it (SQLite: text in UTC), and a value may reach it
        # wrapped (PostgreSQL: a big integer as psycopg's Int8): the real value is adapted and wrapped alike.
        positions = {
            (kind, value): (i, False) for i, (kind, value) in enumerate(zip(self.kinds, placeholders, strict=True))
        }
        for i, value in enumerate(placeholders):
            if type(value) is datetime:
                adapted = ops.adapt_datetimefield_value(value)
                positions.setdefault((type(adapted), adapted), (i, True))
        # Each parameter is a placeholder (then the value passed in its place) or a constant of the queryset.
        order = []
        for param in params:
            kind = next((kind for kind in _PLACEHOLDERS if isinstance(param, kind)), None)
            at = positions.get((kind, param)) if kind is not None else None
            order.append(None if at is None else (*at, None if type(param) is kind else type(param)))
        if sorted(at[0] for at in order if at is not None) != list(range(len(placeholders))):
            raise ValueError("a prepared queryset must use each of its values once, unchanged")
        klass_info, select = compiler.klass_info, compiler.select
        compiled: tuple
        if queryset._iterable_class is not ModelIterable:  # values_list(): rows, not instances
            compiled = (compiler, sql, list(params), order, None, 0, 0, [], [])
        else:
            start, end = klass_info["select_fields"][0], klass_info["select_fields"][-1] + 1
            init_list = [column[0].target.attname for column in select[start:end]]
            populators = get_related_populators(klass_info, select, db)
            compiled = (compiler, sql, list(params), order, klass_info["model"], start, end, init_list, populators)
        self._compiled[db] = compiled
        return compiled

    def __call__(self, *values) -> list:
        db = router.db_for_read(self.model)
        for kind, value in zip(self.kinds, values, strict=True):
            if type(value) is not kind:
                raise TypeError(f"expected {kind.__name__}, got {type(value).__name__}")
        compiled = self._compiled.get(db) or self._compile(db)
        compiler, sql, constants, order, model, start, end, init_list, populators = compiled
        ops = connections[db].ops
        params = [
            constant if at is None else _value(ops, values[at[0]], *at[1:])
            for constant, at in zip(constants, order, strict=True)
        ]
        with connections[db].cursor() as cursor:
            cursor.execute(sql, params)
            rows = cursor.fetchall()
        if model is None:
            return [tuple(row) for row in compiler.results_iter([rows])]
        found: list[M] = []
        for row in compiler.results_iter([rows]):
            obj = model.from_db(db, init_list, row[start:end])
            for populator in populators:
                populator.populate(row, obj)
            found.append(obj)
        return found


def _value(ops, value, adapt: bool, wrap: type | None):
    value = ops.adapt_datetimefield_value(value) if adapt else value
    return wrap(value) if wrap is not None else value
