"""What projects arriving from django-dbbackup, django-snapshots and django-rclone 0.1.0 have in their
settings, and its django-rclone equivalent.

- ``CONNECTOR_PATHS``: connector classes of django-dbbackup and django-snapshots, by dotted path,
  and the django-rclone connector that does the same job. Resolution accepts the old path in
  ``CONNECTORS`` / ``CONNECTOR_MAPPING`` with a ``LegacySettingWarning`` naming ours.
- ``ENGINE_FAMILIES``: how an ENGINE that no mapping or plugin names is matched by the family its
  name contains (``timescale.db.backends.postgresql`` is PostgreSQL), as django-snapshots does.

The module imports nothing from Django or the plugins, so checks and commands can read it freely.
"""

from __future__ import annotations

from dataclasses import dataclass

PG_CUSTOM = "django_rclone_postgres.connectors.PgDumpConnector"
PG_SQL = "django_rclone_postgres.connectors.PgDumpSqlConnector"
PG_GIS_CUSTOM = "django_rclone_postgres.connectors.PgDumpGisConnector"
PG_GIS_SQL = "django_rclone_postgres.connectors.PgDumpGisSqlConnector"
MYSQL = "django_rclone_mysql.connectors.MysqlDumpConnector"
SQLITE_DUMP = "django_rclone_sqlite.connectors.SqliteConnector"
SQLITE_BACKUP = "django_rclone_sqlite.rawconnectors.SqliteBackupConnector"
SQLITE_COPY = "django_rclone_sqlite.rawconnectors.SqliteCPConnector"
MONGO = "django_rclone_mongodb.connectors.MongoDumpConnector"
DUMPDATA = "django_rclone.db.django.DjangoDumpDataConnector"


class LegacySettingWarning(UserWarning):
    """A setting written for django-dbbackup or django-snapshots was translated; update it."""


#: django-dbbackup connector paths (``dbbackup.db.<module>.<Class>``) and ours. dbbackup's
#: ``PgDumpConnector`` is plain SQL replayed by psql (our ``PgDumpSqlConnector``); its binary one
#: (``PgDumpBinaryConnector``, custom format and pg_restore) is our ``PgDumpConnector``.
DBBACKUP_CONNECTORS: dict[str, str] = {
    "dbbackup.db.postgresql.PgDumpBinaryConnector": PG_CUSTOM,
    "dbbackup.db.postgresql.PgDumpConnector": PG_SQL,
    "dbbackup.db.postgresql.PgDumpGisConnector": PG_GIS_SQL,
    "dbbackup.db.mysql.MysqlDumpConnector": MYSQL,
    "dbbackup.db.sqlite.SqliteConnector": SQLITE_DUMP,
    "dbbackup.db.sqlite.SqliteBackupConnector": SQLITE_BACKUP,
    "dbbackup.db.sqlite.SqliteCPConnector": SQLITE_COPY,
    "dbbackup.db.mongodb.MongoDumpConnector": MONGO,
    "dbbackup.db.django.DjangoConnector": DUMPDATA,
}

#: django-snapshots connector classes by class name (exported from ``django_snapshots`` and from
#: ``django_snapshots.connectors.<module>``), and ours.
SNAPSHOTS_CONNECTORS: dict[str, str] = {
    "SQLiteConnector": SQLITE_DUMP,
    "PostgresConnector": PG_SQL,
    "MySQLConnector": MYSQL,
    "DjangoDumpDataConnector": DUMPDATA,
}


def translate_connector_path(path: str) -> str | None:
    """Our connector for a django-dbbackup or django-snapshots connector path; ``None`` if not one."""
    if path in DBBACKUP_CONNECTORS:
        return DBBACKUP_CONNECTORS[path]
    if path.startswith("django_snapshots."):
        return SNAPSHOTS_CONNECTORS.get(path.rsplit(".", 1)[-1])
    return None


@dataclass(frozen=True)
class EngineFamily:
    """Engines whose name contains one of ``words`` are served like ``engine``."""

    name: str
    words: tuple[str, ...]
    engine: str
    package: str


#: Checked in order: the first family whose word appears in the ENGINE (lower-cased) wins, so the
#: GIS families come before the plain ones.
ENGINE_FAMILIES: tuple[EngineFamily, ...] = (
    EngineFamily("postgis", ("postgis",), "django.contrib.gis.db.backends.postgis", "django-rclone-postgres"),
    EngineFamily(
        "postgresql", ("postgres", "psycopg", "timescale"), "django.db.backends.postgresql", "django-rclone-postgres"
    ),
    EngineFamily("spatialite", ("spatialite",), "django.contrib.gis.db.backends.spatialite", "django-rclone-sqlite"),
    EngineFamily("sqlite", ("sqlite",), "django.db.backends.sqlite3", "django-rclone-sqlite"),
    EngineFamily("mysql", ("mysql", "mariadb"), "django.db.backends.mysql", "django-rclone-mysql"),
    EngineFamily("mongodb", ("mongo", "djongo"), "django_mongodb_backend", "django-rclone-mongodb"),
)


def engine_family(engine: str) -> EngineFamily | None:
    """The family an ENGINE's name belongs to, or ``None``."""
    lowered = engine.lower()
    for family in ENGINE_FAMILIES:
        if any(word in lowered for word in family.words):
            return family
    return None
