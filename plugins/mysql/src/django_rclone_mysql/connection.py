"""Connection flags shared by the dump and the restore tool.

Translates a Django ``DATABASES`` entry (as the mysqlclient driver reads it) into client flags:
TCP host and port, or a unix socket when ``HOST`` starts with ``/`` (Django's own rule) or
``OPTIONS['unix_socket']`` is set; the user; the transfer character set; and the TLS options of
``OPTIONS['ssl']`` / ``OPTIONS['ssl_mode']``. The password is not a flag: see ``option_file``.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from django.core.exceptions import ImproperlyConfigured

from django_rclone_mysql.tools import Flavor

#: ``OPTIONS['ssl']`` keys (mysqlclient's names) and the client flag each becomes.
SSL_FILE_FLAGS = {
    "ca": "--ssl-ca",
    "capath": "--ssl-capath",
    "cert": "--ssl-cert",
    "key": "--ssl-key",
    "cipher": "--ssl-cipher",
    "crl": "--ssl-crl",
    "crlpath": "--ssl-crlpath",
}
SSL_MODES = ("DISABLED", "PREFERRED", "REQUIRED", "VERIFY_CA", "VERIFY_IDENTITY")
#: MariaDB's clients have no ``--ssl-mode``; the closest flags for each mode.
#: ``--ssl`` asks for TLS but (in MariaDB 10.x clients) still accepts a plain connection;
#: ``--ssl-verify-server-cert`` refuses plain connections and checks the certificate and host name.
MARIADB_SSL_MODE_FLAGS: dict[str, list[str]] = {
    "DISABLED": ["--skip-ssl"],
    "PREFERRED": [],
    "REQUIRED": ["--ssl"],
    "VERIFY_CA": ["--ssl", "--ssl-verify-server-cert"],
    "VERIFY_IDENTITY": ["--ssl", "--ssl-verify-server-cert"],
}


def socket_path(host: str, options: Mapping[str, Any]) -> str:
    """The unix socket to use, or "" for TCP (or the client's default socket).

    Like mysqlclient: ``OPTIONS['unix_socket']`` applies when the host is empty or ``localhost``.
    """
    if host.startswith("/"):
        return host
    return str(options.get("unix_socket") or "") if host in ("", "localhost") else ""


def ssl_flags(options: Mapping[str, Any], flavor: Callable[[], Flavor]) -> list[str]:
    """Client flags for ``OPTIONS['ssl']`` and ``OPTIONS['ssl_mode']``.

    ``flavor`` is only called when a mode is set, because only the mode's flags differ between MySQL
    and MariaDB clients (asking costs running ``--version``).
    """
    flags: list[str] = []
    ssl = options.get("ssl") or {}
    if not isinstance(ssl, Mapping):
        raise ImproperlyConfigured("DATABASES OPTIONS['ssl'] must be a dict such as {'ca': '/path/ca.pem'}.")
    for key, flag in SSL_FILE_FLAGS.items():
        if ssl.get(key):
            flags.append(f"{flag}={ssl[key]}")
    mode = str(options.get("ssl_mode") or "").upper()
    if not mode:
        return flags
    if mode not in SSL_MODES:
        raise ImproperlyConfigured(f"DATABASES OPTIONS['ssl_mode'] is {mode!r}; use one of {', '.join(SSL_MODES)}.")
    if flavor() == "mysql":
        return [*flags, f"--ssl-mode={mode}"]
    return [*flags, *MARIADB_SSL_MODE_FLAGS[mode]]


def connection_flags(
    *,
    host: str,
    port: str,
    user: str,
    charset: str,
    options: Mapping[str, Any],
    flavor: Callable[[], Flavor],
) -> list[str]:
    """Flags (no secrets) that connect a client tool the way Django's MySQL backend connects."""
    flags: list[str] = []
    socket = socket_path(host, options)
    if socket:
        flags.append(f"--socket={socket}")
    else:
        if host:
            flags.append(f"--host={host}")
        if port:
            flags.append(f"--port={port}")
    if user:
        flags.append(f"--user={user}")
    if charset:
        flags.append(f"--default-character-set={charset}")
    return [*flags, *ssl_flags(options, flavor)]
