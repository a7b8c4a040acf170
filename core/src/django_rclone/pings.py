"""Monitoring pings: tell a healthchecks.io / Cronitor style service that an operation started,
succeeded or failed.

``DJANGO_RCLONE["PING_URLS"]`` maps an operation (``"backup"``, or ``"backup:ALIAS"`` for one
database alias) to a base URL, where start is ``URL/start``, success ``URL`` and failure
``URL/fail`` (healthchecks.io's scheme), or to a dict with explicit ``start`` / ``success`` /
``failure`` URLs (any may be left out). Every ping is an HTTP POST whose body is a short text: the
backup's name and size on success, the stage and the error on failure.

A ping is a side effect, never part of the operation: it has a short timeout (``PING_TIMEOUT``), a
ping that fails is logged with the URL's host only (the path of a ping URL is its secret), and no
ping error ever reaches the operation. Pings hang off the operations' signals (``watch()``), so
an operation added later (copies, restore drills) gets pings by calling ``watch()`` once with its
own signals, or ``ping()`` directly.
"""

from __future__ import annotations

import contextlib
import logging
import threading
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Callable, Iterator, Mapping
from contextvars import ContextVar
from dataclasses import dataclass
from typing import Any

from django.core.exceptions import ImproperlyConfigured
from django.dispatch import Signal

from django_rclone import __version__

logger = logging.getLogger("django_rclone")

#: Operations that may have ping URLs. ``copy`` and ``drill`` are reserved for the 3-2-1 copies
#: and restore drills, which call ``watch()`` / ``ping()`` with these names.
OPERATIONS = ("backup", "restore", "media_backup", "media_restore", "copy", "drill")
#: Operations that run per database alias, so ``"operation:ALIAS"`` keys make sense for them.
PER_ALIAS = ("backup", "restore", "copy", "drill")
#: The three moments of an operation a ping reports.
EVENTS = ("start", "success", "failure")
#: How a single base URL becomes the three ping URLs (healthchecks.io's convention).
SUFFIXES = {"start": "/start", "success": "", "failure": "/fail"}
#: Seconds a ping may take (connect, send, each read) before it is given up and logged.
DEFAULT_TIMEOUT = 10.0
#: Longest body sent (characters); healthchecks.io keeps the first 100 kB of a body.
BODY_LIMIT = 10_000


@dataclass(frozen=True)
class PingTargets:
    """The URLs pinged for one operation (``None``: that event is not pinged)."""

    start: str | None = None
    success: str | None = None
    failure: str | None = None

    def url(self, event: str) -> str | None:
        value: str | None = getattr(self, event)
        return value


def _fail(problem: str, fix: str) -> ImproperlyConfigured:
    return ImproperlyConfigured(f"DJANGO_RCLONE['PING_URLS'] {problem}; {fix}.")


def _check_url(key: str, url: Any) -> str:
    if not isinstance(url, str) or urllib.parse.urlsplit(url).scheme not in ("http", "https"):
        raise _fail(f"[{key!r}] is not an http(s) URL", 'use a URL such as "https://hc-ping.com/<uuid>"')
    parts = urllib.parse.urlsplit(url)
    try:
        parts.port  # noqa: B018 (raises ValueError for a port that is not a number)
    except ValueError:
        raise _fail(f"[{key!r}] has an invalid port", "use host or host:PORT with a number") from None
    if not parts.hostname:
        raise _fail(f"[{key!r}] has no host", 'use a URL such as "https://hc-ping.com/<uuid>"')
    return url


def parse_ping_urls(raw: Any) -> dict[str, PingTargets]:
    """Validate ``PING_URLS`` and return the targets by key (``"backup"``, ``"backup:reporting"``)."""
    if raw is None:
        return {}
    if not isinstance(raw, Mapping):
        raise _fail(f"is {type(raw).__name__}", 'use a dict such as {"backup": "https://hc-ping.com/<uuid>"}')
    parsed: dict[str, PingTargets] = {}
    for key, value in raw.items():
        operation, colon, alias = key.partition(":") if isinstance(key, str) else ("", "", "")
        if operation not in OPERATIONS or (colon and (not alias or operation not in PER_ALIAS)):
            raise _fail(
                f"has the key {key!r}",
                f"use one of {', '.join(OPERATIONS)}; {', '.join(PER_ALIAS)} may be followed by ':ALIAS' "
                "for one database alias",
            )
        if isinstance(value, str):
            base = _check_url(key, value).rstrip("/")
            parsed[key] = PingTargets(**{event: base + SUFFIXES[event] for event in EVENTS})
        elif isinstance(value, Mapping):
            unknown = sorted(set(value) - set(EVENTS))
            if unknown:
                raise _fail(f"[{key!r}] has unknown events {unknown}", f"use {', '.join(EVENTS)}")
            parsed[key] = PingTargets(
                **{event: _check_url(f"{key}.{event}", url) for event, url in value.items() if url is not None}
            )
        else:
            raise _fail(f"[{key!r}] is {value!r}", "use a base URL string or a dict of start/success/failure URLs")
    return parsed


def parse_timeout(raw: Any) -> float:
    """Validate ``PING_TIMEOUT``: seconds, more than 0 and at most 60."""
    if isinstance(raw, bool) or not isinstance(raw, (int, float)) or not 0 < raw <= 60:
        raise ImproperlyConfigured(
            f"DJANGO_RCLONE['PING_TIMEOUT'] is {raw!r}; use a number of seconds above 0 and at most 60 (default 10)."
        )
    return float(raw)


def targets_for(operation: str, alias: str | None = None) -> PingTargets | None:
    """The targets of ``operation`` for ``alias``: ``"operation:alias"`` first, then ``"operation"``."""
    from django_rclone.conf import get_settings

    urls = get_settings().ping_urls
    if alias is not None and f"{operation}:{alias}" in urls:
        return urls[f"{operation}:{alias}"]
    return urls.get(operation)


def redact(url: str) -> str:
    """``https://hc-ping.com/…``: the scheme and host of a ping URL, safe for a log line."""
    parts = urllib.parse.urlsplit(url)
    host = parts.hostname or "?"
    port = f":{parts.port}" if parts.port else ""
    return f"{parts.scheme}://{host}{port}/…"


def send(url: str, body: str = "", timeout: float = DEFAULT_TIMEOUT) -> str | None:
    """POST ``body`` to ``url``; ``None`` when the server answered 2xx, else why not (URL-free)."""
    request = urllib.request.Request(  # noqa: S310 (parse_ping_urls admits http and https only)
        url,
        data=body[:BODY_LIMIT].encode("utf-8", errors="replace"),
        method="POST",
        headers={"User-Agent": f"django-rclone/{__version__}", "Content-Type": "text/plain; charset=utf-8"},
    )
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:  # noqa: S310
            response.read(4096)
            status = int(response.status)
    except urllib.error.HTTPError as exc:
        return f"HTTP status {exc.code}"
    except urllib.error.URLError as exc:
        reason = exc.reason
        return f"{type(reason).__name__}: {reason}".replace(url, redact(url))
    except (OSError, ValueError) as exc:  # timeouts (socket.timeout is an OSError), broken connections
        return f"{type(exc).__name__}: {exc or 'timed out'}".replace(url, redact(url))
    return None if 200 <= status < 300 else f"HTTP status {status}"


def _send_within(url: str, body: str, timeout: float) -> str | None:
    """``send()`` with ``timeout`` as a deadline for the whole exchange, not only for each socket
    operation: a server that trickles its answer byte by byte cannot hold the operation up."""
    outcome: list[str | None] = []

    def run() -> None:
        try:
            outcome.append(send(url, body, timeout))
        except Exception as exc:  # reported by the caller, never left to the thread's excepthook
            outcome.append(f"{type(exc).__name__}: {exc}".replace(url, redact(url)))

    worker = threading.Thread(target=run, name="django-rclone-ping", daemon=True)
    worker.start()
    worker.join(timeout)
    if not outcome:  # still waiting: leave the daemon thread to its socket timeout
        return f"no complete answer within {timeout:g} s (timed out)"
    return outcome[0]


#: Operations whose pings are held back in this context (``quiet()``).
_QUIET: ContextVar[frozenset[str]] = ContextVar("django_rclone_quiet_pings", default=frozenset())


@contextlib.contextmanager
def quiet(*operations: str) -> Iterator[None]:
    """Send no pings for ``operations`` inside the block.

    ``dbrestore``'s undo backup runs inside ``quiet("backup")``: it is a real backup (its signals are
    sent), but a restore is no evidence that the backup schedule still runs, so it must not tell a
    "backup" check that a backup succeeded.
    """
    token = _QUIET.set(_QUIET.get() | frozenset(operations))
    try:
        yield
    finally:
        _QUIET.reset(token)


def ping(operation: str, event: str, *, alias: str | None = None, body: str = "") -> bool:
    """Send the ``event`` ping of ``operation`` (for ``alias``) if one is configured.

    Never raises: a bad answer, a timeout or any other error is logged (with the URL's host only)
    and ``False`` returned; invalid settings send nothing (the operation reports them itself).
    ``True`` means a ping was sent and answered 2xx.
    """
    from django_rclone.conf import get_settings

    if operation in _QUIET.get():
        return False
    try:
        targets = targets_for(operation, alias)
        url = targets.url(event) if targets else None
        if url is None:
            return False
        problem = _send_within(url, body, get_settings().ping_timeout)
    except ImproperlyConfigured:
        return False
    except Exception as exc:  # a monitoring side effect never fails the operation
        logger.warning("django-rclone: %s ping of %s not sent: %s: %s", event, operation, type(exc).__name__, exc)
        return False
    if problem is not None:
        target = operation if alias is None else f"{operation} of {alias!r}"
        logger.warning("django-rclone: %s ping for %s to %s failed: %s", event, target, redact(url), problem)
        return False
    return True


def success_text(result: Any) -> str:
    """The body of a success ping: what the result says about name, size and duration."""
    parts = []
    for attribute, show in (
        ("name", str),
        ("size", lambda v: f"{v} bytes"),
        ("duration", lambda v: f"{v:.1f} s"),
        ("destination", lambda v: f"to {v}"),
    ):
        value = getattr(result, attribute, None)
        if value is not None:
            parts.append(show(value))
    return ", ".join(parts)


def failure_text(operation: str, alias: str | None, exception: BaseException | None, stage: str | None) -> str:
    """The body of a failure ping: the operation, the stage and the error, one line each."""
    what = operation if alias is None else f"{operation} of database {alias!r}"
    lines = [f"{what} failed" + (f" at stage {stage}" if stage else "")]
    if exception is not None:
        lines.append(f"{type(exception).__name__}: {exception}")
    return "\n".join(lines)


def watch(
    operation: str,
    *,
    started: Signal | None = None,
    succeeded: Signal | None = None,
    failed: Signal | None = None,
    alias_argument: str | None = "database",
) -> None:
    """Ping for ``operation`` whenever its signals are sent (idempotent).

    ``started`` / ``succeeded`` / ``failed`` are the operation's pre, post and failure signals;
    the alias is read from the signal's ``alias_argument`` keyword (``None``: no alias). The
    success body comes from the signal's ``result``, the failure body from ``exception`` and
    ``stage``. New operations call this once (e.g. in ``AppConfig.ready``).
    """
    if operation not in OPERATIONS:
        raise ValueError(f"unknown ping operation {operation!r}; add it to pings.OPERATIONS")

    def alias_of(kwargs: Mapping[str, Any]) -> str | None:
        value = kwargs.get(alias_argument) if alias_argument else None
        return None if value is None else str(value)

    def on_start(**kwargs: Any) -> None:
        ping(operation, "start", alias=alias_of(kwargs))

    def on_success(**kwargs: Any) -> None:
        ping(operation, "success", alias=alias_of(kwargs), body=success_text(kwargs.get("result")))

    def on_failure(**kwargs: Any) -> None:
        alias = alias_of(kwargs)
        body = failure_text(operation, alias, kwargs.get("exception"), kwargs.get("stage"))
        ping(operation, "failure", alias=alias, body=body)

    receivers: tuple[tuple[Signal | None, Callable[..., None], str], ...] = (
        (started, on_start, "start"),
        (succeeded, on_success, "success"),
        (failed, on_failure, "failure"),
    )
    for signal, receiver, event in receivers:
        if signal is not None:
            signal.connect(receiver, weak=False, dispatch_uid=f"django_rclone.pings.{operation}.{event}")


def connect() -> None:
    """Hook the pings to the core's own operations (called from ``AppConfig.ready``)."""
    from django_rclone import signals

    watch("backup", started=signals.pre_db_backup, succeeded=signals.post_db_backup, failed=signals.db_backup_failed)
    watch(
        "restore", started=signals.pre_db_restore, succeeded=signals.post_db_restore, failed=signals.db_restore_failed
    )
    watch("drill", started=signals.pre_db_drill, succeeded=signals.post_db_drill, failed=signals.db_drill_failed)
    watch(
        "media_backup",
        started=signals.pre_media_backup,
        succeeded=signals.post_media_backup,
        failed=signals.media_backup_failed,
        alias_argument=None,
    )
    watch(
        "media_restore",
        started=signals.pre_media_restore,
        succeeded=signals.post_media_restore,
        failed=signals.media_restore_failed,
        alias_argument=None,
    )
