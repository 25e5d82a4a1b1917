"""olkit.files, the one atomic-write path: a writer that fails leaves the old file as it was and no temporary file."""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path

import numpy as np
import pytest

from olkit.files import (
    atomic_save,
    atomic_write_bytes,
    atomic_write_json,
    atomic_write_text,
    atomic_writer,
    utc_now,
    utc_stamp,
)
from olkit.paths import RunFolder


class Boom(RuntimeError):
    pass


def _left(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.iterdir())


def test_atomic_writer_replaces_on_success(tmp_path: Path) -> None:
    dest = tmp_path / "sub" / "a.txt"  # the parent is created
    with atomic_writer(dest, mode="w") as fh:
        fh.write("new ")
        fh.write("text")
    assert dest.read_text(encoding="utf-8") == "new text"
    assert _left(dest.parent) == ["a.txt"]


@pytest.mark.parametrize("mode", ["w", "wb"])
def test_atomic_writer_keeps_the_old_file_when_the_writer_raises(tmp_path: Path, mode: str) -> None:
    dest = tmp_path / "state.json"
    dest.write_text('{"old": true}', encoding="utf-8")
    with pytest.raises(Boom), atomic_writer(dest, mode=mode) as fh:
        fh.write("half a " if mode == "w" else b"half a ")
        raise Boom("the writer dies half-way")
    assert dest.read_text(encoding="utf-8") == '{"old": true}'
    assert _left(tmp_path) == ["state.json"]  # no temporary file left


def test_atomic_writer_leaves_nothing_when_there_was_no_file(tmp_path: Path) -> None:
    with pytest.raises(Boom), atomic_writer(tmp_path / "new.bin") as fh:
        fh.write(b"x")
        raise Boom
    assert _left(tmp_path) == []


def test_write_helpers_round_trip(tmp_path: Path) -> None:
    assert atomic_write_text(tmp_path / "t.txt", "héllo\n").read_text(encoding="utf-8") == "héllo\n"
    assert atomic_write_bytes(tmp_path / "b.bin", b"\x00\xff").read_bytes() == b"\x00\xff"
    doc = {"b": 1, "a": tmp_path, "when": dt.date(2026, 12, 1), "x": np.float32(0.5)}
    out = json.loads(atomic_write_json(tmp_path / "d.json", doc, sort_keys=True).read_text(encoding="utf-8"))
    assert out == {"a": str(tmp_path), "b": 1, "when": "2026-12-01", "x": "0.5"}
    assert _left(tmp_path) == ["b.bin", "d.json", "t.txt"]


def test_json_that_cannot_be_encoded_leaves_the_old_file(tmp_path: Path) -> None:
    dest = atomic_write_json(tmp_path / "m.json", {"ok": 1})

    class Unprintable:
        def __str__(self) -> str:
            raise Boom("no text form")

    with pytest.raises(Boom):
        atomic_write_json(dest, {"bad": Unprintable()})
    assert json.loads(dest.read_text(encoding="utf-8")) == {"ok": 1}
    assert _left(tmp_path) == ["m.json"]


def test_atomic_save_keeps_the_suffix_and_cleans_up(tmp_path: Path) -> None:
    dest = tmp_path / "emb.npz"
    seen: list[Path] = []

    def save(tmp: Path) -> None:
        seen.append(tmp)
        np.savez(tmp, a=np.arange(3))  # np.savez appends .npz unless the name ends in it

    assert atomic_save(dest, save) == dest
    assert seen[0].suffix == ".npz" and seen[0].parent == tmp_path and seen[0] != dest
    with np.load(dest) as z:
        assert z["a"].tolist() == [0, 1, 2]

    def fail(tmp: Path) -> None:
        tmp.write_bytes(b"partial")
        raise Boom("the library's save fails")

    with pytest.raises(Boom):
        atomic_save(dest, fail)
    with np.load(dest) as z:
        assert z["a"].tolist() == [0, 1, 2]
    assert _left(tmp_path) == ["emb.npz"]


def test_update_metrics_goes_through_it(tmp_path: Path) -> None:
    run = RunFolder.create(tmp_path / "run")
    run.update_metrics("a", {"acc": 0.5})
    doc = run.update_metrics("a", {"f1": 0.25})
    assert doc == {"a": {"acc": 0.5, "f1": 0.25}}
    assert json.loads(run.metrics.read_text(encoding="utf-8")) == doc
    assert not [p for p in run.root.iterdir() if p.name.startswith(".")]  # no temporary file left


def test_utc_now_and_stamp() -> None:
    now = utc_now()
    assert now.tzinfo is not None and now.utcoffset() == dt.timedelta(0)
    stamp = utc_stamp()
    parsed = dt.datetime.fromisoformat(stamp)
    assert parsed.utcoffset() == dt.timedelta(0) and parsed.microsecond == 0
    assert abs((parsed - now).total_seconds()) < 5
