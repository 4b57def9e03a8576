"""Querysets whose SQL is built once per process and database, then run again with other values.

The lookups every request makes (its vault for the user, its API token) cost more CPU building their SQL through
the ORM (filters, joins, compilation) than the database takes to answer them. A `Prepared` query is the ORM's
own: the queryset is built and compiled once with placeholder values, and each call runs that SQL with the real
values and turns the rows into model instances (with their select_related objects) as the ORM does.
"""

from collections.abc import Callable
from typing import Generic, TypeVar

from django.db import connections, router
from django.db.models import Model, QuerySet
from django.db.models.query import get_related_populators  # type: ignore[attr-defined]  # not in the stubs

# Placeholder values, one per parameter, found again in the compiled query's parameters. The ints fit a 32-bit
# column: the ORM finds nothing for a value outside its field's range and would compile no SQL.
_INT_PLACEHOLDERS = (-739_010_101, -739_010_102, -739_010_103)
_STR_PLACEHOLDERS = ("\x01prepared-a\x01", "\x01prepared-b\x01", "\x01prepared-c\x01")


M = TypeVar("M", bound=Model)


class Prepared(Generic[M]):
    """`Prepared(Model, lambda a, b: Model.objects.filter(x=a, y=b), int, int)(1, 2)` is the list of that
    queryset's instances for a=1, b=2, read from the database the router reads `Model` from. The builder must use
    each value once as a plain lookup value (no expression turns it into something else); `kinds` says which are
    ints and which are strs."""

    def __init__(self, model: type[M], build: Callable[..., QuerySet], *kinds: type) -> None:
        self.model = model
        self.build = build
        self.kinds = kinds
        self._compiled: dict[str, tuple] = {}

    def _compile(self, db: str) -> tuple:
        ints, strs = iter(_INT_PLACEHOLDERS), iter(_STR_PLACEHOLDERS)
        placeholders = [next(ints) if kind is int else next(strs) for kind in self.kinds]
        queryset = self.build(*placeholders).using(db)
        compiler = queryset.query.get_compiler(using=db)
        sql, params = compiler.as_sql()
        positions = {value: i for i, value in enumerate(placeholders)}
        # Each parameter is a placeholder (then the value passed in its place) or a constant of the queryset.
        order = [positions.get(param) if type(param) in (int, str) else None for param in params]
        if sorted(p for p in order if p is not None) != list(range(len(placeholders))):
            raise ValueError("a prepared queryset must use each of its values once, unchanged")
        klass_info, select = compiler.klass_info, compiler.select
        start, end = klass_info["select_fields"][0], klass_info["select_fields"][-1] + 1
        init_list = [column[0].target.attname for column in select[start:end]]
        populators = get_related_populators(klass_info, select, db)
        compiled = (compiler, sql, list(params), order, klass_info["model"], start, end, init_list, populators)
        self._compiled[db] = compiled
        return compiled

    def __call__(self, *values) -> list[M]:
        db = router.db_for_read(self.model)
        for kind, value in zip(self.kinds, values, strict=True):
            if type(value) is not kind:
                raise TypeError(f"expected {kind.__name__}, got {type(value).__name__}")
        compiled = self._compiled.get(db) or self._compile(db)
        compiler, sql, constants, order, model, start, end, init_list, populators = compiled
        params = [constant if i is None else values[i] for constant, i in zip(constants, order, strict=True)]
        with connections[db].cursor() as cursor:
            cursor.execute(sql, params)
            rows = cursor.fetchall()
        found: list[M] = []
        for row in compiler.results_iter([rows]):
            obj = model.from_db(db, init_list, row[start:end])
            for populator in populators:
                populator.populate(row, obj)
            found.append(obj)
        return found
