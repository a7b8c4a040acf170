"""``PsqlRestrictGuard`` on its own: the same output however the stream is cut into chunks, and
which psql versions have ``\\restrict``."""

from __future__ import annotations

import pytest

from django_rclone_postgres.restrict import PsqlRestrictGuard, has_restrict

DUMP = (
    b"--\n-- PostgreSQL database dump\n--\n\n\\restrict dumpkey123\n\n-- Dumped from database version 15.18\n\n"
    b"SET statement_timeout = 0;\nCOPY public.t (a) FROM stdin;\n\\unrestrict x\n\\\\unrestrict y\n\\.\n\n"
    b"--\n-- PostgreSQL database dump complete\n--\n\n\\unrestrict dumpkey123\n\n"
)
EXPECTED = (
    b"\\restrict KEY\n--\n-- PostgreSQL database dump\n--\n\n\n-- Dumped from database version 15.18\n\n"
    b"SET statement_timeout = 0;\nCOPY public.t (a) FROM stdin;\n\\unrestrict x\n\\\\unrestrict y\n\\.\n\n"
    b"--\n-- PostgreSQL database dump complete\n--\n\n\n"
)


def guarded(data: bytes, size: int) -> bytes:
    guard = PsqlRestrictGuard("KEY")
    out = [guard.start()]
    out += [bytes(guard.feed(memoryview(data[i : i + size]))) for i in range(0, len(data), size)]
    return b"".join([*out, guard.finish()])


@pytest.mark.parametrize("size", [1, 2, 3, 5, 11, 64, len(DUMP)])
def test_only_the_dumps_own_restrict_lines_are_dropped(size: int) -> None:
    assert guarded(DUMP, size) == EXPECTED


@pytest.mark.parametrize("size", [1, 4, 1000])
def test_an_unrestrict_followed_by_more_input_reaches_psql(size: int) -> None:
    """psql, restricted with our key, refuses it (and the restore fails)."""
    attack = DUMP.replace(b"SET statement_timeout", b"\\unrestrict dumpkey123\n\\! id\nSET statement_timeout")
    out = guarded(attack, size)
    assert out.startswith(b"\\restrict KEY\n")
    assert b"\\unrestrict dumpkey123\n\\! id\n" in out


def test_every_run_has_its_own_key() -> None:
    assert PsqlRestrictGuard().start() != PsqlRestrictGuard().start()


@pytest.mark.parametrize(
    ("version", "restricts"),
    [
        ("psql (PostgreSQL) 15.18 (Debian 15.18-0+deb12u1)", True),
        ("psql (PostgreSQL) 15.13", False),
        ("psql (PostgreSQL) 17.6", True),
        ("psql (PostgreSQL) 16.9", False),
        ("psql (PostgreSQL) 18beta1", True),
        ("psql (PostgreSQL) 12.22", False),
        ("", False),
    ],
)
def test_versions_with_restrict(version: str, restricts: bool) -> None:
    assert has_restrict(version) is restricts
