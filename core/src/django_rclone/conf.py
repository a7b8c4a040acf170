"""The ``DJANGO_RCLONE`` settings dict: defaults, validation and typed access.

``get_settings()`` reads ``settings.DJANGO_RCLONE`` each time the cache is cold and validates every
key, raising ``ImproperlyConfigured`` that names the key and the fix. The cache is dropped when
Django's ``setting_changed`` signal fires (``override_settings`` in tests).
"""

from __future__ import annotations

import math
import re
import string
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from datetime import datetime, timezone
from typing import Any

from django.conf import settings as django_settings
from django.core.exceptions import ImproperlyConfigured
from django.core.signals import setting_changed

from django_rclone import codecs, gpg, secrecy
from django_rclone.codecs import Compression
from django_rclone.gpg import GpgSettings
from django_rclone.pings import PingTargets, parse_ping_urls, parse_timeout
from django_rclone.retention_policy import RetentionSettings, parse_retention

DEFAULTS: dict[str, Any] = {
    "REMOTE": None,
    "RCLONE_BINARY": "rclone",
    "RCLONE_CONFIG": None,
    "RCLONE_FLAGS": [],
    "RCLONE_ENV": {},
    # One `rclone rcd` per backup or restore for its small calls (see rcd.py); False: a process each.
    "RCLONE_DAEMON": True,
    "DB_BACKUP_DIR": "db",
    "DB_FILENAME_TEMPLATE": "{database}-{datetime}.{ext}",
    "DB_DATE_FORMAT": "%Y-%m-%d-%H%M%S",
    "DB_CLEANUP_KEEP": 10,
    "MEDIA_BACKUP_DIR": "media",
    "MEDIA_FOLLOW_SYMLINKS": False,
    "CONNECTORS": {},
    "CONNECTOR_MAPPING": {},
    # Retention policy (see retention_policy.py); None keeps the newest DB_CLEANUP_KEEP.
    "DB_RETENTION": None,
    "STREAM_CHUNK_SIZE": None,
    # Monitoring pings (see pings.py): {"backup": URL or {"start"/"success"/"failure": URL}}.
    "PING_URLS": {},
    "PING_TIMEOUT": 10,
    # HMAC key for manifests (see signing.py): a string, or a list whose first key signs.
    "SIGNING_KEY": None,
    # Days retention keeps the undo backups dbrestore takes before replacing a database.
    "PRE_RESTORE_KEEP_DAYS": 7,
    # Seconds a backup waits for another backup of the same alias on this host (locks.alias_lock).
    "LOCK_TIMEOUT": 600,
    # The pipeline's compression stage (codecs.py): "zstd", "zstd:LEVEL", "gzip[:LEVEL]" or "none".
    "COMPRESSION": "zstd",
    "COMPRESSION_BY_DATABASE": {},
    "COMPRESSION_THREADS": None,
    # Further remotes every committed backup is copied to (see copies.py): "remote:path" strings or
    # {"REMOTE": ..., "DB_RETENTION": ..., "DB_CLEANUP_KEEP": ...} dicts.
    "COPIES": [],
    # Decrypting django-dbbackup's .gpg files on restore (see gpg.py): {"BINARY", "HOME", "PASSPHRASE"}.
    "GPG": None,
}

TEMPLATE_FIELDS = frozenset({"database", "datetime", "ext", "servername"})

#: Flags that make rclone write nothing (or wait for a keyboard): a backup run with them would
#: report success for bytes that never reached the remote.
NO_WRITE_FLAGS = frozenset({"--dry-run", "-n", "--interactive", "-i"})


def _check_flags(flags: tuple[str, ...]) -> secrecy.Hidden:
    for flag in flags:
        option, _eq, value = flag.partition("=")
        short = flag.startswith("-") and not flag.startswith("--") and flag[1:].isalpha()
        long_flag = option in NO_WRITE_FLAGS and value.lower() not in ("false", "0")
        if long_flag or (short and ("n" in flag[1:] or "i" in flag[1:])):
            what = repr(option) if long_flag else "a short flag group with -n or -i"  # never echo a value
            raise _fail(
                "RCLONE_FLAGS",
                f"contains {what}, which makes rclone write nothing (or wait for a keyboard)",
                "remove it: a backup that writes nothing must not report success",
            )
    try:
        return secrecy.hide_flags(flags)
    except ValueError as exc:
        raise _fail(
            "RCLONE_FLAGS",
            f"cannot be passed safely: {exc}",
            "secret flags travel in rclone's environment, one value each; give each once, as --flag=VALUE "
            "or --flag VALUE, or put such options in rclone.conf",
        ) from None


@dataclass(frozen=True)
class RcloneSettings:
    """Validated view of ``settings.DJANGO_RCLONE``."""

    remote: str
    rclone_binary: str = "rclone"
    rclone_config: str | None = None
    rclone_flags: tuple[str, ...] = ()
    rclone_env: Mapping[str, str] = field(default_factory=dict)
    db_backup_dir: str = "db"
    db_filename_template: str = "{database}-{datetime}.{ext}"
    db_date_format: str = "%Y-%m-%d-%H%M%S"
    db_cleanup_keep: int = 10
    media_backup_dir: str = "media"
    media_follow_symlinks: bool = False
    rclone_daemon: bool = True
    connectors: Mapping[str, Any] = field(default_factory=dict)
    connector_mapping: Mapping[str, Any] = field(default_factory=dict)
    db_retention: RetentionSettings = field(default_factory=lambda: RetentionSettings(None, {}))
    stream_chunk_size: str | None = None
    ping_urls: Mapping[str, PingTargets] = field(default_factory=dict)
    ping_timeout: float = 10.0
    #: REMOTE as messages may show it (connection-string values masked).
    remote_display: str = ""
    #: Secret values from REMOTE and RCLONE_FLAGS (now in ``rclone_env``), scrubbed from messages.
    secrets: tuple[str, ...] = ()
    #: SIGNING_KEY as a tuple (first signs, all verify); kept out of repr so it never reaches a log.
    signing_keys: tuple[str, ...] = field(default=(), repr=False)
    pre_restore_keep_days: float = 7.0
    lock_timeout: float = 600.0
    compression: Compression = field(default_factory=lambda: codecs.parse("zstd", codecs.all_cores()))
    compression_by_database: Mapping[str, Compression] = field(default_factory=dict)

    def compression_for(self, database: str) -> Compression:
        """The codec for new backups of ``database``: ``COMPRESSION_BY_DATABASE``, else ``COMPRESSION``."""
        return self.compression_by_database.get(database, self.compression)

    copies: tuple[CopyRemote, ...] = ()
    gpg: GpgSettings = field(default_factory=GpgSettings)

    def for_copy(self, copy: CopyRemote) -> RcloneSettings:
        """These settings with the copy's remote as ``remote`` (and its retention, if it has its own),
        so the catalog and retention code work on a copy remote unchanged."""
        return replace(
            self,
            remote=copy.remote,
            remote_display=copy.display,
            db_retention=copy.db_retention or self.db_retention,
            db_cleanup_keep=copy.db_cleanup_keep or self.db_cleanup_keep,
            copies=(),
        )


@dataclass(frozen=True)
class CopyRemote:
    """One entry of ``COPIES``: a further remote holding a copy of every backup."""

    #: The remote as rclone is given it (connection-string options moved to ``rclone_env``).
    remote: str
    #: The remote as messages, signals and listings show it (secret values masked).
    display: str = ""
    #: Retention for this remote only (``None``: the primary's DB_RETENTION / DB_CLEANUP_KEEP).
    db_retention: RetentionSettings | None = None
    db_cleanup_keep: int | None = None


def _fail(key: str, problem: str, fix: str) -> ImproperlyConfigured:
    where = f"['{key}']" if "[" not in key else f"['{key}"  # "COPIES'][0]" names a list item
    return ImproperlyConfigured(f"DJANGO_RCLONE{where} {problem}; {fix}.")


def _check_dir(key: str, value: Any) -> str:
    if not isinstance(value, str):
        raise _fail(key, f"must be a string, got {type(value).__name__}", 'use a relative folder such as "db"')
    if _control_characters(value):
        raise _fail(key, "contains a control character (a newline or tab?)", "remove it")
    cleaned = value.strip("/")
    parts = cleaned.split("/") if cleaned else []
    if value.startswith("/") or ":" in value or any(p in ("", ".", "..") for p in parts):
        raise _fail(key, f"is {value!r}", "use a relative folder below REMOTE without '..', ':' or a leading '/'")
    if not parts:
        raise _fail(key, "is empty", 'give it its own folder below REMOTE, such as "db" or "media"')
    return cleaned


def _check_template(template: Any) -> str:
    key = "DB_FILENAME_TEMPLATE"
    if not isinstance(template, str) or not template.startswith("{database}"):
        raise _fail(key, f"is {template!r}", "it must be a string that starts with '{database}'")
    names = {name for _, name, _, _ in string.Formatter().parse(template) if name is not None}
    unknown = names - TEMPLATE_FIELDS
    if unknown:
        raise _fail(key, f"uses unknown fields {sorted(unknown)}", f"use only {sorted(TEMPLATE_FIELDS)}")
    if "datetime" not in names:
        raise _fail(key, "has no '{datetime}' field", "include '{datetime}' so backup names are unique and ordered")
    if "/" in template or "\\" in template:
        raise _fail(key, "contains a path separator", "keep names flat; use DB_BACKUP_DIR for the folder")
    from django_rclone.names import RESERVED_SUFFIXES  # names imports this module

    sample = template.format(database="db", datetime="2001-02-03-040506", ext="dump", servername="host")
    for suffix in RESERVED_SUFFIXES:
        if sample.endswith(suffix):
            raise _fail(
                key,
                f"renders names ending in {suffix!r} ({sample!r}), which django-rclone writes beside backups",
                "end the template with '{ext}' (or another field) so backups never look like manifests or markers",
            )
    return template


def _check_names(template: str, date_format: str, aliases: list[str]) -> None:
    """Names must say whose backup they are (``names.ambiguous_aliases``)."""
    from django_rclone import names  # names imports this module's types

    key = "DB_FILENAME_TEMPLATE"
    clashes = names.ambiguous_aliases(template, date_format, aliases)
    if clashes:
        a, b = clashes[0]
        raise _fail(
            key,
            f"is {template!r}, which makes a backup name of alias {a!r} read as one of {b!r}",
            "put a fixed-shape field right after '{database}' (the default '{database}-{datetime}.{ext}'), "
            "or a separator no alias contains, e.g. '{database}~{servername}-{datetime}.{ext}'",
        )


def _check_lock_timeout(value: Any) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value) or value < 0:
        raise _fail("LOCK_TIMEOUT", f"is {value!r}", "use a finite number of seconds, 0 or more (default 600)")
    return float(value)


def _check_date_format(fmt: Any) -> str:
    key = "DB_DATE_FORMAT"
    if not isinstance(fmt, str) or not fmt:
        raise _fail(key, f"is {fmt!r}", "use a strftime format such as '%Y-%m-%d-%H%M%S'")
    sample = datetime(2001, 2, 3, 4, 5, 6, tzinfo=timezone.utc)
    rendered = sample.strftime(fmt)
    if "/" in rendered or ":" in rendered:
        raise _fail(key, f"renders to {rendered!r}", "avoid '/' and ':' so names stay valid on every remote")
    try:
        parsed = datetime.strptime(rendered, fmt)
    except ValueError as exc:
        raise _fail(key, f"cannot be parsed back ({exc})", "use directives strptime understands") from exc
    if parsed.replace(microsecond=0) != sample.replace(tzinfo=None, microsecond=0):
        raise _fail(key, "does not record the time down to the second", "include %Y %m %d %H %M %S")
    return fmt


def _control_characters(value: str) -> bool:
    return any(ord(c) < 32 or ord(c) == 127 for c in value)


def _check_remote(remote: Any, key: str = "REMOTE") -> str:
    if not remote or not isinstance(remote, str):
        raise _fail(
            key,
            "is not set",
            'set it to an rclone remote and path such as "myremote:backups" (see `rclone listremotes`)',
        )
    if _control_characters(remote):
        raise _fail(key, "contains a control character (a newline or tab?)", "remove it")
    if not re.match(r"^(:?[\w.\- ]+[,:]|/)", remote) or (
        not remote.startswith("/") and secrecy.parse_connection_string(remote) is None
    ):
        raise _fail(
            key,
            f"is {secrecy.redact_remote(remote)!r}",
            'use "remote:path" (a remote from `rclone listremotes`), ":backend:path" or an absolute local path',
        )
    return remote.rstrip("/") if remote.rstrip("/") else remote


#: An rclone size with its unit (a bare number would mean KiB to rclone, bytes to a reader).
_SIZE_SUFFIX = re.compile(r"^[1-9][0-9]*(\.[0-9]+)?([KMGT]i?|B)$", re.IGNORECASE)


def _check_chunk_size(value: Any) -> str | None:
    """``STREAM_CHUNK_SIZE``: None, a whole number of bytes, or an rclone size such as "64M" or "1Gi"."""
    if value is None:
        return None
    if isinstance(value, int) and not isinstance(value, bool) and value > 0:
        return f"{value}B"  # rclone reads a bare number as KiB
    if isinstance(value, str) and _SIZE_SUFFIX.match(value.strip()):
        return value.strip()
    raise _fail(
        "STREAM_CHUNK_SIZE",
        f"is {value!r}",
        'use None (rclone\'s default), an int number of bytes, or an rclone size with its unit such as "64M" or "1G"',
    )


#: Shortest SIGNING_KEY accepted: 32 characters (e.g. ``secrets.token_urlsafe(32)`` gives 43).
MIN_SIGNING_KEY = 32


def _check_signing_key(value: Any) -> tuple[str, ...]:
    """``SIGNING_KEY``: None, a string, or a list of strings (first signs, the others still verify).

    Messages name the problem, never the key.
    """
    if value is None:
        return ()
    keys = [value] if isinstance(value, str) else value
    fix = (
        "use a random string of at least 32 characters from the environment, e.g. "
        'os.environ["DJANGO_RCLONE_SIGNING_KEY"] (python -c "import secrets; print(secrets.token_urlsafe(32))"), '
        "or a list [new_key, old_key, ...] while rotating"
    )
    if not isinstance(keys, (list, tuple)) or not keys or not all(isinstance(k, str) for k in keys):
        raise _fail("SIGNING_KEY", f"is a {type(value).__name__}, not a string or a non-empty list of strings", fix)
    if any(len(k) < MIN_SIGNING_KEY for k in keys):
        raise _fail("SIGNING_KEY", f"has a key shorter than {MIN_SIGNING_KEY} characters", fix)
    return tuple(keys)


def _check_gpg(value: Any) -> GpgSettings:
    try:
        return gpg.parse(value)
    except ValueError as exc:
        raise _fail(
            "GPG",
            str(exc),
            'use None, or a dict such as {"HOME": "/path/to/gnupg-home", "PASSPHRASE": os.environ["GPG_PASSPHRASE"]}',
        ) from None


def _check_keep_days(value: Any) -> float:
    """``PRE_RESTORE_KEEP_DAYS``: a number of days, 0 or more (0: removed by the next cleanup)."""
    if isinstance(value, bool) or not isinstance(value, (int, float)) or value < 0:
        raise _fail(
            "PRE_RESTORE_KEEP_DAYS",
            f"is {value!r}",
            "use a number of days, 0 or more, for which retention keeps the undo backups dbrestore takes",
        )
    return float(value)


def _check_compression(merged: Mapping[str, Any]) -> tuple[Compression, dict[str, Compression]]:
    """``COMPRESSION``, ``COMPRESSION_BY_DATABASE`` and ``COMPRESSION_THREADS``."""
    threads = merged["COMPRESSION_THREADS"]
    if threads is None:
        threads = codecs.all_cores()
    elif isinstance(threads, bool) or not isinstance(threads, int) or threads < 0:
        raise _fail(
            "COMPRESSION_THREADS",
            f"is {threads!r}",
            "use None (every core), 0 (compress on the pumping thread) or a number of zstd worker threads",
        )
    try:
        default = codecs.parse(merged["COMPRESSION"], threads)
    except ValueError as exc:
        raise _fail("COMPRESSION", str(exc), "see docs/configuration.md#compression") from None
    per_alias = merged["COMPRESSION_BY_DATABASE"]
    if not isinstance(per_alias, Mapping):
        raise _fail("COMPRESSION_BY_DATABASE", f"is {per_alias!r}", 'use a dict such as {"default": "zstd:3"}')
    known = set(getattr(django_settings, "DATABASES", {}))
    overrides = {}
    for alias, value in per_alias.items():
        if alias not in known:
            raise _fail(
                "COMPRESSION_BY_DATABASE",
                f"names {alias!r}, which is not in DATABASES",
                f"use one of {sorted(known)}",
            )
        try:
            overrides[alias] = codecs.parse(value, threads)
        except ValueError as exc:
            raise _fail(
                f"COMPRESSION_BY_DATABASE']['{alias}']", str(exc), "see docs/configuration.md#compression"
            ) from None
    return default, overrides


def load_settings(raw: Mapping[str, Any] | None) -> RcloneSettings:
    """Validate a ``DJANGO_RCLONE`` mapping and return typed settings."""
    if raw is None:
        raise _fail(
            "REMOTE", "is not set (DJANGO_RCLONE is missing)", 'add DJANGO_RCLONE = {"REMOTE": "myremote:backups"}'
        )
    if not isinstance(raw, Mapping):
        raise ImproperlyConfigured("DJANGO_RCLONE must be a dict; see docs/configuration.md.")
    unknown = set(raw) - set(DEFAULTS)
    if unknown:
        raise ImproperlyConfigured(
            f"DJANGO_RCLONE has unknown keys {sorted(unknown)}; valid keys are {sorted(DEFAULTS)}."
        )
    merged = {**DEFAULTS, **raw}

    binary = merged["RCLONE_BINARY"]
    if not isinstance(binary, str) or not binary:
        raise _fail("RCLONE_BINARY", f"is {binary!r}", 'use a program name on PATH or an absolute path, e.g. "rclone"')
    config = merged["RCLONE_CONFIG"]
    if config is not None and not isinstance(config, str):
        raise _fail("RCLONE_CONFIG", f"is {config!r}", "use a path to rclone.conf or None for rclone's default")
    flags = merged["RCLONE_FLAGS"]
    if isinstance(flags, str) or not isinstance(flags, (list, tuple)) or not all(isinstance(f, str) for f in flags):
        shown = (
            secrecy.redact_flags(flags)
            if isinstance(flags, (list, tuple)) and all(isinstance(f, str) for f in flags)
            else type(flags).__name__
        )
        raise _fail("RCLONE_FLAGS", f"is {shown!r}", 'use a list of strings, e.g. ["--transfers", "8"]')
    env = merged["RCLONE_ENV"]
    if not isinstance(env, Mapping) or not all(isinstance(k, str) and isinstance(v, str) for k, v in env.items()):
        raise _fail(
            "RCLONE_ENV",
            "is not a dict of strings",
            'use a dict of strings, e.g. {"RCLONE_S3_SECRET_ACCESS_KEY": "..."}',
        )
    hidden_flags = _check_flags(tuple(flags))
    keep = merged["DB_CLEANUP_KEEP"]
    if isinstance(keep, bool) or not isinstance(keep, int) or keep < 1:
        raise _fail("DB_CLEANUP_KEEP", f"is {keep!r}", "use a whole number of backups to keep, 1 or more")
    db_dir = _check_dir("DB_BACKUP_DIR", merged["DB_BACKUP_DIR"])
    media_dir = _check_dir("MEDIA_BACKUP_DIR", merged["MEDIA_BACKUP_DIR"])
    if db_dir == media_dir or db_dir.startswith(media_dir + "/") or media_dir.startswith(db_dir + "/"):
        raise _fail(
            "MEDIA_BACKUP_DIR",
            f"({media_dir!r}) overlaps DB_BACKUP_DIR ({db_dir!r})",
            "give media and database backups separate folders: a media sync deletes what is not in MEDIA_ROOT",
        )
    daemon = merged["RCLONE_DAEMON"]
    if not isinstance(daemon, bool):
        raise _fail(
            "RCLONE_DAEMON", f"is {daemon!r}", "use True (one rclone rcd per run) or False (a process per call)"
        )
    follow = merged["MEDIA_FOLLOW_SYMLINKS"]
    if not isinstance(follow, bool):
        raise _fail("MEDIA_FOLLOW_SYMLINKS", f"is {follow!r}", "use True (copy what symlinks point to) or False")
    for key in ("CONNECTORS", "CONNECTOR_MAPPING"):
        if not isinstance(merged[key], Mapping):
            raise _fail(key, f"is a {type(merged[key]).__name__}", "use a dict")
        bad_keys = [k for k in merged[key] if not isinstance(k, str) or not k.strip()]
        if bad_keys:
            what = "database alias" if key == "CONNECTORS" else "ENGINE string such as 'django.db.backends.sqlite3'"
            raise _fail(key, f"has the key {bad_keys[0]!r}", f"every key must be a {what}")

    remote = _check_remote(merged["REMOTE"])
    hidden_remote = secrecy.hide_remote(remote)
    template = _check_template(merged["DB_FILENAME_TEMPLATE"])
    date_format = _check_date_format(merged["DB_DATE_FORMAT"])
    _check_names(template, date_format, list(getattr(django_settings, "DATABASES", {})))
    compression, compression_by_database = _check_compression(merged)
    gpg_settings = _check_gpg(merged["GPG"])
    base_env = {**env, **hidden_flags.env, **hidden_remote.env}
    copies, copies_env, copies_secrets = _check_copies(
        merged["COPIES"], (remote, hidden_remote.remote), base_env, (db_dir, media_dir)
    )
    return RcloneSettings(
        remote=hidden_remote.remote,
        rclone_binary=binary,
        rclone_config=config,
        rclone_flags=hidden_flags.flags,
        rclone_env={**base_env, **copies_env},
        db_backup_dir=db_dir,
        db_filename_template=template,
        db_date_format=date_format,
        db_cleanup_keep=keep,
        media_backup_dir=media_dir,
        media_follow_symlinks=follow,
        rclone_daemon=daemon,
        connectors=dict(merged["CONNECTORS"]),
        connector_mapping=dict(merged["CONNECTOR_MAPPING"]),
        db_retention=parse_retention(merged["DB_RETENTION"], list(getattr(django_settings, "DATABASES", {}))),
        stream_chunk_size=_check_chunk_size(merged["STREAM_CHUNK_SIZE"]),
        ping_urls=parse_ping_urls(merged["PING_URLS"]),
        ping_timeout=parse_timeout(merged["PING_TIMEOUT"]),
        remote_display=secrecy.redact_remote(remote),
        secrets=(*hidden_flags.secrets, *hidden_remote.secrets, *_env_secrets(env), *copies_secrets)
        + ((gpg_settings.passphrase,) if gpg_settings.passphrase else ()),
        signing_keys=_check_signing_key(merged["SIGNING_KEY"]),
        pre_restore_keep_days=_check_keep_days(merged["PRE_RESTORE_KEEP_DAYS"]),
        lock_timeout=_check_lock_timeout(merged["LOCK_TIMEOUT"]),
        compression=compression,
        compression_by_database=compression_by_database,
        copies=copies,
        gpg=gpg_settings,
    )


def _overlap(path: str, remote: str, folders: tuple[str, ...]) -> bool:
    """Whether the rclone path ``path`` is ``remote``'s backup or media folder, or lies below one."""
    base = remote if remote.endswith((":", "/")) else remote + "/"
    return any(path == base + folder or path.startswith(base + folder + "/") for folder in folders)


def _hide_copy(remote: str, index: int) -> secrecy.Hidden:
    """``secrecy.hide_remote`` for a copy: an on-the-fly ``:backend,...:`` remote gets a name of its
    own, so its options do not mix with REMOTE's in the environment."""
    hidden = secrecy.hide_remote(remote)
    parsed = secrecy.parse_connection_string(remote)
    if parsed is None or not parsed.on_the_fly or not parsed.params:
        return hidden
    name = f"{secrecy.ENV_REMOTE}_copy{index + 1}"
    old, new = secrecy.remote_env_name(secrecy.ENV_REMOTE, ""), secrecy.remote_env_name(name, "")
    env = {new + key[len(old) :]: value for key, value in hidden.env.items()}
    return secrecy.Hidden(f"{name}:{parsed.path}", (), env, hidden.secrets)


def _check_copies(
    raw: Any, primary: tuple[str, str], env: Mapping[str, str], folders: tuple[str, ...]
) -> tuple[tuple[CopyRemote, ...], dict[str, str], list[str]]:
    """``COPIES``: each remote checked like REMOTE (its connection-string options moved to the
    environment, their values masked in messages), different from REMOTE and the others and outside
    their backup and media folders; dicts may carry their own retention. Returns the copies, the
    environment they add and their secret values."""
    if raw is None:
        return (), {}, []
    if isinstance(raw, (str, Mapping)) or not isinstance(raw, (list, tuple)):
        raise _fail("COPIES", f"is a {type(raw).__name__}", 'use a list such as ["offsite:bucket/project"]')
    aliases = list(getattr(django_settings, "DATABASES", {}))
    copies: list[CopyRemote] = []
    added: dict[str, str] = {}
    secrets: list[str] = []
    seen = [primary[1]]
    spellings = {primary[0]}  # two on-the-fly copies with the same string get different names
    for index, item in enumerate(raw):
        key = f"COPIES'][{index}]"
        retention, keep = None, None
        if isinstance(item, Mapping):
            unknown = sorted(str(k) for k in set(item) - {"REMOTE", "DB_RETENTION", "DB_CLEANUP_KEEP"})
            if unknown:
                raise _fail(key, f"has unknown keys {unknown}", "use REMOTE, DB_RETENTION and DB_CLEANUP_KEEP")
            spelled = _check_remote(item.get("REMOTE"), key)
            keep = item.get("DB_CLEANUP_KEEP")
            if keep is not None and (isinstance(keep, bool) or not isinstance(keep, int) or keep < 1):
                raise _fail(key, f"has DB_CLEANUP_KEEP {keep!r}", "use a whole number of backups to keep, 1 or more")
            if item.get("DB_RETENTION") is not None:
                retention = parse_retention(item["DB_RETENTION"], aliases)
        else:
            spelled = _check_remote(item, key)
        hidden = _hide_copy(spelled, index)
        display = secrecy.redact_remote(spelled)
        if hidden.remote in seen or spelled in spellings:
            raise _fail(key, f"is {display!r} a second time", "give each copy its own remote, not REMOTE itself")
        nested = [
            other
            for other in seen
            if _overlap(hidden.remote, other, folders) or _overlap(other, hidden.remote, folders)
        ]
        if nested:
            raise _fail(
                key,
                f"({display!r}) overlaps {secrecy.redact_remote(nested[0])!r}",
                "keep each remote out of the others' DB_BACKUP_DIR and MEDIA_BACKUP_DIR: "
                "a media sync or retention there would delete it",
            )
        clash = sorted(k for k, v in hidden.env.items() if {**env, **added}.get(k, v) != v)
        if clash:
            raise _fail(
                key,
                f"sets {clash[0]} to another value than REMOTE or RCLONE_ENV does",
                "use another remote name for the copy, or configure it in rclone.conf",
            )
        added.update(hidden.env)
        secrets += hidden.secrets
        seen.append(hidden.remote)
        spellings.add(spelled)
        copies.append(CopyRemote(hidden.remote, display, retention, keep))
    return tuple(copies), added, secrets


def _env_secrets(env: Mapping[str, str]) -> list[str]:
    return [
        secret for key, value in env.items() for secret in secrecy.secret_values(key.removeprefix("RCLONE_"), value)
    ]


_cache: RcloneSettings | None = None


def get_settings() -> RcloneSettings:
    """Return the validated ``DJANGO_RCLONE`` settings (cached until a setting changes)."""
    global _cache
    if _cache is None:
        _cache = load_settings(getattr(django_settings, "DJANGO_RCLONE", None))
    return _cache


def _reset(**kwargs: Any) -> None:
    global _cache
    if kwargs.get("setting") in ("DJANGO_RCLONE", "DATABASES", "MEDIA_ROOT"):
        _cache = None


setting_changed.connect(_reset, dispatch_uid="django_rclone.conf.reset")
