"""The RethinkDB backend: one document per object (``RethinkMixin``), with changefeeds.

This module declares the backend (:data:`RETHINKDB`): its plans, checked by mypy
against :class:`DocumentPlans`, its session rules (:mod:`.session`), its driver
module, and what it can do.  Package shape: ``reql`` (terms as wire JSON),
``commands`` (what plans yield, and the replies), ``schema`` (model to table and
documents), ``compile`` (lookups to ReQL), ``plans``, ``session`` (a pooled
connection per run, cursors closed at its end), ``pool`` (the connection pool the
official driver lacks) and ``driver_rethinkdb`` (the official driver, sync and asyncio).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Protocol, TypeVar

from ...backend import Backend, Plans, register
from ...run import Plan
from . import plans as _plans
from .commands import Cursor, Database, Next, Run
from .session import RETHINK_SESSION

if TYPE_CHECKING:
    from ...query import QueryState
    from ...spec import ModelSpec

__all__ = ["COMMANDS", "RETHINKDB", "DocumentPlans"]

M = TypeVar("M")

#: The command types RethinkDB plans yield (a run routes them to the RethinkDB driver).
COMMANDS: tuple[type, ...] = (Run, Cursor, Next, Database)


class DocumentPlans(Plans, Protocol):
    """The common plans, plus tables and changefeeds."""

    def create_table(self, spec: ModelSpec[M], /) -> Plan[list[str]]:
        """``Model.create_table()``."""
        ...

    def drop_table(self, spec: ModelSpec[M], /) -> Plan[bool]:
        """``Model.drop_table()``."""
        ...

    def changes(self, spec: ModelSpec[M], state: QueryState, include_initial: bool, /) -> Plan[None]:
        """``Model.changes(**lookups)``: emits ``(old, new)`` pairs."""
        ...


_checked: DocumentPlans = _plans  # mypy checks the plans module against the protocol here


RETHINKDB: Backend[DocumentPlans] = register(
    Backend(
        name="rethinkdb",
        plans=_checked,
        session=RETHINK_SESSION,
        drivers=".backends.rethinkdb.driver_rethinkdb",
        default_url="rethinkdb://localhost:28015/test",
        env="PERSIST_RETHINKDB_URL",
        connection_options=("__rethinkdb__",),
        keys=frozenset({"client_uuid", "database_uuid"}),
        capabilities=frozenset({"tables", "indexes", "expiry", "changes", "unique", "db_defaults"}),
        options=("__version_field__",),
    )
)
