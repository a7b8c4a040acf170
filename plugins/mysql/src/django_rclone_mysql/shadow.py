"""Atomic MySQL/MariaDB restores: restore into a shadow database, then swap it in with one statement.

A SQL dump commits as it goes (every ``DROP TABLE`` / ``CREATE TABLE`` is DDL), so piping it into
the live database leaves a mix of old and new tables when the stream fails half-way. Instead:

1. ``create()`` makes an empty shadow database ``<db>__rclone_<random>`` with the live database's
   character set and collation. This is also the privilege probe: without the right to create it
   the restore stops here, before anything was read or changed.
2. The client restores the dump into the shadow (the dump names no database: ``mysqldump DB``
   without ``--databases`` writes no ``CREATE DATABASE`` / ``USE``, and the client runs with
   ``--one-database``).
3. ``swap()`` (only after the client exited 0 and the core verified the stream) renames, in **one**
   ``RENAME TABLE`` statement, every live table the backup replaces into a second scratch database
   ``<db>__rclone_<random>_old`` and every shadow table into the live database. MariaDB/MySQL
   apply such a statement all or nothing. (The old tables must leave the live database: InnoDB
   foreign-key names are unique per database, and the old and new tables carry the same ones.)
   A table with triggers cannot move to another database, so just before that statement the
   live triggers of the tables being replaced are dropped (they would go with their tables in a
   plain restore too), and re-created if the statement fails; a live view where the backup has a
   table is handled the same way.
4. Then, outside that atomic step: the backup's triggers, views, routines and events are created
   in the live database (they cannot be moved between databases), and foreign keys of live tables
   the backup does not contain are pointed back at the new tables (a rename carries them along).

Tables that exist live but not in the backup are left as they are, as the plain SQL restore does.
``drop()`` removes the shadow database on every path.
"""

# ruff: noqa: S608 - every name and value in the SQL built here goes through ident() / literal()
from __future__ import annotations

import logging
import secrets
import subprocess
import xml.etree.ElementTree as ET
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

from django_rclone.exceptions import DjangoRcloneError
from django_rclone.interrupts import shield

logger = logging.getLogger(__name__)

#: Marks the names this module creates: ``<db>__rclone_<hex>`` databases, ``__rclone_<hex>_<n>`` tables.
MARK = "__rclone_"
#: MariaDB/MySQL limit on database and table names.
MAX_NAME = 64
#: How long the swap waits for other sessions' metadata locks on the live tables (seconds), by default.
LOCK_WAIT_TIMEOUT = 60
#: Longest one helper run of the client may take (seconds); every statement in it waits for locks
#: at most ``lock_timeout``, so only a hung server or network gets here.
CLIENT_TIMEOUT = 3600
_XSI_NIL = "{http://www.w3.org/2001/XMLSchema-instance}nil"
_DELIMITER = ";;"  # as mysqldump writes routines and triggers

Row = dict[str, "str | None"]
#: Runs SQL text through the client tool: ``(script, database or "") -> rows of each result set``.
Runner = Callable[[str, str], list[list[Row]]]


class AtomicRestoreError(DjangoRcloneError):
    """The shadow database could not be created, filled or swapped in."""


def ident(name: str) -> str:
    """``name`` as a quoted identifier."""
    return "`" + name.replace("`", "``") + "`"


def literal(value: str) -> str:
    """``value`` as a string literal: a hex literal, which no ``sql_mode`` (``NO_BACKSLASH_ESCAPES``)
    or character in the value can change the meaning of."""
    return f"_utf8mb4 X'{value.encode().hex()}'"


def grant_pattern(database: str) -> str:
    """The database pattern to grant on so a user may create and drop the shadows of ``database``.

    ``_`` and ``%`` are wildcards in GRANT database names, so the live name is escaped.
    """
    escaped = database.replace("\\", "\\\\").replace("_", "\\_").replace("%", "\\%")
    return f"`{escaped}\\_\\_rclone\\_%`.*"


def parse_xml(text: str) -> list[list[Row]]:
    """The rows of each result set of the client's ``--xml`` output, in order (``None`` for SQL NULL).
    The client writes one XML document per result set; field values are escaped, so a document
    starts only where the client started one."""
    sets: list[list[Row]] = []
    for document in text.split("<?xml")[1:]:
        try:
            root = ET.fromstring("<?xml" + document)  # noqa: S314 - our own client's output, not a backup's content
        except ET.ParseError as exc:
            raise AtomicRestoreError(f"unreadable output from the client ({exc})") from exc
        rows: list[Row] = []
        for row in root.iter("row"):
            rows.append({f.get("name", ""): None if f.get(_XSI_NIL) == "true" else (f.text or "") for f in row})
        sets.append(rows)
    return sets


def run_client(argv: Sequence[str], env: dict[str, str], script: str) -> str:
    """Run the client once with ``script`` on stdin; its stdout, or ``AtomicRestoreError`` with stderr.

    The client gets its own session (a Ctrl-C at the terminal reaches only us) and runs under
    ``shield()``-free code paths: callers decide what may be interrupted.
    """
    try:
        done = subprocess.run(
            list(argv),
            input=script.encode(),
            capture_output=True,
            env=env,
            timeout=CLIENT_TIMEOUT,
            start_new_session=True,
        )
    except (OSError, subprocess.SubprocessError) as exc:
        raise AtomicRestoreError(f"{argv[0]} could not run: {exc}") from exc
    if done.returncode != 0:
        text = done.stderr.decode(errors="replace").strip()
        # The client echoes the failing statement between dashes; the ERROR line says what happened.
        errors = [line.strip() for line in text.splitlines() if line.startswith("ERROR")]
        raise AtomicRestoreError("; ".join(errors) or text or f"exit status {done.returncode}")
    return done.stdout.decode(errors="replace")


@dataclass
class Shadow:
    """One atomic restore of ``live`` through a shadow database."""

    live: str
    run: Runner
    user: str = ""
    alias: str = ""
    lock_timeout: int = LOCK_WAIT_TIMEOUT
    token: str = field(default_factory=lambda: secrets.token_hex(4))
    created: bool = False
    #: What happened after the atomic step, for the error message if a later step fails.
    swapped: bool = False

    @property
    def name(self) -> str:
        return f"{self.live}{MARK}{self.token}"

    @property
    def trash(self) -> str:
        """Where the replaced live tables go in the atomic step, until they are dropped."""
        return f"{self.name}_old"

    def _q(self, query: str, database: str = "") -> list[Row]:
        """The rows of the last result set of ``query`` (nothing for a statement without one)."""
        sets = self.run(query, database)
        return sets[-1] if sets else []

    # -- 1. create (the privilege probe) -------------------------------------------------------
    def create(self) -> None:
        """Create the empty shadow database, or explain which privilege is missing (nothing changed)."""
        if len(self.trash) > MAX_NAME:
            raise AtomicRestoreError(
                f"database name {self.live!r} is too long for an atomic restore (the scratch database "
                f"{self.trash!r} would exceed {MAX_NAME} characters); set ATOMIC_RESTORE: False for "
                f"alias {self.alias!r}. Nothing was changed"
            )
        rows = self._q(
            "SELECT DEFAULT_CHARACTER_SET_NAME AS cs, DEFAULT_COLLATION_NAME AS co FROM information_schema.SCHEMATA "
            f"WHERE SCHEMA_NAME = {literal(self.live)}"
        )
        if not rows:
            raise AtomicRestoreError(
                f"database {self.live!r} does not exist on the server (or user {self.user!r} cannot see it); "
                "create it first. Nothing was changed"
            )
        charset, collation = rows[0]["cs"] or "utf8mb4", rows[0]["co"] or ""
        collate = f" COLLATE {collation}" if collation else ""
        try:
            self.created = True  # from here on drop() tries, whatever part of this fails
            probe = f"{ident(self.name)}.{ident(f'{MARK}probe')}"
            self._q(
                f"CREATE DATABASE {ident(self.name)} CHARACTER SET {charset}{collate}; "
                f"CREATE DATABASE {ident(self.trash)} CHARACTER SET {charset}{collate}; "
                f"CREATE TABLE {probe} (id INT); DROP TABLE {probe}"
            )
        except AtomicRestoreError as exc:
            who = f"'{self.user}'@'...'" if self.user else "the restore user"
            raise AtomicRestoreError(
                f"an atomic restore of {self.alias!r} first restores into a shadow database {self.name!r}, "
                f"which user {self.user or '(default)'!r} may not create ({exc}). Grant it: GRANT ALL PRIVILEGES "
                f"ON {grant_pattern(self.live)} TO {who}; or set ATOMIC_RESTORE: False in "
                f"DJANGO_RCLONE['CONNECTORS'][{self.alias!r}] for a non-atomic restore (the backup is then "
                "checked in full before it is restored). Nothing was changed"
            ) from exc

    # -- 4. drop -------------------------------------------------------------------------------
    def drop(self) -> None:
        """Remove the shadow database (best effort; never raises). Safe to call twice."""
        if not self.created:
            return
        with shield():
            try:
                self._q(
                    "SET SESSION foreign_key_checks = 0; "
                    f"DROP DATABASE IF EXISTS {ident(self.name)}; DROP DATABASE IF EXISTS {ident(self.trash)}"
                )
                self.created = False
            except DjangoRcloneError as exc:
                logger.warning("django-rclone: could not drop the shadow database %s: %s", self.name, exc)

    # -- 3. swap -------------------------------------------------------------------------------
    def swap(self) -> None:
        """Swap the restored tables in atomically, then recreate the schema objects around them."""
        with shield():  # a Ctrl-C between the atomic step and its follow-up would strand old tables
            try:
                plan = self._plan()
            except AtomicRestoreError as exc:
                raise AtomicRestoreError(
                    f"preparing to swap the restored tables into {self.live!r} failed, so nothing was changed: {exc}"
                ) from exc
            try:
                if plan.in_the_way:
                    self._q(plan.clear_script(), self.live)
                if plan.renames:  # a client run costs as much as a small query: none for nothing to do
                    self._q(plan.rename_script(), self.live)
            except AtomicRestoreError as exc:
                if plan.in_the_way:
                    try:
                        self._put_back(plan.in_the_way)
                    except AtomicRestoreError as again:
                        raise AtomicRestoreError(
                            f"swapping the restored tables into {self.live!r} failed ({exc}); its tables were not "
                            f"changed, but re-creating the triggers or views dropped for the swap failed too: {again}"
                        ) from exc
                raise AtomicRestoreError(
                    f"swapping the restored tables into {self.live!r} failed, so nothing was changed: {exc}"
                ) from exc
            self.swapped = True
            if not plan.follow_up:
                return
            try:
                self._q(plan.finish_script(), self.live)
            except AtomicRestoreError as exc:
                raise AtomicRestoreError(
                    f"the restored tables of {self.live!r} were swapped in, but re-creating its views, "
                    f"triggers, routines or events failed: {exc}"
                ) from exc

    def _put_back(self, dropped: Sequence[_Created | _View]) -> None:
        """Re-create the live triggers and views ``clear_script`` dropped, those that are gone."""
        triggers = {str(r["n"]) for r in self._q(_triggers_query(self.live))}
        tables = set(self._objects(self.live))
        missing = [obj for obj in dropped if obj.name not in (tables if isinstance(obj, _View) else triggers)]
        if missing:
            self._q("\n".join(obj.script() for obj in missing), self.live)

    def _objects(self, schema: str) -> dict[str, str]:
        return {str(r["n"]): str(r["t"]) for r in self._q(_objects_query(schema))}

    def _sets(self, queries: Sequence[str], database: str = "") -> list[list[Row]]:
        """Run ``queries`` in **one** client run and return the rows of each one that has a result set
        (SELECT, SHOW; ``USE`` and ``DROP`` have none), in order."""
        sets = self.run(";\n".join(queries), database)
        expected = sum(1 for query in queries if not query.startswith(_NO_RESULT))
        if len(sets) != expected:
            raise AtomicRestoreError(f"expected {expected} result sets from the client, got {len(sets)}")
        return sets

    def _plan(self) -> _SwapPlan:
        """What the swap moves and re-creates, read from the catalogue: every list in one client run,
        and the definitions of views, triggers, routines and events (when there are any) in a second
        one. A client start costs about as much as a small query, so a restore pays for one or two,
        not one per object."""
        shadow_objects, live_objects, shadow_triggers, live_triggers, routines, events, keys = self._sets(
            [
                _objects_query(self.name),
                _objects_query(self.live),
                _triggers_query(self.name),
                _triggers_query(self.live),
                "SELECT ROUTINE_NAME AS n, ROUTINE_TYPE AS t FROM information_schema.ROUTINES "
                f"WHERE ROUTINE_SCHEMA = {literal(self.name)} AND ROUTINE_TYPE IN ('PROCEDURE', 'FUNCTION') "
                "ORDER BY ROUTINE_TYPE, ROUTINE_NAME",
                f"SELECT EVENT_NAME AS n FROM information_schema.EVENTS WHERE EVENT_SCHEMA = {literal(self.name)}",
                _foreign_keys_query(self.live),
            ]
        )
        shadow = {str(r["n"]): str(r["t"]) for r in shadow_objects}
        live = {str(r["n"]): str(r["t"]) for r in live_objects}
        tables = sorted(n for n, t in shadow.items() if t != "VIEW")
        views = sorted(n for n, t in shadow.items() if t == "VIEW")
        plan = _SwapPlan(live=self.live, shadow=self.name, lock_timeout=self.lock_timeout)
        # Live tables that must leave their name: every one a backup table takes over, and base
        # tables where the backup has a view (a live view is replaced by CREATE OR REPLACE). A live
        # view where the backup has a table cannot move to another database: it is dropped.
        leaving = sorted({n for n in (*tables, *views) if live.get(n, "VIEW") != "VIEW"})
        for name in leaving:
            plan.renames.append((self.live, name, self.trash, name))
        for name in tables:
            plan.renames.append((self.name, name, self.live, name))
        plan.foreign_keys = _kept_foreign_keys(keys, set(live) - set(shadow), set(leaving))
        # The definitions, each read with SHOW CREATE in its own database (so its text names none).
        reads = _Definitions()
        reads.use(self.name)
        triggers = [reads.trigger(str(r["n"])) for r in shadow_triggers]
        new_views = [reads.view(name, self.name) for name in views]
        routine_reads = [reads.routine(str(r["t"]), str(r["n"])) for r in routines]
        event_reads = [reads.event(str(r["n"])) for r in events]
        # A table with triggers cannot move to another database: drop them from the shadow once read
        # (they are re-created in the live database right after the swap).
        reads.queries += [f"DROP TRIGGER IF EXISTS {ident(str(r['n']))}" for r in shadow_triggers]
        reads.use(self.live)
        in_the_way = [reads.view(n, self.live) for n in tables if live.get(n) == "VIEW"]
        in_the_way += [reads.trigger(str(r["n"])) for r in live_triggers if str(r["t"]) in leaving]
        if reads.results:
            sets = self._sets(reads.queries)
            plan.triggers = [read(sets) for read in triggers]
            plan.views = [read(sets) for read in new_views]
            plan.routines = [read(sets) for read in routine_reads]
            plan.events = [read(sets) for read in event_reads]
            plan.in_the_way = [read(sets) for read in in_the_way]
        return plan


#: Statements that return no result set (``Shadow._sets`` counts the others).
_NO_RESULT = ("USE ", "DROP ")


def _objects_query(schema: str) -> str:
    return (
        f"SELECT TABLE_NAME AS n, TABLE_TYPE AS t FROM information_schema.TABLES WHERE TABLE_SCHEMA = {literal(schema)}"
    )


def _triggers_query(schema: str) -> str:
    """Every trigger of ``schema`` with its table, in firing order."""
    return (
        "SELECT TRIGGER_NAME AS n, EVENT_OBJECT_TABLE AS t FROM information_schema.TRIGGERS "
        f"WHERE TRIGGER_SCHEMA = {literal(schema)} "
        "ORDER BY EVENT_OBJECT_TABLE, EVENT_MANIPULATION, ACTION_TIMING, ACTION_ORDER"
    )


def _foreign_keys_query(schema: str) -> str:
    """Every foreign key column of ``schema`` that references a table of ``schema``."""
    return (
        "SELECT k.TABLE_NAME AS t, k.CONSTRAINT_NAME AS c, k.COLUMN_NAME AS col, k.REFERENCED_TABLE_NAME AS rt, "
        "k.REFERENCED_COLUMN_NAME AS rc, r.UPDATE_RULE AS upd, r.DELETE_RULE AS del "
        "FROM information_schema.KEY_COLUMN_USAGE k JOIN information_schema.REFERENTIAL_CONSTRAINTS r "
        "ON r.CONSTRAINT_SCHEMA = k.CONSTRAINT_SCHEMA AND r.CONSTRAINT_NAME = k.CONSTRAINT_NAME "
        "AND r.TABLE_NAME = k.TABLE_NAME "
        f"WHERE k.TABLE_SCHEMA = {literal(schema)} AND k.REFERENCED_TABLE_SCHEMA = {literal(schema)} "
        "ORDER BY k.TABLE_NAME, k.CONSTRAINT_NAME, k.ORDINAL_POSITION"
    )


def _kept_foreign_keys(rows: list[Row], kept: set[str], replaced: set[str]) -> list[_ForeignKey]:
    """Foreign keys of live tables the backup leaves alone that point at tables it replaces.

    A rename carries such a key along to the old table; they are pointed back after the swap.
    """
    keys: dict[tuple[str, str], _ForeignKey] = {}
    for row in rows:
        table, target = str(row["t"]), str(row["rt"])
        if table not in kept or target not in replaced:
            continue
        key = keys.setdefault(
            (table, str(row["c"])),
            _ForeignKey(table, str(row["c"]), target, str(row["upd"]), str(row["del"])),
        )
        key.columns.append(str(row["col"]))
        key.referenced.append(str(row["rc"]))
    return list(keys.values())


#: Builds one definition from the result sets of a ``_Definitions`` batch.
_Read = Callable[[list[list[Row]]], Any]


@dataclass
class _Definitions:
    """The SHOW CREATE queries of one batch, and how to read each object back from its results."""

    queries: list[str] = field(default_factory=list)
    #: Result sets the batch returns so far.
    results: int = 0

    def use(self, schema: str) -> None:
        self.queries.append(f"USE {ident(schema)}")

    def _query(self, query: str) -> int:
        """Add a query that returns one result set; its position among the batch's results."""
        self.queries.append(query)
        self.results += 1
        return self.results - 1

    def trigger(self, name: str) -> _Read:
        at = self._query(f"SHOW CREATE TRIGGER {ident(name)}")

        def read(sets: list[list[Row]]) -> _Created:
            (info,) = sets[at]
            statement = str(info["SQL Original Statement"])
            remove = f"DROP TRIGGER IF EXISTS {ident(name)}"
            return _Created(name, statement, info.get("sql_mode"), info.get("collation_connection"), remove=remove)

        return read

    def view(self, name: str, schema: str) -> _Read:
        at = self._query(f"SHOW CREATE VIEW {ident(name)}")
        self._query(
            "SELECT COLUMN_NAME AS c FROM information_schema.COLUMNS "
            f"WHERE TABLE_SCHEMA = {literal(schema)} AND TABLE_NAME = {literal(name)} ORDER BY ORDINAL_POSITION"
        )

        def read(sets: list[list[Row]]) -> _View:
            (info,) = sets[at]
            statement = str(info["Create View"])
            if statement.startswith("CREATE "):
                statement = "CREATE OR REPLACE " + statement[len("CREATE ") :]
            columns = [str(c["c"]) for c in sets[at + 1]]
            return _View(name, statement, info.get("collation_connection"), columns)

        return read

    def routine(self, kind: str, name: str) -> _Read:
        kind = "PROCEDURE" if kind == "PROCEDURE" else "FUNCTION"
        at = self._query(f"SHOW CREATE {kind} {ident(name)}")

        def read(sets: list[list[Row]]) -> _Created:
            (info,) = sets[at]
            statement = str(info["Create Procedure" if kind == "PROCEDURE" else "Create Function"])
            drop = f"DROP {kind} IF EXISTS {ident(name)}"
            return _Created(name, statement, info.get("sql_mode"), info.get("collation_connection"), drop=drop)

        return read

    def event(self, name: str) -> _Read:
        at = self._query(f"SHOW CREATE EVENT {ident(name)}")

        def read(sets: list[list[Row]]) -> _Created:
            (info,) = sets[at]
            return _Created(
                name,
                str(info["Create Event"]),
                info.get("sql_mode"),
                info.get("collation_connection"),
                drop=f"DROP EVENT IF EXISTS {ident(name)}",
                time_zone=info.get("time_zone"),
            )

        return read


@dataclass
class _Created:
    """A schema object re-created from its ``SHOW CREATE`` text, with the session settings it needs."""

    name: str
    statement: str
    sql_mode: str | None
    collation: str | None
    drop: str = ""
    time_zone: str | None = None
    #: The statement that removes it (to clear a live trigger out of the way of the swap).
    remove: str = ""

    def script(self) -> str:
        lines = []
        if self.drop:
            lines.append(f"{self.drop};")
        if self.sql_mode is not None:
            lines.append(f"SET SESSION sql_mode = {literal(self.sql_mode)};")
        if self.collation:
            lines.append(f"SET SESSION collation_connection = {literal(self.collation)};")
        if self.time_zone:
            lines.append(f"SET SESSION time_zone = {literal(self.time_zone)};")
        lines += [f"DELIMITER {_DELIMITER}", f"{self.statement}{_DELIMITER}", "DELIMITER ;"]
        return "\n".join(lines)


@dataclass
class _View:
    name: str
    statement: str
    collation: str | None
    columns: list[str]

    @property
    def remove(self) -> str:
        return f"DROP VIEW IF EXISTS {ident(self.name)}"

    def stand_in(self) -> str:
        """A view with the right column names, so views built on views can be created in any order."""
        columns = ", ".join(f"1 AS {ident(c)}" for c in self.columns) or "1 AS `x`"
        return f"CREATE OR REPLACE VIEW {ident(self.name)} AS SELECT {columns};"

    def script(self) -> str:
        collate = f"SET SESSION collation_connection = {literal(self.collation)};\n" if self.collation else ""
        return f"{collate}{self.statement};"


@dataclass
class _ForeignKey:
    table: str
    name: str
    target: str
    on_update: str
    on_delete: str
    columns: list[str] = field(default_factory=list)
    referenced: list[str] = field(default_factory=list)

    def script(self) -> str:
        cols = ", ".join(ident(c) for c in self.columns)
        refs = ", ".join(ident(c) for c in self.referenced)
        return (
            f"ALTER TABLE {ident(self.table)} DROP FOREIGN KEY {ident(self.name)};\n"
            f"ALTER TABLE {ident(self.table)} ADD CONSTRAINT {ident(self.name)} FOREIGN KEY ({cols}) "
            f"REFERENCES {ident(self.target)} ({refs}) ON DELETE {self.on_delete} ON UPDATE {self.on_update};"
        )


@dataclass
class _SwapPlan:
    live: str
    shadow: str
    lock_timeout: int = LOCK_WAIT_TIMEOUT
    renames: list[tuple[str, str, str, str]] = field(default_factory=list)
    #: Live triggers and views that cannot move to another database, dropped just before the swap.
    in_the_way: list[_Created | _View] = field(default_factory=list)
    foreign_keys: list[_ForeignKey] = field(default_factory=list)
    triggers: list[_Created] = field(default_factory=list)
    views: list[_View] = field(default_factory=list)
    routines: list[_Created] = field(default_factory=list)
    events: list[_Created] = field(default_factory=list)

    def rename_script(self) -> str:
        """The atomic step: one RENAME TABLE for every table (nothing to do for a view-only backup)."""
        if not self.renames:
            return "DO 0;"
        pairs = ",\n  ".join(f"{ident(a)}.{ident(b)} TO {ident(c)}.{ident(d)}" for a, b, c, d in self.renames)
        return f"SET SESSION lock_wait_timeout = {self.lock_timeout};\nRENAME TABLE\n  {pairs};"

    def clear_script(self) -> str:
        lines = [f"SET SESSION lock_wait_timeout = {self.lock_timeout};"]
        return "\n".join([*lines, *(f"{obj.remove};" for obj in self.in_the_way)])

    @property
    def follow_up(self) -> bool:
        """Whether anything is re-created after the atomic step (else ``finish_script`` only sets
        session variables, and the client is not started for it)."""
        return bool(self.foreign_keys or self.views or self.triggers or self.routines or self.events)

    def finish_script(self) -> str:
        """Everything after the atomic step, run in the live database (the old tables are dropped
        with the scratch database afterwards)."""
        parts = ["SET SESSION foreign_key_checks = 0;", f"SET SESSION lock_wait_timeout = {self.lock_timeout};"]
        parts += [key.script() for key in self.foreign_keys]
        parts += [view.stand_in() for view in self.views]
        parts += [view.script() for view in self.views]
        parts += [obj.script() for obj in (*self.triggers, *self.routines, *self.events)]
        return "\n".join(parts)
