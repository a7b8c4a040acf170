"""Map Django's ``DATABASES[alias]["OPTIONS"]`` onto libpq environment variables.

pg_dump, pg_restore and psql are libpq programs: they do not accept psycopg's connection keywords
on the command line without building a connection string (which would be one more place a secret
could leak), but every libpq keyword has an environment variable. Keywords that are not libpq's own
(``isolation_level``, ``pool``, ``server_side_binding``, ``assume_role``...) only concern the Django
driver and are ignored here.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

#: libpq connection keyword -> the environment variable libpq reads for it.
LIBPQ_ENV: dict[str, str] = {
    "sslmode": "PGSSLMODE",
    "sslrootcert": "PGSSLROOTCERT",
    "sslcert": "PGSSLCERT",
    "sslkey": "PGSSLKEY",
    "sslcrl": "PGSSLCRL",
    "sslcrldir": "PGSSLCRLDIR",
    "sslsni": "PGSSLSNI",
    "sslcompression": "PGSSLCOMPRESSION",
    "ssl_min_protocol_version": "PGSSLMINPROTOCOLVERSION",
    "ssl_max_protocol_version": "PGSSLMAXPROTOCOLVERSION",
    "requirepeer": "PGREQUIREPEER",
    "gssencmode": "PGGSSENCMODE",
    "krbsrvname": "PGKRBSRVNAME",
    "gsslib": "PGGSSLIB",
    "channel_binding": "PGCHANNELBINDING",
    "require_auth": "PGREQUIREAUTH",
    "connect_timeout": "PGCONNECT_TIMEOUT",
    "application_name": "PGAPPNAME",
    "options": "PGOPTIONS",
    "client_encoding": "PGCLIENTENCODING",
    "target_session_attrs": "PGTARGETSESSIONATTRS",
    "load_balance_hosts": "PGLOADBALANCEHOSTS",
    "hostaddr": "PGHOSTADDR",
    "service": "PGSERVICE",
    "passfile": "PGPASSFILE",
}


def libpq_environment(options: Mapping[str, Any]) -> dict[str, str]:
    """Environment variables for the libpq keywords among ``options`` (others are skipped).

    Booleans become ``1``/``0`` (libpq's spelling for ``sslcompression`` and ``sslsni``);
    ``None`` values are left out so a setting can be switched off per alias.
    """
    env: dict[str, str] = {}
    for key, value in options.items():
        var = LIBPQ_ENV.get(str(key).lower())
        if var is None or value is None:
            continue
        env[var] = ("1" if value else "0") if isinstance(value, bool) else str(value)
    return env
