"""What the backup status page shows, read from the remote through the catalog.

The page must never hang on a slow or unreachable remote, so the remote is read in a background
thread: a request waits at most ``STATUS_TIMEOUT`` seconds and otherwise gets a clear message (and
the last good report, if one is cached). A report is reused for ``STATUS_CACHE_SECONDS``. Nothing
here writes to the remote or the database.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from concurrent.futures import TimeoutError as FutureTimeout
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from typing import Any

from django.conf import settings as django_settings
from django.utils.html import escape

from django_rclone import catalog, copies
from django_rclone.catalog import BackupEntry
from django_rclone.conf import RcloneSettings, get_settings
from django_rclone.manifest import KIND_PRE_RESTORE
from django_rclone.operations import drill, retention
from django_rclone.operations.retention import Doomed
from django_rclone.rclone import Rclone

#: Seconds a report is reused before the remote is read again.
STATUS_CACHE_SECONDS = 60.0
#: Seconds a page request waits for the remote before it shows a "still reading" message.
STATUS_TIMEOUT = 10.0
#: Points shown in each alias's chart (the newest backups).
CHART_POINTS = 60

SIZE_COLOUR = "#2e86c1"
DURATION_COLOUR = "#e67e22"


@dataclass(frozen=True)
class AliasStatus:
    """One database alias on the status page."""

    database: str
    backups: list[BackupEntry]
    doomed: list[Doomed]
    now: datetime

    @property
    def newest(self) -> BackupEntry | None:
        """The newest ordinary backup (an undo backup ``dbrestore`` took says nothing about the schedule)."""
        return next((e for e in self.backups if e.kind != KIND_PRE_RESTORE), None)

    @property
    def age(self) -> timedelta | None:
        return self.now - self.newest.timestamp if self.newest else None

    @property
    def total_size(self) -> int:
        return sum(e.size for e in self.backups)

    @property
    def codec(self) -> str:
        manifest = self.newest.manifest if self.newest else None
        return str(getattr(manifest, "codec", "") or "none") if manifest else "unknown"

    @property
    def verified(self) -> str:
        """How far the newest backup can be trusted: its manifest (and signature) or nothing."""
        newest = self.newest
        if newest is None:
            return ""
        manifest = newest.manifest
        if manifest is None:
            return "no manifest (unverified)"
        if getattr(manifest, "signature", None):
            return "checksum + signature"
        return "checksum"

    @property
    def copies(self) -> str:
        newest = self.newest
        held = getattr(newest, "remotes", None) if newest else None
        return ", ".join(held) if held else "primary only"

    #: The newest restore drill of this alias, as one line ("never" without one).
    last_drill: str = "never"

    def chart(self) -> str:
        """An inline SVG of backup sizes (bars) and durations (dots) over time, oldest on the left."""
        return chart_svg(list(reversed(self.backups[:CHART_POINTS])))


@dataclass(frozen=True)
class StatusReport:
    """Everything the page shows, or why it could not be read."""

    remote: str
    collected_at: datetime
    aliases: list[AliasStatus] = field(default_factory=list)
    error: str = ""


def collect(conf: RcloneSettings | None = None, now: datetime | None = None) -> StatusReport:
    """Read the remote once per question: every committed backup with its manifest, then each alias's
    retention plan (what the next clean-up would delete). Errors become ``StatusReport.error``."""
    conf = conf or get_settings()
    moment = now or datetime.now(timezone.utc)
    remote = catalog.db_folder(conf)
    try:
        rclone = Rclone.from_settings(conf)
        entries = catalog.committed(conf, rclone, with_manifests=True)
        if conf.copies:  # which remotes hold each backup (AliasStatus.copies)
            entries = copies.annotate(conf, rclone, entries)[0]
        drills = drill.last_records(conf, rclone)
        aliases = sorted(set(django_settings.DATABASES) | {e.database for e in entries})
        statuses = []
        for alias in aliases:
            backups = [e for e in entries if e.database == alias]
            doomed = retention.plan(conf, rclone, alias, now=moment) if backups else []
            statuses.append(AliasStatus(alias, backups, doomed, moment, last_drill=drill.describe(drills.get(alias))))
    except Exception as exc:  # the page reports any failure of the remote as text
        return StatusReport(remote=remote, collected_at=moment, error=f"{type(exc).__name__}: {exc}")
    return StatusReport(remote=remote, collected_at=moment, aliases=statuses)


class _Cache:
    """One report per remote, reused for a while; one background read at a time."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.reports: dict[str, tuple[float, StatusReport]] = {}
        self.pending: dict[str, Future[StatusReport]] = {}
        self.executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="django-rclone-status")

    def get(
        self, key: str, compute: Callable[[], StatusReport], ttl: float, timeout: float
    ) -> tuple[StatusReport | None, bool]:
        """The report for ``key`` and whether it is fresh; ``(stale or None, False)`` on timeout."""
        with self.lock:
            cached = self.reports.get(key)
            if cached and time.monotonic() - cached[0] < ttl:
                return cached[1], True
            future = self.pending.get(key)
            if future is None:
                future = self.executor.submit(compute)
                self.pending[key] = future
                future.add_done_callback(lambda done: self._store(key, done))
        try:
            return future.result(timeout=timeout), True
        except FutureTimeout:
            return (cached[1] if cached else None), False

    def _store(self, key: str, done: Future[StatusReport]) -> None:
        with self.lock:
            self.pending.pop(key, None)
            if not done.cancelled() and done.exception() is None:
                self.reports[key] = (time.monotonic(), done.result())

    def clear(self) -> None:
        with self.lock:
            self.reports.clear()


_cache = _Cache()


def report(timeout: float | None = None, ttl: float | None = None) -> tuple[StatusReport | None, str]:
    """The page's report and a notice for the reader ("" when the report is current).

    Waits at most ``timeout`` seconds (default ``STATUS_TIMEOUT``) for the remote; when it is
    slower, returns the last report (or ``None``) with a notice saying so.
    """
    conf = get_settings()
    wait = STATUS_TIMEOUT if timeout is None else timeout
    found, fresh = _cache.get(catalog.db_folder(conf), collect, STATUS_CACHE_SECONDS if ttl is None else ttl, wait)
    if fresh:
        return found, ""
    notice = (
        f"The remote did not answer within {wait:g} s; it is still being read in the background. "
        + ("Showing the previous report. " if found else "")
        + "Reload the page in a moment."
    )
    return found, notice


def clear_cache() -> None:
    """Forget cached reports (tests, or after a backup when the page must show it at once)."""
    _cache.clear()


def human_size(size: float) -> str:
    for unit in ("B", "KiB", "MiB", "GiB", "TiB"):
        if size < 1024 or unit == "TiB":
            return f"{size:.0f} {unit}" if unit == "B" else f"{size:.1f} {unit}"
        size /= 1024
    return f"{size:.1f} TiB"  # pragma: no cover


def human_age(age: timedelta | None) -> str:
    if age is None:
        return ""
    seconds = max(0, int(age.total_seconds()))
    if seconds < 3600:
        return f"{seconds // 60} min"
    if seconds < 172800:
        return f"{seconds // 3600} h"
    return f"{seconds // 86400} d"


def _duration(entry: BackupEntry) -> float | None:
    value: Any = entry.to_dict().get("duration")
    return float(value) if isinstance(value, (int, float)) else None


def chart_svg(points: list[BackupEntry], width: int = 640, height: int = 180) -> str:
    """Sizes as bars (left axis) and durations as dots (right axis); text is escaped."""
    if not points:
        return ""
    pad_l, pad_r, pad_t, pad_b = 70, 60, 12, 28
    inner_w, inner_h = width - pad_l - pad_r, height - pad_t - pad_b
    max_size = max(e.size for e in points) or 1
    durations = [_duration(e) for e in points]
    max_duration = max((d for d in durations if d is not None), default=0.0) or 1.0
    step = inner_w / len(points)
    bar = max(1.0, step * 0.7)
    parts = [
        f'<svg xmlns="http://www.w3.org/2000/svg" class="django-rclone-chart" width="{width}" height="{height}" '
        f'viewBox="0 0 {width} {height}" role="img" aria-label="backup sizes and durations">',
        f'<line x1="{pad_l}" y1="{pad_t + inner_h}" x2="{pad_l + inner_w}" y2="{pad_t + inner_h}" stroke="#888"/>',
        f'<text x="{pad_l - 6}" y="{pad_t + 10}" text-anchor="end" font-size="11" fill="{SIZE_COLOUR}">'
        f"{escape(human_size(max_size))}</text>",
        f'<text x="{pad_l + inner_w + 6}" y="{pad_t + 10}" font-size="11" fill="{DURATION_COLOUR}">'
        f"{max_duration:.0f} s</text>",
    ]
    for i, (entry, duration) in enumerate(zip(points, durations, strict=False)):
        x = pad_l + i * step + (step - bar) / 2
        h = max(1.0, inner_h * entry.size / max_size)
        parts.append(
            f'<rect class="size" x="{x:.1f}" y="{pad_t + inner_h - h:.1f}" width="{bar:.1f}" height="{h:.1f}" '
            f'fill="{SIZE_COLOUR}"><title>{escape(entry.name)}: {escape(human_size(entry.size))}</title></rect>'
        )
        if duration is not None:
            cy = pad_t + inner_h - inner_h * duration / max_duration
            parts.append(
                f'<circle class="duration" cx="{x + bar / 2:.1f}" cy="{cy:.1f}" r="3" fill="{DURATION_COLOUR}">'
                f"<title>{escape(entry.name)}: {duration:.0f} s</title></circle>"
            )
    first, last = points[0].timestamp, points[-1].timestamp
    parts.append(
        f'<text x="{pad_l}" y="{height - 8}" font-size="11" fill="#555">'
        f"{escape(first.strftime('%Y-%m-%d %H:%M'))}</text>"
    )
    parts.append(
        f'<text x="{pad_l + inner_w}" y="{height - 8}" font-size="11" text-anchor="end" fill="#555">'
        f"{escape(last.strftime('%Y-%m-%d %H:%M'))} UTC</text>"
    )
    parts.append("</svg>")
    return "".join(parts)
