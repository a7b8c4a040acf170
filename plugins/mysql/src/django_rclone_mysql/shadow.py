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
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field

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
#: Runs SQL text through the client tool: ``(script, database or "") -> rows of the last result set``.
Runner = Callable[[str, str], list[Row]]


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


def parse_xml(text: str) -> list[Row]:
    """Rows of the client's ``--xml`` output (the last result set; ``None`` for SQL NULL)."""
    text = text.rpartition("<?xml")[2]  # one XML document per result set: keep the last
    if not text.strip():
        return []
    try:
        root = ET.fromstring("<?xml" + text)  # noqa: S314 - our own client's output, not a backup's content
    except ET.ParseError as exc:
        raise AtomicRestoreError(f"unreadable output from the client ({exc})") from exc
    rows: list[Row] = []
    for row in root.iter("row"):
        rows.append({f.get("name", ""): None if f.get(_XSI_NIL) == "true" else (f.text or "") for f in row})
    return rows


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
        return self.run(query, database)

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
            try:
                self._q(plan.finish_script(), self.live)
            except AtomicRestoreError as exc:
                raise AtomicRestoreError(
                    f"the restored tables of {self.live!r} were swapped in, but re-creating its views, "
                    f"triggers, routines or events failed: {exc}"
                ) from exc

    def _put_back(self, dropped: Sequence[_Created | _View]) -> None:
        """Re-create the live triggers and views ``clear_script`` dropped, those that are gone."""
        triggers = {
            str(r["n"])
            for r in self._q(
                f"SELECT TRIGGER_NAME AS n FROM information_schema.TRIGGERS WHERE TRIGGER_SCHEMA = {literal(self.live)}"
            )
        }
        tables = set(self._objects(self.live))
        missing = [obj for obj in dropped if obj.name not in (tables if isinstance(obj, _View) else triggers)]
        if missing:
            self._q("\n".join(obj.script() for obj in missing), self.live)

    def _objects(self, schema: str) -> dict[str, str]:
        rows = self._q(
            "SELECT TABLE_NAME AS n, TABLE_TYPE AS t FROM information_schema.TABLES "
            f"WHERE TABLE_SCHEMA = {literal(schema)}"
        )
        return {str(r["n"]): str(r["t"]) for r in rows}

    def _plan(self) -> _SwapPlan:
        # Read-only catalogue queries, one client run each: those that do not depend on one another
        # run side by side (two rounds instead of seven client starts one after the other).
        with ThreadPoolExecutor(5, thread_name_prefix="django-rclone-shadow") as pool:
            shadow_objects = pool.submit(self._objects, self.name)
            live_objects = pool.submit(self._objects, self.live)
            triggers = pool.submit(self._triggers, self.name)
            routines = pool.submit(self._routines)
            events = pool.submit(self._events)
            shadow, live = shadow_objects.result(), live_objects.result()
            plan = self._plan_renames(shadow, live, pool)
            plan.triggers, plan.routines, plan.events = triggers.result(), routines.result(), events.result()
        if plan.triggers:
            # A table with triggers cannot move to another database: drop them from the shadow
            # (they are re-created in the live database right after the swap).
            self._q("; ".join(t.remove for t in plan.triggers), self.name)
        return plan

    def _plan_renames(self, shadow: dict[str, str], live: dict[str, str], pool: ThreadPoolExecutor) -> _SwapPlan:
        tables = sorted(n for n, t in shadow.items() if t != "VIEW")
        views = sorted(n for n, t in shadow.items() if t == "VIEW")
        plan = _SwapPlan(live=self.live, shadow=self.name, lock_timeout=self.lock_timeout)
        # Live tables that must leave their name: every one a backup table takes over, and base
        # tables where the backup has a view (a live view is replaced by CREATE OR REPLACE). A live
        # view where the backup has a table cannot move to another database: it is dropped.
        leaving = sorted({n for n in (*tables, *views) if live.get(n, "VIEW") != "VIEW"})
        for name in leaving:
            plan.renames.append((self.live, name, self.trash, name))
        live_views = [pool.submit(self._view, n, self.live) for n in tables if live.get(n) == "VIEW"]
        live_triggers = pool.submit(self._triggers, self.live, leaving)
        foreign_keys = pool.submit(self._kept_foreign_keys, set(live) - set(shadow), set(leaving))
        shadow_views = [pool.submit(self._view, name, self.name) for name in views]
        for name in tables:
            plan.renames.append((self.name, name, self.live, name))
        plan.in_the_way = [view.result() for view in live_views]
        plan.in_the_way += live_triggers.result()
        plan.foreign_keys = foreign_keys.result()
        plan.views = [view.result() for view in shadow_views]
        return plan

    def _kept_foreign_keys(self, kept: set[str], replaced: set[str]) -> list[_ForeignKey]:
        """Foreign keys of live tables the backup leaves alone that point at tables it replaces.

        A rename carries such a key along to the old table; they are pointed back after the swap.
        """
        if not kept or not replaced:
            return []
        rows = self._q(
            "SELECT k.TABLE_NAME AS t, k.CONSTRAINT_NAME AS c, k.COLUMN_NAME AS col, k.REFERENCED_TABLE_NAME AS rt, "
            "k.REFERENCED_COLUMN_NAME AS rc, r.UPDATE_RULE AS upd, r.DELETE_RULE AS del "
            "FROM information_schema.KEY_COLUMN_USAGE k JOIN information_schema.REFERENTIAL_CONSTRAINTS r "
            "ON r.CONSTRAINT_SCHEMA = k.CONSTRAINT_SCHEMA AND r.CONSTRAINT_NAME = k.CONSTRAINT_NAME "
            "AND r.TABLE_NAME = k.TABLE_NAME "
            f"WHERE k.TABLE_SCHEMA = {literal(self.live)} AND k.REFERENCED_TABLE_SCHEMA = {literal(self.live)} "
            "ORDER BY k.TABLE_NAME, k.CONSTRAINT_NAME, k.ORDINAL_POSITION"
        )
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

    def _triggers(self, schema: str, tables: Sequence[str] | None = None) -> list[_Created]:
        """The triggers of ``schema`` (of ``tables`` only, when given), in firing order."""
        if tables is not None and not tables:
            return []
        only = f" AND EVENT_OBJECT_TABLE IN ({', '.join(literal(t) for t in tables)})" if tables else ""
        rows = self._q(
            "SELECT TRIGGER_NAME AS n FROM information_schema.TRIGGERS "
            f"WHERE TRIGGER_SCHEMA = {literal(schema)}{only} "
            "ORDER BY EVENT_OBJECT_TABLE, EVENT_MANIPULATION, ACTION_TIMING, ACTION_ORDER"
        )
        found = []
        for row in rows:
            name = str(row["n"])
            (info,) = self._q(f"SHOW CREATE TRIGGER {ident(name)}", schema)
            found.append(
                _Created(
                    name,
                    str(info["SQL Original Statement"]),
                    info.get("sql_mode"),
                    info.get("collation_connection"),
                    remove=f"DROP TRIGGER IF EXISTS {ident(name)}",
                )
            )
        return found

    def _view(self, name: str, schema: str) -> _View:
        (info,) = self._q(f"SHOW CREATE VIEW {ident(name)}", schema)
        columns = self._q(
            "SELECT COLUMN_NAME AS c FROM information_schema.COLUMNS "
            f"WHERE TABLE_SCHEMA = {literal(schema)} AND TABLE_NAME = {literal(name)} ORDER BY ORDINAL_POSITION"
        )
        statement = str(info["Create View"])
        if statement.startswith("CREATE "):
            statement = "CREATE OR REPLACE " + statement[len("CREATE ") :]
        return _View(name, statement, info.get("collation_connection"), [str(c["c"]) for c in columns])

    def _routines(self) -> list[_Created]:
        rows = self._q(
            "SELECT ROUTINE_NAME AS n, ROUTINE_TYPE AS t FROM information_schema.ROUTINES "
            f"WHERE ROUTINE_SCHEMA = {literal(self.name)} AND ROUTINE_TYPE IN ('PROCEDURE', 'FUNCTION') "
            "ORDER BY ROUTINE_TYPE, ROUTINE_NAME"
        )
        found = []
        for row in rows:
            kind, name = str(row["t"]), str(row["n"])
            (info,) = self._q(f"SHOW CREATE {kind} {ident(name)}", self.name)
            column = "Create Procedure" if kind == "PROCEDURE" else "Create Function"
            found.append(
                _Created(
                    name,
                    str(info[column]),
                    info.get("sql_mode"),
                    info.get("collation_connection"),
                    drop=f"DROP {kind} IF EXISTS {ident(name)}",
                )
            )
        return found

    def _events(self) -> list[_Created]:
        rows = self._q(
            f"SELECT EVENT_NAME AS n FROM information_schema.EVENTS WHERE EVENT_SCHEMA = {literal(self.name)}"
        )
        found = []
        for row in rows:
            name = str(row["n"])
            (info,) = self._q(f"SHOW CREATE EVENT {ident(name)}", self.name)
            found.append(
                _Created(
                    name,
                    str(info["Create Event"]),
                    info.get("sql_mode"),
                    info.get("collation_connection"),
                    drop=f"DROP EVENT IF EXISTS {ident(name)}",
                    time_zone=info.get("time_zone"),
                )
            )
        return found


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

    def finish_script(self) -> str:
        """Everything after the atomic step, run in the live database (the old tables are dropped
        with the scratch database afterwards)."""
        parts = ["SET SESSION foreign_key_checks = 0;", f"SET SESSION lock_wait_timeout = {self.lock_timeout};"]
        parts += [key.script() for key in self.foreign_keys]
        parts += [view.stand_in() for view in self.views]
        parts += [view.script() for view in self.views]
        parts += [obj.script() for obj in (*self.triggers, *self.routines, *self.events)]
        return "\n".join(parts)
