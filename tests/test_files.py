"""anju.files.write_whole: a small file written whole or not at all, with its mode from the start."""

from __future__ import annotations

import errno
import os
import stat
from pathlib import Path

import pytest

from anju.files import write_whole


@pytest.mark.parametrize("hard_links", [True, False], ids=["hard-links", "no-hard-links"])
def test_written_whole_with_its_mode_over_or_never_over_a_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, hard_links: bool
) -> None:
    """Also on a file system without hard links (FAT, some shares): a new file is still never
    written over one made meanwhile."""
    if not hard_links:

        def no_links(src: str, dst: str) -> None:
            raise OSError(errno.EPERM, "Operation not permitted")

        monkeypatch.setattr(os, "link", no_links)
    path = tmp_path / "key.json"
    write_whole(path, b"one", overwrite=False)
    assert path.read_bytes() == b"one" and stat.S_IMODE(path.stat().st_mode) == 0o600
    with pytest.raises(FileExistsError):
        write_whole(path, b"two", overwrite=False)
    assert path.read_bytes() == b"one"
    write_whole(path, b"three", mode=0o644)
    assert path.read_bytes() == b"three" and stat.S_IMODE(path.stat().st_mode) == 0o644
    assert sorted(p.name for p in tmp_path.iterdir()) == ["key.json"]  # no temporary file left


def test_a_kill_9s_leftover_goes_and_a_failed_write_leaves_nothing(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = tmp_path / "node.key"
    (tmp_path / ".node.key.abcd1234.tmp").write_bytes(b"a seed, half written")
    (tmp_path / ".other.abcd.tmp").write_bytes(b"not ours")
    write_whole(path, b"whole")
    assert sorted(p.name for p in tmp_path.iterdir()) == [".other.abcd.tmp", "node.key"]

    def full(fd: int) -> None:
        raise OSError(errno.ENOSPC, "No space left on device")  # (what a full disk answers a sync)

    monkeypatch.setattr(os, "fsync", full)
    with pytest.raises(OSError):
        write_whole(path, b"new content that does not fit")
    monkeypatch.undo()
    assert path.read_bytes() == b"whole" and sorted(p.name for p in tmp_path.iterdir()) == [
        ".other.abcd.tmp",
        "node.key",
    ]
