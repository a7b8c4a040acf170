"""Client option files that carry the password, so it never appears in a command line.

Both MySQL and MariaDB clients read ``--defaults-extra-file=PATH`` (it must be their first
argument) on top of their usual option files. The password goes in a ``[client]`` group as a
double-quoted value; the option-file parser of both families understands the backslash escapes
used here, and quoting keeps leading/trailing spaces and ``#`` (a comment start) in the password.

Why a file rather than ``MYSQL_PWD``: MySQL 8.0 deprecates that variable (MariaDB keeps it), an
environment variable is inherited by every process the tool or a prefix wrapper starts, and the file
is private to its owner (0600 in a 0700 folder) and removed by ``cleanup()`` once the run ends.
"""

from __future__ import annotations

from django.core.exceptions import ImproperlyConfigured

_ESCAPES = {"\\": "\\\\", '"': '\\"', "\n": "\\n", "\r": "\\r", "\t": "\\t", "\b": "\\b"}


def quote_value(value: str) -> str:
    """``value`` as a double-quoted option-file value."""
    if "\x00" in value:
        raise ImproperlyConfigured("A MySQL password cannot contain a NUL character.")
    return '"' + "".join(_ESCAPES.get(char, char) for char in value) + '"'


def render(password: str, include: str = "") -> str:
    """Option-file text: ``!include`` the user's own file first (so our values win), then the password."""
    lines = []
    if include:
        if "\n" in include or "\r" in include:
            raise ImproperlyConfigured("OPTIONS['read_default_file'] must be a single-line path.")
        lines.append(f"!include {include}")
    lines += ["[client]", f"password={quote_value(password)}"]
    return "\n".join(lines) + "\n"
