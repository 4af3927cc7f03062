"""The PostgreSQL backend: one row per object, one column per field (``PgRowMixin``).

This module declares the backend (:data:`POSTGRES`): its plans, checked by mypy
against :class:`TablePlans`, its session rules (:mod:`.transaction`), its driver
module, and what it can do.  Package shape: ``commands`` (what plans yield, and the
replies), ``schema`` (model to table, DDL, row codec), ``compile`` (lookups to SQL),
``plans``, ``transaction`` (sessions and ``transaction()`` blocks, pure),
``driver_psycopg`` (psycopg 3, sync and asyncio) and ``driver_aiopg``.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Protocol, TypeVar

from ...backend import Backend, Plans, register
from ...run import Plan
from . import plans as _plans
from .commands import Begin, Commit, Copy, Sql
from .schema import check_schema
from .transaction import PG_SESSION

if TYPE_CHECKING:
    from ...spec import ModelSpec

__all__ = ["COMMANDS", "POSTGRES", "TablePlans"]

M = TypeVar("M")

#: The command types PostgreSQL plans yield (a run routes them to the PostgreSQL driver).
COMMANDS: tuple[type, ...] = (Sql, Copy, Begin, Commit)


class TablePlans(Plans, Protocol):
    """The common plans, plus creating and dropping the model's table."""

    def create_table(self, spec: ModelSpec[M], /) -> Plan[list[str]]:
        """``Model.create_table()``: what it changed."""
        ...

    def drop_table(self, spec: ModelSpec[M], /) -> Plan[bool]:
        """``Model.drop_table()``."""
        ...


_checked: TablePlans = _plans  # mypy checks the plans module against the protocol here

POSTGRES: Backend[TablePlans] = register(
    Backend(
        name="postgres",
        plans=_checked,
        session=PG_SESSION,
        drivers=".backends.postgres.driver_psycopg",
        default_url="postgresql://postgres@localhost:5432/postgres",
        env="PERSIST_POSTGRES_URL",
        connection_options=("__postgres__",),
        options=("__version_field__", "__schema__"),
        keys=frozenset({"client_uuid", "database_identity"}),
        capabilities=frozenset(
            {"tables", "transactions", "indexes", "expiry", "generated_int_keys", "unique", "db_defaults"}
        ),
        check=check_schema,
    )
)
