"""Concurrent backups of one alias never collide: each run publishes its own intact backup."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

from tests.core.conftest import settings_for, start


def test_simultaneous_backups_of_one_alias_both_land_intact(tmp_path: Path) -> None:
    remote = tmp_path / "remote"
    runs = [
        start(["dbbackup"], settings_for(remote, ["--size", "4000000", "--seed", str(seed)], [])) for seed in (1, 2, 3)
    ]
    for run in runs:
        _out, err = run.communicate(timeout=120)
        assert run.returncode == 0, err
    manifests = sorted((remote / "db").glob("*.manifest.json"))
    assert len(manifests) == 3
    digests = set()
    for manifest_path in manifests:
        manifest = json.loads(manifest_path.read_text())
        data = (remote / "db" / manifest["name"]).read_bytes()
        assert len(data) == manifest["size"]
        assert hashlib.sha256(data).hexdigest() == manifest["sha256"]
        digests.add(manifest["sha256"])
    assert len(digests) == 3  # three different payloads, none overwritten by another run
