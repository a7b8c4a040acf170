"""Retention policies: which committed backups of an alias to keep, and why.

A policy is a union of keep rules; a backup is kept when any rule keeps it:

- ``LAST``: the newest N backups.
- ``DAILY`` / ``WEEKLY`` / ``MONTHLY`` / ``YEARLY``: the newest backup of each of the N most recent days
  / ISO weeks / months / years that have a backup (grandfather-father-son). Periods are UTC calendar
  periods, like backup names.
- ``MAX_AGE_DAYS``: every backup younger than this many days.

Whatever the rules say, the newest committed backup of an alias is always kept, so a policy can
never leave an alias with no backup at all.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from django.core.exceptions import ImproperlyConfigured

#: The GFS rules: setting key, word used in reasons, period of a timestamp.
PERIODS: tuple[tuple[str, str, Callable[[datetime], str]], ...] = (
    ("DAILY", "daily", lambda t: t.strftime("%Y-%m-%d")),
    ("WEEKLY", "weekly", lambda t: "{}-W{:02d}".format(*t.isocalendar()[:2])),
    ("MONTHLY", "monthly", lambda t: t.strftime("%Y-%m")),
    ("YEARLY", "yearly", lambda t: t.strftime("%Y")),
)
COUNT_KEYS = ("LAST", *(key for key, _, _ in PERIODS))
POLICY_KEYS = (*COUNT_KEYS, "MAX_AGE_DAYS")
#: The largest MAX_AGE_DAYS (a century): beyond it the cut-off date cannot be computed.
MAX_DAYS = 36600


@dataclass(frozen=True)
class RetentionPolicy:
    """Keep rules for one alias (0 / ``None`` = rule off)."""

    last: int = 0
    daily: int = 0
    weekly: int = 0
    monthly: int = 0
    yearly: int = 0
    max_age_days: float | None = None

    def describe(self) -> str:
        """``last 3, daily 7, within 30 days``: the rules that are on."""
        parts = [f"{key.lower()} {getattr(self, key.lower())}" for key in COUNT_KEYS if getattr(self, key.lower())]
        if self.max_age_days is not None:
            parts.append(f"within {self.max_age_days:g} days")
        return ", ".join(parts)

    @property
    def last_only(self) -> bool:
        return self.describe() == f"last {self.last}"


@dataclass(frozen=True)
class Decision:
    """Whether one backup is kept, and the rules that keep it (empty when it goes)."""

    name: str
    timestamp: datetime
    reasons: tuple[str, ...]

    @property
    def kept(self) -> bool:
        return bool(self.reasons)


def decide(
    backups: Sequence[tuple[str, datetime]],
    policy: RetentionPolicy,
    now: datetime,
    protect: frozenset[str] = frozenset(),
) -> list[Decision]:
    """Apply ``policy`` to ``backups`` (name, UTC timestamp), newest first; one decision each.

    ``protect`` names (the backup just made) are always kept and use up their share of ``LAST``
    first, as they are the newest backups whatever a skewed clock put in their names.
    """
    ordered = sorted(backups, key=lambda b: (b[1], b[0]), reverse=True)
    reasons: dict[str, list[str]] = {name: [] for name, _ in ordered}
    for name, _ in ordered:
        if name in protect:
            reasons[name].append("just made")
    room = max(policy.last - sum(1 for name, _ in ordered if name in protect), 0)
    for name, _ in [b for b in ordered if b[0] not in protect][:room]:
        reasons[name].append(f"one of the newest {policy.last}")
    for key, word, period in PERIODS:
        wanted = getattr(policy, key.lower())
        seen: list[str] = []
        for name, stamp in ordered:
            bucket = period(stamp)
            if len(seen) >= wanted:
                break
            if bucket not in seen:
                seen.append(bucket)
                reasons[name].append(f"{word} {bucket}")
    if policy.max_age_days is not None:
        cutoff = now - timedelta(days=policy.max_age_days)
        for name, stamp in ordered:
            if stamp > cutoff:
                reasons[name].append(f"younger than {policy.max_age_days:g} days")
    if ordered and not reasons[ordered[0][0]]:
        reasons[ordered[0][0]].append("the newest backup (always kept)")
    return [Decision(name, stamp, tuple(reasons[name])) for name, stamp in ordered]


def _count(where: str, key: str, value: Any) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        raise ImproperlyConfigured(f"{where}[{key!r}] is {value!r}; use a whole number, 0 or more (0 turns it off).")
    return value


def parse_policy(raw: Any, where: str) -> RetentionPolicy:
    """Validate one policy dict; ``where`` names the setting in errors."""
    if not isinstance(raw, Mapping):
        raise ImproperlyConfigured(
            f"{where} is {raw!r}; use a dict such as {{'LAST': 3, 'DAILY': 7, 'WEEKLY': 4, 'MONTHLY': 12}}."
        )
    unknown = sorted(set(raw) - set(POLICY_KEYS))
    if unknown:
        raise ImproperlyConfigured(f"{where} has unknown keys {unknown}; valid keys are {list(POLICY_KEYS)}.")
    counts = {key.lower(): _count(where, key, raw.get(key, 0)) for key in COUNT_KEYS}
    age = raw.get("MAX_AGE_DAYS")
    if age is not None and (
        isinstance(age, bool) or not isinstance(age, (int, float)) or not math.isfinite(age) or not 0 < age <= MAX_DAYS
    ):
        raise ImproperlyConfigured(
            f"{where}['MAX_AGE_DAYS'] is {age!r}; use a number of days above 0 and at most {MAX_DAYS}, or leave it out."
        )
    policy = RetentionPolicy(**counts, max_age_days=None if age is None else float(age))
    if not policy.describe():
        raise ImproperlyConfigured(f"{where} keeps nothing; set at least one of {list(POLICY_KEYS)} (e.g. 'DAILY': 7).")
    return policy


@dataclass(frozen=True)
class RetentionSettings:
    """``DJANGO_RCLONE['DB_RETENTION']``: a default policy and per-alias replacements."""

    default: RetentionPolicy | None
    databases: Mapping[str, RetentionPolicy]
    #: Per-alias entries that are invalid, with the error: only that alias's retention refuses to
    #: run (a check warns), so one alias's mistake cannot stop every command.
    broken: Mapping[str, str] = field(default_factory=dict)

    def for_database(self, database: str, fallback_keep: int) -> RetentionPolicy:
        """The alias's policy, else the default one, else ``LAST = DB_CLEANUP_KEEP``."""
        if database in self.broken:
            raise ImproperlyConfigured(self.broken[database])
        return self.databases.get(database) or self.default or RetentionPolicy(last=fallback_keep)


def parse_retention(raw: Any, aliases: Sequence[str]) -> RetentionSettings:
    """Validate ``DB_RETENTION``: policy keys for every alias, ``DATABASES`` for per-alias ones."""
    key = "DJANGO_RCLONE['DB_RETENTION']"
    if raw is None:
        return RetentionSettings(None, {})
    if not isinstance(raw, Mapping):
        raise ImproperlyConfigured(f"{key} is {raw!r}; use a dict such as {{'DAILY': 7, 'WEEKLY': 4, 'MONTHLY': 12}}.")
    top = {k: v for k, v in raw.items() if k != "DATABASES"}
    default = parse_policy(top, key) if top else None
    per_alias = raw.get("DATABASES") or {}
    if not isinstance(per_alias, Mapping):
        raise ImproperlyConfigured(f"{key}['DATABASES'] is {per_alias!r}; use a dict of alias -> policy dict.")
    databases = {}
    broken = {}
    for alias, policy in per_alias.items():
        where = f"{key}['DATABASES'][{alias!r}]"
        if alias not in aliases:
            broken[str(alias)] = (
                f"{where} names an alias that is not in DATABASES (known: {', '.join(sorted(aliases))})."
            )
            continue
        try:
            databases[str(alias)] = parse_policy(policy, where)
        except ImproperlyConfigured as exc:
            broken[str(alias)] = str(exc)
    return RetentionSettings(default, databases, broken)
