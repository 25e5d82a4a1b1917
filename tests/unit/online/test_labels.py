"""The label store: append-only events, undo, export/import, durability under SIGKILL, concurrent writers,
and the same behaviour on a real PostgreSQL server started in a temp folder."""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import signal
import socket
import sqlite3
import subprocess
import sys
import tempfile
import textwrap
import time
from collections.abc import Iterator
from pathlib import Path

import cv2
import numpy as np
import pandas as pd
import pytest

from olkit.errors import LabelStoreLockedError, OlkitError
from olkit.online.labels import EVENT_COLUMNS, EXPORT_MARKER, LabelStore, apply_labels

# ---------------------------------------------------------------------------------------------- fixtures


def _manifest(root: Path, n: int = 6, seed: int = 0) -> pd.DataFrame:
    """``n`` tiny seeded PNGs under ``root/data_new/<class>/`` and their manifest rows."""
    rng = np.random.default_rng(seed)
    rows = []
    for i in range(n):
        label = str(i % 2)
        path = root / "data_new" / label / f"img_{i:03d}.png"
        path.parent.mkdir(parents=True, exist_ok=True)
        cv2.imwrite(str(path), rng.integers(0, 255, (12, 12, 3), dtype=np.uint8))
        rows.append(
            {"path": str(path), "sha256": hashlib.sha256(path.read_bytes()).hexdigest(), "label": label}
        )
    return pd.DataFrame(rows)


@pytest.fixture()
def images(tmp_path: Path) -> pd.DataFrame:
    return _manifest(tmp_path / "data")


@pytest.fixture()
def store(tmp_path: Path) -> Iterator[LabelStore]:
    s = LabelStore(tmp_path / "run" / "labels.sqlite", annotator="ann")
    yield s
    s.close()


def _pg_binaries() -> Path | None:
    found = sorted(Path("/usr/lib/postgresql").glob("*/bin/initdb"))
    return found[-1].parent if found else None


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@pytest.fixture(scope="module")
def postgres_url() -> Iterator[str]:
    """A throwaway PostgreSQL server in a temp folder (Debian's binaries, run as a non-root user when root)."""
    bindir = _pg_binaries()
    if bindir is None:
        pytest.skip(
            "PostgreSQL binaries not found under /usr/lib/postgresql (make system-deps installs them)"
        )
    folder = Path(tempfile.mkdtemp(prefix="olkit-pg-"))
    data, sock = folder / "data", folder / "sock"
    sock.mkdir()
    prefix: list[str] = []
    if os.geteuid() == 0:  # postgres refuses to run as root
        shutil.chown(folder, "postgres", "postgres")
        shutil.chown(sock, "postgres", "postgres")
        prefix = ["runuser", "-u", "postgres", "--"]
    port = _free_port()
    env = {**os.environ, "LC_ALL": "C"}
    subprocess.run(
        [*prefix, str(bindir / "initdb"), "-D", str(data), "-A", "trust", "-U", "olkit", "-E", "UTF8"],
        check=True,
        capture_output=True,
        env=env,
    )
    opts = f"-k {sock} -p {port} -h 127.0.0.1 -c fsync=off -c full_page_writes=off"
    subprocess.run(
        [
            *prefix,
            str(bindir / "pg_ctl"),
            "-D",
            str(data),
            "-o",
            opts,
            "-l",
            str(folder / "log"),
            "-w",
            "start",
        ],
        check=True,
        capture_output=True,
        env=env,
    )
    try:
        yield f"postgresql+psycopg://olkit@127.0.0.1:{port}/postgres"
    finally:
        subprocess.run(
            [*prefix, str(bindir / "pg_ctl"), "-D", str(data), "-m", "immediate", "stop"],
            capture_output=True,
            env=env,
        )
        shutil.rmtree(folder, ignore_errors=True)


# ---------------------------------------------------------------------------------------------- events


def test_current_label_is_latest_event_and_undo_appends(store: LabelStore, images: pd.DataFrame) -> None:
    a, b = images.sha256[0], images.sha256[1]
    store.add(a, "1", path=images.path[0], round=0)
    store.add(a, "0", path=images.path[0], round=0)
    store.add(b, "1", path=images.path[1], round=1, source="simulated")
    assert store.labels() == {a: "0", b: "1"}
    assert store.label_of(a) == "0"

    back = store.undo(a)
    assert back is not None and back.label == "1" and back.undoes == 2
    assert store.labels() == {a: "1", b: "1"}
    assert store.undo(a).label == ""  # type: ignore[union-attr]
    assert store.labels() == {b: "1"}
    assert store.undo(a) is None  # nothing left to take back for a
    assert store.undo().sha256 == b  # type: ignore[union-attr]  # latest label overall
    assert store.labels() == {}

    events = store.events()
    assert list(events["id"]) == [1, 2, 3, 4, 5, 6]  # append-only: nothing updated or deleted
    assert list(events["label"]) == ["1", "0", "1", "1", "", ""]
    assert list(events["undoes"].astype(object).fillna(-1)) == [-1, -1, -1, 2, 1, 3]
    assert events["time"].dt.tz is not None
    assert set(events["annotator"]) == {"ann"}


def test_undo_only_own_leaves_colleagues_labels(store: LabelStore, images: pd.DataFrame) -> None:
    a, b = images.sha256[0], images.sha256[1]
    store.add(a, "1", annotator="alice")
    store.add(b, "0", annotator="bob")
    store.add(a, "0", annotator="bob")  # bob relabels alice's image: alice has nothing current left
    assert store.undo(annotator="alice", only_own=True) is None
    assert store.undo(annotator="bob", only_own=True).sha256 == a  # type: ignore[union-attr]
    assert store.labels() == {a: "1", b: "0"}


def test_labels_survive_reopening(tmp_path: Path, images: pd.DataFrame) -> None:
    db = tmp_path / "labels.sqlite"
    first = LabelStore(db)
    first.add_many({images.sha256[0]: "1", images.sha256[1]: "0"}, round=2, source="simulated")
    first.close()
    again = LabelStore(str(db))
    assert again.labels() == {images.sha256[0]: "1", images.sha256[1]: "0"}
    assert set(again.current()["round"]) == {2}
    with sqlite3.connect(db) as conn:
        assert conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"


def test_rejects_bad_source_and_warns_in_memory() -> None:
    with pytest.warns(UserWarning, match="lost when the kernel stops"):
        mem = LabelStore(":memory:")
    with pytest.raises(ValueError, match="source"):
        mem.add("ab" * 32, "1", source="guess")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="sha256"):
        mem.add("", "1")


def test_locked_database_is_retried_then_reported(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    db = tmp_path / "labels.sqlite"
    store = LabelStore(db, timeout_s=0.05, retries=2)
    blocker = sqlite3.connect(db, isolation_level=None)
    blocker.execute("BEGIN IMMEDIATE")  # another process holding the write lock
    try:
        with pytest.raises(LabelStoreLockedError, match=r"labels\.sqlite is locked by another writer"):
            store.add("ab" * 32, "1")
        assert sum("retrying" in r.getMessage() for r in caplog.records) == 2
    finally:
        blocker.execute("ROLLBACK")
        blocker.close()
    store.add("ab" * 32, "1")  # works again once the other writer is done
    assert store.labels() == {"ab" * 32: "1"}


# ---------------------------------------------------------------------------------------------- export


def test_export_csv_json_and_original_folders(
    tmp_path: Path, store: LabelStore, images: pd.DataFrame
) -> None:
    for sha, path, label in images[["sha256", "path", "label"]].itertuples(index=False):
        store.add(sha, label, path=path, round=0)
    store.add(images.sha256[0], "1", path=images.path[0])  # relabel: the export follows the latest event

    csv = pd.read_csv(store.export_csv(tmp_path / "out" / "labels.csv"), dtype=str)
    assert len(csv) == 6 and csv.set_index("sha256").loc[images.sha256[0], "label"] == "1"
    doc = json.loads(store.export_json(tmp_path / "out" / "labels.json", history=True).read_text())
    assert len(doc["labels"]) == 7 and doc["labels"][-1]["label"] == "1"

    report = store.export_folders(tmp_path / "run")
    root = tmp_path / "run" / "ind_img"
    assert report.counts == {"N": 2, "P": 4}
    assert sorted(p.name for p in (root / "P").iterdir()) == [
        "img_000.png",
        "img_001.png",
        "img_003.png",
        "img_005.png",
    ]
    assert (root / "N" / "img_002.png").read_bytes() == Path(images.path[2]).read_bytes()

    store.undo(images.sha256[0])  # back to "0": a re-export must not leave it in P
    Path(images.path[4]).unlink()  # and a missing image is skipped and named, not fatal
    report = store.export_folders(tmp_path / "run")
    assert (root / "N" / "img_000.png").is_file() and not (root / "P" / "img_000.png").exists()
    assert [p.path for p in report.problems] == [images.path[4]]
    assert (root / EXPORT_MARKER).is_file()

    by_class = store.export_folders(tmp_path / "classes", layout="classes", folder="labeled")
    assert sorted(p.name for p in (tmp_path / "classes" / "labeled").iterdir() if p.is_dir()) == ["0", "1"]
    assert by_class.counts == {"0": 2, "1": 3}


def test_export_refuses_to_replace_foreign_folder(
    tmp_path: Path, store: LabelStore, images: pd.DataFrame
) -> None:
    store.add(images.sha256[0], "crack", path=images.path[0])
    (tmp_path / "ind_img").mkdir()
    (tmp_path / "ind_img" / "precious.txt").write_text("mine")
    with pytest.raises(OlkitError, match="not written by olkit"):
        store.export_folders(tmp_path)
    with pytest.raises(ValueError, match="layout='classes'"):
        store.export_folders(tmp_path / "x", layout="original")
    assert (tmp_path / "ind_img" / "precious.txt").read_text() == "mine"


# ---------------------------------------------------------------------------------------------- import


def test_import_csv_refuses_row_by_row(tmp_path: Path, store: LabelStore, images: pd.DataFrame) -> None:
    data_root = tmp_path / "data"
    outside = tmp_path / "elsewhere.png"
    shutil.copy(images.path[0], outside)
    rows = [
        {"path": "data_new/0/img_000.png", "sha256": "", "label": "1"},  # relative to the data root: ok
        {"path": "", "sha256": images.sha256[1], "label": "0"},  # by hash: ok
        {"path": images.path[2], "sha256": "", "label": "7"},  # unknown class
        {"path": "data_new/0/nope.png", "sha256": "", "label": "0"},  # unknown image
        {"path": "../elsewhere.png", "sha256": "", "label": "0"},  # leaves the data root
        {"path": str(outside), "sha256": "", "label": "0"},  # absolute, outside too
        {"path": "", "sha256": "f" * 64, "label": "1"},  # unknown hash
        {"path": images.path[3], "sha256": images.sha256[4], "label": "1"},  # hash and path disagree
        {"path": images.path[5], "sha256": images.sha256[5], "label": "1"},  # ok
    ]
    csv = tmp_path / "labels.csv"
    pd.DataFrame(rows).to_csv(csv, index=False)
    report = store.import_csv(csv, known=images, classes=["0", "1"], data_root=data_root, round=3)

    assert report.imported == 3
    reasons = {r.row: r.reason for r in report.refused}
    assert sorted(reasons) == [3, 4, 5, 6, 7, 8]
    assert "unknown class '7'" in reasons[3]
    assert "unknown image" in reasons[4] and "unknown image" in reasons[7]
    assert "leaves the data root" in reasons[5] and "leaves the data root" in reasons[6]
    assert "not the hash" in reasons[8]
    assert "refused 6 rows" in str(report)
    assert store.labels() == {images.sha256[0]: "1", images.sha256[1]: "0", images.sha256[5]: "1"}
    current = store.current()
    assert set(current["source"]) == {"import"} and set(current["round"]) == {3}
    assert current.set_index("sha256").loc[images.sha256[1], "path"] == images.path[1]


def test_export_csv_round_trips_through_import(
    tmp_path: Path, store: LabelStore, images: pd.DataFrame
) -> None:
    store.add_many(dict(zip(images.sha256, images.label)))
    csv = store.export_csv(tmp_path / "labels.csv")
    other = LabelStore(tmp_path / "other.sqlite")
    report = other.import_csv(csv, known=images, classes=["0", "1"])
    assert report.imported == 6 and not report.refused
    assert other.labels() == store.labels()
    with pytest.raises(OlkitError, match="'label' column"):
        pd.DataFrame({"file": ["x"]}).to_csv(tmp_path / "bad.csv", index=False)
        other.import_csv(tmp_path / "bad.csv", known=images, classes=["0", "1"])


# ---------------------------------------------------------------------------------------------- processes

_WRITER = textwrap.dedent(
    """
    import sys, time
    from olkit.online.labels import LabelStore
    db, tag, n, pause = sys.argv[1], sys.argv[2], int(sys.argv[3]), float(sys.argv[4])
    store = LabelStore(db, annotator=tag)
    print("ready", flush=True)
    for i in range(n):
        sha = f"{tag}{i:06d}".ljust(64, "0")
        store.add(sha, str(i % 3), path=f"/img/{tag}/{i}.png", round=0)
        print(sha, flush=True)  # printed only after add() returned: the commit is durable
        time.sleep(pause)
    """
)


def _writer(db: Path, tag: str, n: int, pause: float) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, "-c", _WRITER, str(db), tag, str(n), str(pause)],
        stdout=subprocess.PIPE,
        text=True,
        cwd=Path(__file__).resolve().parents[3],
    )


@pytest.mark.slow
def test_sigkill_mid_labeling_loses_no_committed_label(tmp_path: Path) -> None:
    db = tmp_path / "labels.sqlite"
    proc = _writer(db, "kill", 10_000, 0.0)
    assert proc.stdout is not None
    assert proc.stdout.readline().strip() == "ready"
    committed = []
    while len(committed) < 150:
        committed.append(proc.stdout.readline().strip())
    os.kill(proc.pid, signal.SIGKILL)  # mid-way: it was writing as fast as it could
    rest, _ = proc.communicate()
    committed += [line for line in rest.splitlines() if line]  # printed before the kill landed
    assert proc.returncode == -signal.SIGKILL

    with sqlite3.connect(db) as conn:
        assert conn.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
    store = LabelStore(db)
    assert store.integrity_check() == "ok"
    labels = store.labels()
    assert set(committed) <= set(labels)
    assert len(labels) < 10_000  # it really was killed mid-way
    for sha in committed:
        assert labels[sha] == str(int(sha[4:10]) % 3)


@pytest.mark.slow
def test_two_processes_writing_lose_nothing(tmp_path: Path) -> None:
    db = tmp_path / "labels.sqlite"
    LabelStore(db).close()  # schema exists before both start
    n = 150
    procs = [_writer(db, tag, n, 0.0) for tag in ("aaaa", "bbbb")]
    outs = [p.communicate(timeout=120)[0] for p in procs]
    assert [p.returncode for p in procs] == [0, 0]
    store = LabelStore(db)
    events = store.events()
    assert len(events) == 2 * n
    assert events["id"].is_unique
    assert set(events["annotator"]) == {"aaaa", "bbbb"}
    assert len(store.labels()) == 2 * n
    assert sum(len(o.splitlines()) - 1 for o in outs) == 2 * n
    assert store.integrity_check() == "ok"


# ---------------------------------------------------------------------------------------------- postgres


@pytest.mark.postgres
@pytest.mark.slow
def test_postgres_store_behaves_like_sqlite(postgres_url: str, tmp_path: Path, images: pd.DataFrame) -> None:
    store = LabelStore(postgres_url, annotator="team")
    assert store.dialect == "postgresql" and "olkit@127.0.0.1" in store.describe()
    a, b = images.sha256[0], images.sha256[1]
    store.add(a, "1", path=images.path[0], round=0)
    store.add(a, "0", path=images.path[0], round=0)
    store.add(b, "1", path=images.path[1], round=0, source="simulated")
    assert store.labels() == {a: "0", b: "1"}
    assert store.undo(a).label == "1"  # type: ignore[union-attr]
    assert store.labels() == {a: "1", b: "1"}
    assert store.events()["time"].dt.tz is not None
    report = store.export_folders(tmp_path)
    assert report.counts == {"N": 0, "P": 2}

    # a second client (another expert's kernel) sees every label at once
    other = LabelStore(postgres_url, annotator="second")
    other.add(b, "0", path=images.path[1])
    assert store.labels() == {a: "1", b: "0"}
    assert list(store.events()["annotator"])[-1] == "second"


@pytest.mark.postgres
@pytest.mark.slow
def test_postgres_two_processes_lose_nothing(postgres_url: str) -> None:
    LabelStore(postgres_url).close()
    n = 60
    procs = [_writer(postgres_url, tag, n, 0.0) for tag in ("pgaa", "pgbb")]  # type: ignore[arg-type]
    start = time.monotonic()
    for p in procs:
        p.communicate(timeout=120)
    assert [p.returncode for p in procs] == [0, 0], time.monotonic() - start
    labels = LabelStore(postgres_url).labels()
    assert sum(sha.startswith(("pgaa", "pgbb")) for sha in labels) == 2 * n


# ---------------------------------------------------------------------------------------------- the model of each event
_V1_SCHEMA = (
    "CREATE TABLE label_events (id INTEGER PRIMARY KEY {auto}, sha256 VARCHAR(64) NOT NULL, path TEXT NOT NULL, "
    "label TEXT NOT NULL, annotator TEXT NOT NULL, time TIMESTAMP{tz} NOT NULL, round INTEGER, "
    "source VARCHAR(16) NOT NULL, undoes INTEGER)",
    "CREATE TABLE label_store_info (key VARCHAR(64) PRIMARY KEY, value TEXT NOT NULL)",
    "INSERT INTO label_store_info (key, value) VALUES ('schema_version', '1')",
    "INSERT INTO label_events (sha256, path, label, annotator, time, round, source) "
    "VALUES ('{sha}', 'old.png', '1', 'old expert', '2025-01-01 10:00:00', 0, 'expert')",
)


def _write_v1_store(url: str, sha: str, *, postgres: bool = False) -> None:
    import sqlalchemy as sa

    engine = sa.create_engine(url)
    with engine.begin() as conn:
        for stmt in _V1_SCHEMA:
            auto = "GENERATED BY DEFAULT AS IDENTITY" if postgres else ""
            conn.exec_driver_sql(stmt.format(auto=auto, tz=" WITH TIME ZONE" if postgres else "", sha=sha))
    engine.dispose()


def _check_migrated(store: LabelStore, old: str, new: str) -> None:
    before = store.events()
    assert list(before.columns) == list(EVENT_COLUMNS) and before["model"].isna().all()
    assert store.labels() == {old: "1"}  # the old event reads as before
    store.add(new, "0", round=3, model="feedbeefcafe0123")
    store.add_many({old: "0"}, round=3, model="feedbeefcafe0123", source="simulated")
    events = store.events()
    assert events["model"].tolist()[1:] == ["feedbeefcafe0123"] * 2 and events["round"].tolist() == [0, 3, 3]
    assert store.labels() == {old: "0", new: "0"}


def test_label_events_carry_the_round_and_the_model(store: LabelStore, images: pd.DataFrame) -> None:
    a = images.sha256[0]
    event = store.add(a, "1", path=images.path[0], round=2, model="0123456789abcdef")
    assert event.model == "0123456789abcdef" and event.round == 2
    undo = store.undo(a, model="fedcba9876543210")
    assert undo is not None and undo.model == "fedcba9876543210"
    assert store.events()["model"].tolist() == ["0123456789abcdef", "fedcba9876543210"]


def test_a_version_1_store_is_migrated_and_stays_readable(tmp_path: Path) -> None:
    path = tmp_path / "old.sqlite"
    old, new = "a" * 64, "b" * 64
    _write_v1_store(f"sqlite:///{path}", old)
    store = LabelStore(path)
    _check_migrated(store, old, new)
    store.close()
    again = LabelStore(path)  # opening a migrated store again changes nothing
    assert again.events()["model"].isna().tolist() == [True, False, False]
    assert again.labels() == {old: "0", new: "0"}


@pytest.mark.postgres
@pytest.mark.slow
def test_postgres_version_1_store_is_migrated(postgres_url: str) -> None:
    import sqlalchemy as sa

    admin = sa.create_engine(postgres_url, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.exec_driver_sql("DROP DATABASE IF EXISTS olkit_v1")
        conn.exec_driver_sql("CREATE DATABASE olkit_v1")
    admin.dispose()
    url = postgres_url.rsplit("/", 1)[0] + "/olkit_v1"
    old, new = "c" * 64, "d" * 64
    _write_v1_store(url, old, postgres=True)
    store = LabelStore(url)
    _check_migrated(store, old, new)
    store.close()


def test_apply_labels_records_the_sessions_round_and_model(tmp_path: Path, images: pd.DataFrame) -> None:
    class Session:
        classes = ("0", "1")
        round = 4
        fingerprint = "aaaabbbbccccdddd"

        def predictions(self, split: str = "test") -> pd.DataFrame:
            return images

    store = LabelStore(tmp_path / "l.sqlite")
    report = apply_labels(Session(), store, {images.sha256[0]: "1"}, source="simulated")  # type: ignore[arg-type]
    assert report.imported == 1
    events = store.events()
    assert events["model"].tolist() == ["aaaabbbbccccdddd"] and events["round"].tolist() == [4]
