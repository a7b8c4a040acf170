"""Backup names: rendering ``DB_FILENAME_TEMPLATE`` and parsing names back.

Names are rendered in UTC so they sort the same across daylight-saving changes. Parsing builds a
regular expression from the template and the date format, so ``listbackups`` never guesses which
part of ``my-db-2024-01-15-120000.dump`` is the alias.
"""

from __future__ import annotations

import re
import socket
import string
from dataclasses import dataclass
from datetime import datetime, timezone
from functools import lru_cache

from django_rclone.conf import RcloneSettings
from django_rclone.exceptions import UnsafePath

MANIFEST_SUFFIX = ".manifest.json"
#: Marker objects of a run in progress end with this.
PENDING_SUFFIX = ".pending"
#: Endings of objects the core writes beside backups; no backup name may end with one
#: (``DB_FILENAME_TEMPLATE`` is checked against this list).
RESERVED_SUFFIXES = (MANIFEST_SUFFIX, PENDING_SUFFIX)

_DIRECTIVES = {
    "Y": r"\d{4}",
    "m": r"\d{2}",
    "d": r"\d{2}",
    "H": r"\d{2}",
    "M": r"\d{2}",
    "S": r"\d{2}",
    "f": r"\d{6}",
    "y": r"\d{2}",
    "j": r"\d{3}",
    "z": r"[+-]\d{4}",
    "%": "%",
}


@dataclass(frozen=True)
class ParsedName:
    database: str
    timestamp: datetime
    ext: str
    servername: str = ""


def _date_regex(fmt: str) -> str:
    out, i = [], 0
    while i < len(fmt):
        if fmt[i] == "%" and i + 1 < len(fmt):
            out.append(_DIRECTIVES.get(fmt[i + 1], r".+?"))
            i += 2
        else:
            out.append(re.escape(fmt[i]))
            i += 1
    return "".join(out)


@lru_cache(maxsize=32)
def _name_regex(template: str, date_format: str) -> re.Pattern[str]:
    groups = {
        "database": r"(?P<database>.+?)",
        "datetime": f"(?P<datetime>{_date_regex(date_format)})",
        "ext": r"(?P<ext>[^/]+)",
        "servername": r"(?P<servername>.*?)",
    }
    parts = []
    for literal, name, _spec, _conv in string.Formatter().parse(template):
        parts.append(re.escape(literal))
        if name is not None:
            parts.append(groups[name] if f"(?P<{name}>" not in "".join(parts) else f"(?P={name})")
    return re.compile("^" + "".join(parts) + "$")


def render(conf: RcloneSettings, database: str, ext: str, when: datetime, servername: str = "") -> str:
    """The object name for a new backup."""
    stamp = when.astimezone(timezone.utc).strftime(conf.db_date_format)
    name = conf.db_filename_template.format(
        database=database, datetime=stamp, ext=ext, servername=servername or socket.gethostname()
    )
    check_name(name)
    return name


def parse(conf: RcloneSettings, name: str) -> ParsedName | None:
    """Split a backup name into its parts, or ``None`` if it was not made by this template."""
    match = _name_regex(conf.db_filename_template, conf.db_date_format).match(name)
    if not match:
        return None
    try:
        stamp = datetime.strptime(match["datetime"], conf.db_date_format)
    except ValueError:
        return None
    groups = match.groupdict()
    return ParsedName(
        database=groups["database"],
        timestamp=stamp.replace(tzinfo=timezone.utc) if stamp.tzinfo is None else stamp,
        ext=groups.get("ext") or "",
        servername=groups.get("servername") or "",
    )


def check_name(name: str) -> str:
    """Refuse a name that could leave the backup folder (``..``, ``/``, ``remote:``)."""
    if (
        not name
        or name in (".", "..")
        or "/" in name
        or "\\" in name
        or ":" in name
        or name.startswith("-")
        or any(ord(c) < 32 for c in name)
    ):
        raise UnsafePath(
            f"{name!r} is not a plain backup name: give the file name only, as `listbackups` prints it "
            "(no folders, '..', ':' or a leading '-')"
        )
    return name


def manifest_name(name: str) -> str:
    return name + MANIFEST_SUFFIX
