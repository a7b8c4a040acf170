"""The bench's "typical row": the same generated text for the database fill (run.py) and for the
compression stage measured alone (stage_levels.py)."""

from __future__ import annotations

WORDS = [
    "lorem",
    "ipsum",
    "dolor",
    "sit",
    "amet",
    "consectetur",
    "adipiscing",
    "elit",
    "sed",
    "do",
    "eiusmod",
    "tempor",
]


def row(i: int) -> tuple[str, str, str, str]:
    """Row ``i``: name, email, created (ISO text) and a body of 20 to 59 words."""
    body = " ".join(WORDS[(i + k) % len(WORDS)] for k in range(20 + i % 40))
    return f"User {i}", f"user{i}@example.com", f"2024-01-{1 + i % 28:02d}T12:{i % 60:02d}:00", body
