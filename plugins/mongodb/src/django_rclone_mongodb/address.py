"""Where the MongoDB server is: ``--host`` arguments, or a connection-string URI.

A Django setting ``HOST`` is either a host name (``db.example.com``), a host with its port, a
replica-set seed list (``rs0/db1:27017,db2:27017``), or a full connection string
(``mongodb://...`` / ``mongodb+srv://...``, as the official ``django_mongodb_backend`` documents).
URIs can carry credentials, so they are never put in argv (see ``yaml_config``).
"""

from __future__ import annotations

from urllib.parse import unquote

URI_SCHEMES = ("mongodb://", "mongodb+srv://")
DEFAULT_HOST = "localhost"


def is_uri(host: str) -> bool:
    """True when ``host`` is a MongoDB connection string rather than a host name."""
    return host.strip().lower().startswith(URI_SCHEMES)


def uri_database(uri: str) -> str:
    """The database named in a connection string's path (``mongodb://h/<db>?...``), or ""."""
    rest = uri.split("://", 1)[1] if "://" in uri else uri
    _hosts, slash, path = rest.partition("/")
    if not slash:
        return ""
    return unquote(path.split("?", 1)[0])


def host_argument(host: str, port: str) -> list[str]:
    """``--host`` (and if needed ``--port``) arguments for a host that is not a URI.

    A single host without a port becomes ``--host=HOST:PORT``; a seed list or replica-set spec keeps
    its own form and gets ``--port`` (the tools apply it to members without a port); an IPv6
    literal is bracketed before a port is added.
    """
    host = host.strip() or DEFAULT_HOST
    port = str(port).strip()
    if not port:
        return [f"--host={host}"]
    if "/" in host or "," in host:
        return [f"--host={host}", f"--port={port}"]
    if host.startswith("["):
        has_port = "]:" in host
    elif host.count(":") > 1:  # bare IPv6 literal such as ::1
        host, has_port = f"[{host}]", False
    else:
        has_port = ":" in host
    return [f"--host={host}" if has_port else f"--host={host}:{port}"]
