"""The durable label store: append-only label events in SQLite (default) or PostgreSQL.

An expert's click is the most expensive thing in the loop, so labels never live in a widget or in kernel memory.
Every decision is one row appended to ``label_events`` (image sha256, path, label, annotator, time, round,
source); the *current* label of an image is its latest event, and undo appends a new event that restores the
label before (``undoes`` names the event it takes back). Nothing is ever updated or deleted, so the table is
also the audit trail the original's ``ind_img/N`` / ``ind_img/P`` copies never were.

SQLite (a file in the run folder, ``RunFolder.labels_db``) runs in WAL mode with ``synchronous=FULL``; a team
points :class:`LabelStore` at a PostgreSQL URL instead (``postgresql+psycopg://user@host/db``, needs
``pip install 'olkit[postgres]'``). The same code and SQL serve both.

A team. Every event carries its annotator, so several inspectors label into one store (PostgreSQL, one
:class:`LabelStore` per inspector, each with its ``annotator``). :meth:`LabelStore.votes` gives each annotator's
own current label of each image (their latest event not taken back by an undo); ``LabelStore(..., resolve=...)``
names the rule that turns votes into *the* current label (:data:`RESOLUTIONS`, :func:`resolve_votes`):
``"latest"`` (default: the latest event of anyone, as a single annotator's store always did), ``"majority"``
(most annotators; a tie goes to the label voted most recently) or ``"reviewer"`` (the named ``reviewer``'s
label where they gave one, else the majority). Agreement (Cohen's / Fleiss' kappa per round) and the review of
disagreements live in :mod:`olkit.online.team`.

The headless path of the relabel notebook uses :func:`apply_labels` (labels from a CSV file or the simulated
expert, through the same session API the grid uses) and :func:`retrain_from_store`.
"""

from __future__ import annotations

import datetime as dt
import getpass
import json
import logging
import os
import shutil
import time
import uuid
import warnings
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Literal, Protocol, TypeVar, get_args, runtime_checkable

import pandas as pd
import sqlalchemy as sa
from sqlalchemy import event as sa_event
from sqlalchemy.engine import Connection, Engine
from sqlalchemy.pool import StaticPool

from olkit.errors import DataNotFoundError, LabelStoreLockedError, OlkitError
from olkit.files import atomic_write_json, utc_now, utc_stamp
from olkit.types import ClassName, ImageProblem, LabelSource, PathLike, Sha256

__all__ = [
    "EVENT_COLUMNS",
    "EVENT_KINDS",
    "RESOLUTIONS",
    "EventKind",
    "ExportReport",
    "ImportReport",
    "LabelEvent",
    "LabelStore",
    "Refusal",
    "Resolution",
    "SessionLike",
    "annotator_votes",
    "apply_labels",
    "binary_folder_names",
    "resolve_votes",
    "retrain_from_store",
]

log = logging.getLogger(__name__)

SCHEMA_VERSION = 3  # 2: events carry the model (classifier fingerprint); 3: the kind and batch of an event
EVENT_COLUMNS: tuple[str, ...] = (
    "id",
    "sha256",
    "path",
    "label",
    "annotator",
    "time",
    "round",
    "source",
    "undoes",
    "model",
    "kind",
    "batch",
)
"""Columns of :meth:`LabelStore.events` (``label`` is ``""`` for an event that clears a label; ``model`` is the
fingerprint of the classifier that showed the image, :func:`olkit.online.session.classifier_fingerprint`, empty
in events written before schema version 2; ``kind`` is :data:`EventKind` or empty, ``batch`` is shared by the events
of one transaction of :meth:`LabelStore.add_many`, empty for single events)."""

EventKind = Literal["accepted", "changed", "unsure"]
"""What an expert's answer was: ``accepted`` the label the model proposed (the tile's prediction), ``changed`` it
to another class, or was ``unsure`` (an event with the empty label: the image counts as unlabelled, so training
and exports leave it out, but the answer is kept). Events of imports, simulations and older stores have none."""
EVENT_KINDS: tuple[str, ...] = get_args(EventKind)

ORIGINAL_FOLDERS: dict[ClassName, str] = {"0": "N", "1": "P"}
"""The original's export folders: class ``"0"`` (no pitting) to ``N``, ``"1"`` (pitting) to ``P``."""

EXPORT_MARKER = ".olkit-export.json"
_SOURCES: tuple[str, ...] = get_args(LabelSource)
Resolution = Literal["latest", "majority", "reviewer"]
"""How a team's votes become an image's current label (see the module docstring)."""
RESOLUTIONS: tuple[str, ...] = get_args(Resolution)
_T = TypeVar("_T")


def binary_folder_names(classes: Iterable[ClassName]) -> dict[ClassName, str] | None:
    """The original's ``N``/``P`` folder names when ``classes`` are the binary ``"0"``/``"1"``, else ``None``."""
    names = set(classes)
    return dict(ORIGINAL_FOLDERS) if names and names <= set(ORIGINAL_FOLDERS) else None


@dataclass(frozen=True)
class LabelEvent:
    """One appended row: who said which image is which class, when, in which round and from where."""

    id: int
    sha256: Sha256
    path: str
    label: ClassName  # "" clears the label (an undo back to "unlabeled")
    annotator: str
    time: dt.datetime
    round: int | None
    source: str
    undoes: int | None = None
    model: str | None = None  # fingerprint of the classifier that showed the image (None: unknown)
    kind: str | None = None  # an EventKind: accepted, changed, unsure (None: not said)
    batch: str | None = None  # shared by the events of one add_many transaction (undo_batch takes them back)


@dataclass(frozen=True)
class Refusal:
    """A CSV row :meth:`LabelStore.import_csv` did not import, with the reason."""

    row: int  # 1-based data row number in the CSV (the header is row 0)
    value: str  # the path or sha256 the row named
    reason: str

    def __str__(self) -> str:
        return f"row {self.row} ({self.value}): {self.reason}"


@dataclass(frozen=True)
class ImportReport:
    """What :meth:`LabelStore.import_csv` did: rows imported and rows refused (each with its reason)."""

    path: str
    imported: int
    refused: tuple[Refusal, ...] = ()

    def __str__(self) -> str:
        lines = [f"{self.path}: imported {self.imported} labels, refused {len(self.refused)} rows"]
        lines += [f"  {r}" for r in self.refused[:20]]
        if len(self.refused) > 20:
            lines.append(f"  ... and {len(self.refused) - 20} more")
        return "\n".join(lines)


@dataclass(frozen=True)
class ExportReport:
    """What :meth:`LabelStore.export_folders` wrote: files per folder and images it could not copy."""

    root: str
    counts: dict[str, int] = field(default_factory=dict)
    problems: tuple[ImageProblem, ...] = ()

    def __str__(self) -> str:
        per = ", ".join(f"{k}: {v}" for k, v in self.counts.items()) or "nothing"
        text = f"exported to {self.root} ({per})"
        if self.problems:
            text += "\n" + "\n".join(f"  skipped {p}" for p in self.problems)
        return text


def _is_lock_error(exc: BaseException) -> bool:
    text = str(getattr(exc, "orig", exc)).lower()
    return "database is locked" in text or "database is busy" in text or "database table is locked" in text


class LabelStore:
    """Append-only, durable label events in SQLite or PostgreSQL.

    Parameters
    ----------
    location
        A file path (SQLite, created with its folder if missing; ``run.labels_db`` in a run folder) or a SQLAlchemy
        URL: ``sqlite:///abs/path.sqlite``, ``postgresql+psycopg://user@host:5432/db``. ``":memory:"`` or
        ``"sqlite://"`` keeps labels in memory only and warns that they are lost when the kernel stops.
    annotator
        Name written with every event unless a call names another; default: the login name.
    timeout_s
        How long one write waits for another process's write lock (SQLite ``busy_timeout``) before the store
        retries; after ``retries`` more waits it raises :class:`~olkit.errors.LabelStoreLockedError`.
    retries
        Extra attempts after a "database is locked" error, each after ``timeout_s``, logged as warnings.
    resolve
        The rule that makes a team's votes the current label (:data:`RESOLUTIONS`): ``"latest"`` event,
        ``"majority"`` of the annotators (ties: the label voted last), or the ``"reviewer"``'s label (else the
        majority). :meth:`current`, :meth:`labels` and everything built on them (the grid, retraining, export)
        follow it.
    reviewer
        The annotator whose label decides under ``resolve="reviewer"``.

    Notes
    -----
    Durability. SQLite runs in WAL mode (readers never block the writer, a crash never corrupts the file) with
    ``PRAGMA synchronous=FULL``: every commit fsyncs the write-ahead log before :meth:`add` returns, so a label
    the grid has shown as saved survives a killed kernel *and* a power cut. ``NORMAL``, the usual WAL choice,
    is crash-safe for the process but may drop the last commits on power loss; a label costs an expert seconds
    and a commit costs one fsync (a few milliseconds, far below a human click rate), so ``FULL`` is the right
    trade here. Writes open ``BEGIN IMMEDIATE`` transactions, so two writers queue on the lock instead of
    deadlocking on a read-to-write upgrade.

    Examples
    --------
    >>> store = LabelStore(run.labels_db)                     # doctest: +SKIP
    >>> store.add(sha, "1", path=str(p), round=0)            # doctest: +SKIP
    >>> store.undo(sha); store.current()                     # doctest: +SKIP
    """

    def __init__(
        self,
        location: PathLike = ":memory:",
        *,
        annotator: str | None = None,
        timeout_s: float = 5.0,
        retries: int = 3,
        resolve: Resolution = "latest",
        reviewer: str | None = None,
    ) -> None:
        if resolve not in RESOLUTIONS:
            raise ValueError(f"resolve must be one of {RESOLUTIONS}, got {resolve!r}")
        if resolve == "reviewer" and not reviewer:
            raise ValueError("resolve='reviewer' needs reviewer= (the annotator whose label decides)")
        self.resolve: Resolution = resolve
        self.reviewer = reviewer
        self.url = self._url_for(location)
        self.annotator = annotator or _login_name()
        self.timeout_s = float(timeout_s)
        self.retries = int(retries)
        url = sa.make_url(self.url)
        self.dialect = url.get_backend_name()
        self.path: Path | None = None
        self.in_memory = self.dialect == "sqlite" and (url.database in (None, "", ":memory:"))
        if self.dialect == "sqlite":
            if self.in_memory:
                warnings.warn(
                    "LabelStore(':memory:') keeps labels in memory only: they are lost when the kernel stops. "
                    "Pass a file, e.g. LabelStore(run.labels_db).",
                    UserWarning,
                    stacklevel=2,
                )
                self._engine = sa.create_engine(
                    "sqlite://", poolclass=StaticPool, connect_args={"check_same_thread": False}
                )
            else:
                self.path = Path(str(url.database)).resolve()
                self.path.parent.mkdir(parents=True, exist_ok=True)
                self._engine = sa.create_engine(
                    self.url, connect_args={"timeout": self.timeout_s, "check_same_thread": False}
                )
            self._install_sqlite_hooks(self._engine)
        else:
            self._engine = sa.create_engine(self.url, pool_pre_ping=True)
        self._meta = sa.MetaData()
        self._events = sa.Table(
            "label_events",
            self._meta,
            sa.Column("id", sa.Integer, sa.Identity(), primary_key=True),
            sa.Column("sha256", sa.String(64), nullable=False),
            sa.Column("path", sa.Text, nullable=False, default=""),
            sa.Column("label", sa.Text, nullable=False),
            sa.Column("annotator", sa.Text, nullable=False),
            sa.Column("time", sa.DateTime(timezone=True), nullable=False),
            sa.Column("round", sa.Integer, nullable=True),
            sa.Column("source", sa.String(16), nullable=False),
            sa.Column("undoes", sa.Integer, nullable=True),
            sa.Column("model", sa.String(64), nullable=True),
            sa.Column("kind", sa.String(16), nullable=True),
            sa.Column("batch", sa.String(32), nullable=True),
            sa.Index("ix_label_events_sha256_id", "sha256", "id"),
        )
        self._info = sa.Table(
            "label_store_info",
            self._meta,
            sa.Column("key", sa.String(64), primary_key=True),
            sa.Column("value", sa.Text, nullable=False),
        )
        self._retry(self._create_schema)

    # ------------------------------------------------------------------ setup
    @staticmethod
    def _url_for(location: PathLike) -> str:
        text = os.fspath(location)
        if "://" in text:
            return text
        if text in ("", ":memory:"):
            return "sqlite://"
        return f"sqlite:///{Path(text).expanduser().resolve()}"

    def _install_sqlite_hooks(self, engine: Engine) -> None:
        busy_ms = int(self.timeout_s * 1000)
        in_memory = self.in_memory

        @sa_event.listens_for(engine, "connect")
        def _on_connect(dbapi_conn: Any, _record: Any) -> None:
            dbapi_conn.isolation_level = (
                None  # olkit issues BEGIN itself (pysqlite's own is deferred and late)
            )
            cur = dbapi_conn.cursor()
            if not in_memory:
                cur.execute("PRAGMA journal_mode=WAL")
            cur.execute("PRAGMA synchronous=FULL")
            cur.execute(f"PRAGMA busy_timeout={busy_ms}")
            cur.close()

        @sa_event.listens_for(engine, "begin")
        def _on_begin(conn: Connection) -> None:
            write = conn.get_execution_options().get("olkit_write", False)
            conn.exec_driver_sql("BEGIN IMMEDIATE" if write else "BEGIN")

    def _create_schema(self) -> None:
        with self._write() as conn:
            self._meta.create_all(conn)
            have = conn.execute(
                sa.select(self._info.c.value).where(self._info.c.key == "schema_version")
            ).scalar()
            if have is None:
                conn.execute(self._info.insert().values(key="schema_version", value=str(SCHEMA_VERSION)))
            elif int(have) > SCHEMA_VERSION:
                raise OlkitError(
                    f"{self.describe()}: label store schema version {have} is newer than this olkit "
                    f"({SCHEMA_VERSION}); upgrade olkit (pip install -U olkit) to open it."
                )
            elif int(have) < SCHEMA_VERSION:
                self._migrate(conn, int(have))

    def _migrate(self, conn: Connection, have: int) -> None:
        """Bring an older store up to :data:`SCHEMA_VERSION` in place (events are kept as they are)."""
        columns = {c["name"] for c in sa.inspect(conn).get_columns("label_events")}
        if have < 2 and "model" not in columns:  # 1 -> 2: the model column, empty for the old events
            conn.exec_driver_sql("ALTER TABLE label_events ADD COLUMN model VARCHAR(64)")
        if have < 3 and "kind" not in columns:  # 2 -> 3: kind and batch, empty for the old events
            conn.exec_driver_sql("ALTER TABLE label_events ADD COLUMN kind VARCHAR(16)")
            conn.exec_driver_sql("ALTER TABLE label_events ADD COLUMN batch VARCHAR(32)")
        conn.execute(
            self._info.update().where(self._info.c.key == "schema_version").values(value=str(SCHEMA_VERSION))
        )
        log.info("%s: label store schema migrated from %d to %d", self.describe(), have, SCHEMA_VERSION)

    def describe(self) -> str:
        """Where the labels live, for messages (the file path, or the URL without its password)."""
        if self.path is not None:
            return str(self.path)
        return sa.make_url(self.url).render_as_string(hide_password=True)

    def __repr__(self) -> str:
        return f"LabelStore({self.describe()!r}, annotator={self.annotator!r})"

    @contextmanager
    def _write(self) -> Iterator[Connection]:
        with self._engine.connect() as conn:
            conn = conn.execution_options(olkit_write=True)
            with conn.begin():
                yield conn

    def _retry(self, fn: Callable[[], _T]) -> _T:
        """Run ``fn``; on "database is locked" wait and retry ``retries`` times, then raise a clear error."""
        for attempt in range(self.retries + 1):
            try:
                return fn()
            except sa.exc.OperationalError as exc:
                if not _is_lock_error(exc):
                    raise
                if attempt == self.retries:
                    waited = (self.retries + 1) * self.timeout_s
                    raise LabelStoreLockedError(
                        f"{self.describe()} is locked by another writer (a second kernel or notebook labeling "
                        f"into the same store?) and stayed locked for about {waited:.0f} s. Nothing was lost; "
                        "close or finish the other writer and repeat the action, or open the store with a "
                        "larger LabelStore(..., timeout_s=...)."
                    ) from exc
                log.warning(
                    "%s is locked by another writer; retrying (%d of %d)",
                    self.describe(),
                    attempt + 1,
                    self.retries,
                )
                time.sleep(min(0.05 * 2**attempt, 1.0))
        raise AssertionError("unreachable")  # pragma: no cover

    def close(self) -> None:
        """Release the database connections (the data stays where it is)."""
        self._engine.dispose()

    def __enter__(self) -> LabelStore:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # ------------------------------------------------------------------ writing
    def _row(
        self,
        sha256: Sha256,
        label: ClassName,
        *,
        path: PathLike | None,
        annotator: str | None,
        round: int | None,
        source: str,
        when: dt.datetime,
        undoes: int | None = None,
        model: str | None = None,
        kind: str | None = None,
        batch: str | None = None,
    ) -> dict[str, Any]:
        if not isinstance(sha256, str) or not sha256:
            raise ValueError(f"sha256 must be a non-empty hex string, got {sha256!r}")
        if source not in _SOURCES:
            raise ValueError(f"source must be one of {_SOURCES}, got {source!r}")
        if kind is not None and kind not in EVENT_KINDS:
            raise ValueError(f"kind must be one of {EVENT_KINDS} or None, got {kind!r}")
        if kind == "unsure" and str(label) != "":
            raise ValueError(f"an 'unsure' event has the empty label, got {label!r}")
        return {
            "sha256": sha256,
            "path": "" if path is None else os.fspath(path),
            "label": str(label),
            "annotator": annotator or self.annotator,
            "time": when,
            "round": None if round is None else int(round),
            "source": source,
            "undoes": undoes,
            "model": model or None,
            "kind": kind,
            "batch": batch,
        }

    def add(
        self,
        sha256: Sha256,
        label: ClassName,
        *,
        path: PathLike | None = None,
        annotator: str | None = None,
        round: int | None = None,
        source: LabelSource = "expert",
        model: str | None = None,
        kind: EventKind | None = None,
    ) -> LabelEvent:
        """Append one label event and commit it durably; return the stored event.

        ``round`` and ``model`` record the round and the fingerprint of the classifier that showed the image
        (``session.round``, ``session.fingerprint``); ``kind`` whether the expert accepted the model's proposal,
        changed it or was unsure (:data:`EventKind`; an ``"unsure"`` event has the label ``""``).
        """
        when = utc_now()
        row = self._row(
            sha256,
            label,
            path=path,
            annotator=annotator,
            round=round,
            source=source,
            when=when,
            model=model,
            kind=kind,
        )

        def write() -> LabelEvent:
            with self._write() as conn:
                new_id = _new_id(conn.execute(self._events.insert().values(**row)))
            return LabelEvent(id=new_id, **row)

        return self._retry(write)

    def add_many(
        self,
        labels: Mapping[Sha256, ClassName]
        | Iterable[tuple[Sha256, ClassName, str]]
        | Iterable[tuple[Sha256, ClassName, str, EventKind | None]],
        *,
        annotator: str | None = None,
        round: int | None = None,
        source: LabelSource = "expert",
        model: str | None = None,
    ) -> int:
        """Append many events in one transaction (all or none) that share one ``batch``; return how many.

        ``labels`` maps sha256 to class, or yields ``(sha256, class, path)`` triples or ``(sha256, class, path,
        kind)`` quadruples. :meth:`undo_batch` takes the whole batch back in one step.
        """
        items: list[tuple[Any, ...]] = list(labels.items()) if isinstance(labels, Mapping) else list(labels)
        when = utc_now()
        batch = uuid.uuid4().hex
        rows = [
            self._row(
                item[0],
                item[1],
                path=item[2] if len(item) > 2 else None,
                annotator=annotator,
                round=round,
                source=source,
                when=when,
                model=model,
                kind=item[3] if len(item) > 3 else None,
                batch=batch,
            )
            for item in items
        ]
        if not rows:
            return 0

        def write() -> int:
            with self._write() as conn:
                conn.execute(self._events.insert(), rows)
            return len(rows)

        return self._retry(write)

    def undo(
        self,
        sha256: Sha256 | None = None,
        *,
        annotator: str | None = None,
        only_own: bool = False,
        round: int | None = None,
        source: LabelSource = "expert",
        model: str | None = None,
    ) -> LabelEvent | None:
        """Take back the latest label of ``sha256`` (default: the latest label in the store) by a new event.

        The new event restores the label the image had before (``""``, unlabeled, if none) and names the event it
        takes back in ``undoes``; repeated undos walk further back. ``only_own=True`` only takes back labels
        written by ``annotator`` (default: this store's annotator) that are still an image's current label, so
        one expert never undoes a colleague's work in a shared store. Returns ``None`` when there is nothing to
        undo.
        """
        done = self._undo(
            sha256,
            annotator=annotator,
            only_own=only_own,
            round=round,
            source=source,
            model=model,
            batch=False,
        )
        return done[0] if done else None

    def undo_batch(
        self,
        sha256: Sha256 | None = None,
        *,
        annotator: str | None = None,
        only_own: bool = False,
        round: int | None = None,
        source: LabelSource = "expert",
        model: str | None = None,
    ) -> list[LabelEvent]:
        """:meth:`undo`, but a label written by :meth:`add_many` is taken back with every label of its batch that
        is still current, in one transaction; return the new events (the target's first, ``[]``: nothing to
        undo). The undo events share a batch of their own; each restores its image's label and kind before."""
        return self._undo(
            sha256,
            annotator=annotator,
            only_own=only_own,
            round=round,
            source=source,
            model=model,
            batch=True,
        )

    def _undo(
        self,
        sha256: Sha256 | None,
        *,
        annotator: str | None,
        only_own: bool,
        round: int | None,
        source: LabelSource,
        model: str | None,
        batch: bool,
    ) -> list[LabelEvent]:
        who = annotator or self.annotator
        ev = self._events

        def write() -> list[LabelEvent]:
            with self._write() as conn:
                undone = sa.select(ev.c.undoes).where(ev.c.undoes.is_not(None))
                effective = (
                    sa.select(ev.c.id, ev.c.sha256).where(ev.c.undoes.is_(None), ev.c.id.not_in(undone))
                ).subquery()
                tops = sa.select(sa.func.max(effective.c.id)).group_by(effective.c.sha256)
                query = sa.select(ev).where(ev.c.id.in_(tops))
                if sha256 is not None:
                    query = query.where(ev.c.sha256 == sha256)
                if only_own:
                    query = query.where(ev.c.annotator == who)
                target = conn.execute(query.order_by(ev.c.id.desc()).limit(1)).first()
                if target is None:
                    return []
                targets = [target]
                if batch and target.batch is not None:  # the rest of its batch that is still current
                    rest = sa.select(ev).where(
                        ev.c.id.in_(tops), ev.c.batch == target.batch, ev.c.id != target.id
                    )
                    targets += list(conn.execute(rest.order_by(ev.c.id)))
                when, new_batch = utc_now(), (uuid.uuid4().hex if len(targets) > 1 else None)
                done = []
                for one in targets:
                    before = conn.execute(
                        sa.select(ev.c.label, ev.c.kind)
                        .where(
                            ev.c.sha256 == one.sha256,
                            ev.c.undoes.is_(None),
                            ev.c.id.not_in(undone),
                            ev.c.id < one.id,
                        )
                        .order_by(ev.c.id.desc())
                        .limit(1)
                    ).first()
                    row = self._row(
                        one.sha256,
                        before.label if before is not None else "",
                        path=one.path,
                        annotator=who,
                        round=one.round if round is None else round,
                        source=source,
                        when=when,
                        undoes=int(one.id),
                        model=model,
                        kind=before.kind if before is not None else None,
                        batch=new_batch,
                    )
                    done.append(LabelEvent(id=_new_id(conn.execute(ev.insert().values(**row))), **row))
            return done

        return self._retry(write)

    # ------------------------------------------------------------------ reading
    def _frame(self, query: sa.Select[Any]) -> pd.DataFrame:
        def read() -> pd.DataFrame:
            with self._engine.connect() as conn:
                result = conn.execute(query)
                frame = pd.DataFrame.from_records(  # plain tuples: pandas probes each Row object
                    [tuple(r) for r in result], columns=list(result.keys())
                )
            return frame

        frame = self._retry(read)
        if frame.empty:
            frame = pd.DataFrame({c: pd.Series(dtype=object) for c in EVENT_COLUMNS})
        frame["time"] = pd.to_datetime(frame["time"], utc=True)
        for col in ("id", "round", "undoes"):
            frame[col] = frame[col].astype("Int64")
        return frame[list(EVENT_COLUMNS)].reset_index(drop=True)

    def events(self, *, sha256s: Iterable[Sha256] | None = None) -> pd.DataFrame:
        """Every event in the order written (columns :data:`EVENT_COLUMNS`), optionally for some images."""
        query = sa.select(self._events).order_by(self._events.c.id)
        if sha256s is not None:
            query = query.where(self._events.c.sha256.in_(list(sha256s)))
        return self._frame(query)

    def votes(self, *, sha256s: Iterable[Sha256] | None = None, round: int | None = None) -> pd.DataFrame:
        """Each annotator's own current label of each image (:func:`annotator_votes` of :meth:`events`)."""
        if sha256s is None:
            return annotator_votes(self.events(), round=round)
        wanted = list(dict.fromkeys(sha256s))
        parts = [self.events(sha256s=wanted[i : i + 900]) for i in range(0, len(wanted), 900)]
        frame = pd.concat(parts, ignore_index=True).sort_values("id") if parts else self.events(sha256s=[])
        return annotator_votes(frame, round=round)

    def current(self, *, sha256s: Iterable[Sha256] | None = None) -> pd.DataFrame:
        """The current label of every labeled image: its latest event, unless that cleared the label.

        One row per image (columns :data:`EVENT_COLUMNS`, ``time`` of the deciding event), oldest decision first.
        Under a team rule (``resolve`` other than ``"latest"``) the deciding event is the vote that carries the
        resolved label (:func:`resolve_votes`).
        """
        if self.resolve != "latest":
            return resolve_votes(self.votes(sha256s=sha256s), rule=self.resolve, reviewer=self.reviewer)
        ev = self._events
        latest = sa.select(ev.c.sha256, sa.func.max(ev.c.id).label("last_id")).group_by(ev.c.sha256)
        if sha256s is not None:
            latest = latest.where(ev.c.sha256.in_(list(sha256s)))
        sub = latest.subquery()
        query = sa.select(ev).join(sub, ev.c.id == sub.c.last_id).where(ev.c.label != "").order_by(ev.c.id)
        return self._frame(query)

    def labels(self, sha256s: Iterable[Sha256] | None = None) -> dict[Sha256, ClassName]:
        """``{sha256: class}`` of the current labels (of ``sha256s`` only when given), oldest decision first.

        The grid calls this on every click, so it is a plain query without a DataFrame (under a team rule, the
        votes of the images asked for, resolved).
        """
        if self.resolve != "latest":
            frame = self.current(sha256s=None if sha256s is None else list(dict.fromkeys(sha256s)))
            return dict(zip(frame["sha256"], frame["label"]))
        ev = self._events
        wanted = None if sha256s is None else list(dict.fromkeys(sha256s))
        chunks: list[list[Sha256] | None] = (
            [None] if wanted is None else [wanted[i : i + 900] for i in range(0, len(wanted), 900)]
        )

        def read() -> dict[Sha256, ClassName]:
            rows: list[tuple[int, str, str]] = []
            with self._engine.connect() as conn:
                for chunk in chunks:
                    latest = sa.select(ev.c.sha256, sa.func.max(ev.c.id).label("last_id")).group_by(
                        ev.c.sha256
                    )
                    if chunk is not None:
                        latest = latest.where(ev.c.sha256.in_(chunk))
                    sub = latest.subquery()
                    query = (
                        sa.select(ev.c.id, ev.c.sha256, ev.c.label)
                        .join(sub, ev.c.id == sub.c.last_id)
                        .where(ev.c.label != "")
                    )
                    rows.extend((int(r[0]), str(r[1]), str(r[2])) for r in conn.execute(query))
            return {sha: label for _, sha, label in sorted(rows)}

        return self._retry(read) if wanted is None or wanted else {}

    def label_of(self, sha256: Sha256) -> ClassName | None:
        """The current label of one image, ``None`` when unlabeled."""
        return self.labels([sha256]).get(sha256)

    def kinds(self, sha256s: Iterable[Sha256] | None = None) -> dict[Sha256, str]:
        """``{sha256: kind}`` of the images whose latest event says one (:data:`EventKind`): ``"unsure"`` marks an
        image the expert answered without a class (it has no current label), ``"accepted"``/``"changed"`` one
        whose label took or overruled the model's proposal."""
        ev = self._events
        wanted = None if sha256s is None else list(dict.fromkeys(sha256s))
        chunks: list[list[Sha256] | None] = (
            [None] if wanted is None else [wanted[i : i + 900] for i in range(0, len(wanted), 900)]
        )

        def read() -> dict[Sha256, str]:
            out: dict[Sha256, str] = {}
            with self._engine.connect() as conn:
                for chunk in chunks:
                    latest = sa.select(sa.func.max(ev.c.id)).group_by(ev.c.sha256)
                    if chunk is not None:
                        latest = latest.where(ev.c.sha256.in_(chunk))
                    query = sa.select(ev.c.sha256, ev.c.kind).where(
                        ev.c.id.in_(latest), ev.c.kind.is_not(None)
                    )
                    out.update((str(r[0]), str(r[1])) for r in conn.execute(query))
            return out

        return self._retry(read) if wanted is None or wanted else {}

    def answer_counts(self, sha256s: Iterable[Sha256] | None = None) -> dict[str, Any]:
        """How the expert answered the model's proposals, over the images' current answers.

        ``{"accepted": n, "changed": n, "unsure": n, "overruled": changed / (accepted + changed) or None}``:
        ``overruled`` is how often the expert overruled the model (labels without a kind, e.g. imports, are not
        counted).
        """
        counts = dict.fromkeys(EVENT_KINDS, 0)
        for kind in self.kinds(sha256s).values():
            counts[kind] = counts.get(kind, 0) + 1
        judged = counts["accepted"] + counts["changed"]
        return {**counts, "overruled": counts["changed"] / judged if judged else None}

    def __len__(self) -> int:
        """Number of images with a current label."""
        return len(self.current())

    def integrity_check(self) -> str:
        """SQLite's ``PRAGMA integrity_check`` (``"ok"`` when sound); ``"ok"`` on servers that guard their own."""
        if self.dialect != "sqlite":
            return "ok"
        with self._engine.connect() as conn:
            rows = conn.exec_driver_sql("PRAGMA integrity_check").fetchall()
        return "\n".join(str(r[0]) for r in rows)

    # ------------------------------------------------------------------ export
    def export_csv(self, path: PathLike, *, history: bool = False) -> Path:
        """Write the current labels (or, with ``history=True``, every event) as CSV; return the path.

        The file reads back with :meth:`import_csv`.
        """
        frame = self.events() if history else self.current()
        out = Path(path)
        out.parent.mkdir(parents=True, exist_ok=True)
        frame.assign(time=frame["time"].map(lambda t: t.isoformat())).to_csv(out, index=False)
        return out

    def export_json(self, path: PathLike, *, history: bool = False) -> Path:
        """Write the current labels (or every event) as a JSON list of records; return the path."""
        frame = self.events() if history else self.current()
        records = [
            {
                **{k: (None if pd.isna(v) else v) for k, v in rec.items()},
                "time": rec["time"].isoformat(),
            }
            for rec in frame.astype(object).to_dict(orient="records")
        ]
        out = Path(path)
        out.parent.mkdir(parents=True, exist_ok=True)
        out.write_text(json.dumps({"store": self.describe(), "labels": records}, indent=1, default=int))
        return out

    def export_folders(
        self,
        root: PathLike,
        *,
        layout: Literal["auto", "original", "classes"] = "auto",
        folder: str = "ind_img",
        sha256s: Iterable[Sha256] | None = None,
        link: bool = False,
    ) -> ExportReport:
        """Copy every currently labeled image into one folder per class under ``root/folder``.

        ``layout="original"`` writes the original's ``ind_img/N`` (class ``"0"``) and ``ind_img/P`` (class
        ``"1"``), which its retraining reads with ``flow_from_directory``; ``"classes"`` one folder per class
        name; ``"auto"`` the original's when the classes are ``"0"``/``"1"``. The folder mirrors the store: an
        earlier export by olkit (recognised by its marker file) is replaced, never merged, so a relabeled
        image is never left in its old class. ``link=True`` hard-links instead of copying where possible.
        Images missing on disk are skipped and listed in the report.
        """
        frame = self.current(sha256s=None if sha256s is None else list(sha256s))
        classes = sorted(set(frame["label"]))
        original = binary_folder_names(classes)
        if layout == "original":
            if original is None and classes:
                raise ValueError(
                    f"layout='original' needs the classes '0' and '1' (N and P); the store has {classes}. "
                    "Use layout='classes'."
                )
            names = dict(ORIGINAL_FOLDERS)
        elif layout == "auto" and original is not None:
            names = original
        else:
            names = {c: c for c in classes}
        dest = Path(root) / folder
        if dest.exists() and not (dest / EXPORT_MARKER).is_file():
            raise OlkitError(
                f"{dest} exists and was not written by olkit; export elsewhere (root=...) or move it away "
                "first (olkit replaces only its own exports)."
            )
        tmp = dest.with_name(f".{dest.name}.partial")
        if tmp.exists():
            shutil.rmtree(tmp)
        for name in names.values():
            (tmp / name).mkdir(parents=True, exist_ok=True)
        counts = dict.fromkeys(names.values(), 0)
        problems: list[ImageProblem] = []
        taken: set[Path] = set()
        for rec in frame.itertuples(index=False):
            src = Path(rec.path)
            if not src.is_file():
                problems.append(ImageProblem(str(src), "missing on disk, not exported"))
                continue
            target = tmp / names[rec.label] / src.name
            if target in taken:  # same file name from two folders: keep both, tell them apart by hash
                target = target.with_name(f"{src.stem}_{rec.sha256[:8]}{src.suffix}")
            taken.add(target)
            if link:
                try:
                    os.link(src, target)
                except OSError:
                    shutil.copy2(src, target)
            else:
                shutil.copy2(src, target)
            counts[names[rec.label]] += 1
        atomic_write_json(
            tmp / EXPORT_MARKER,
            {"store": self.describe(), "time": utc_stamp(), "folders": names, "counts": counts},
            indent=1,
        )
        # a folder cannot be swapped in one rename over a full one: the old export goes aside only once the new
        # one is complete, so a crash leaves the old export or the new one (and at worst a hidden leftover)
        old = dest.with_name(f".{dest.name}.old")
        if old.exists():
            shutil.rmtree(old)
        if dest.exists():
            dest.rename(old)
        tmp.rename(dest)
        shutil.rmtree(old, ignore_errors=True)
        return ExportReport(root=str(dest), counts=counts, problems=tuple(problems))

    # ------------------------------------------------------------------ import
    def import_csv(
        self,
        path: PathLike,
        *,
        known: pd.DataFrame,
        classes: Sequence[ClassName],
        data_root: PathLike | None = None,
        annotator: str | None = None,
        round: int | None = None,
        source: LabelSource = "import",
        model: str | None = None,
    ) -> ImportReport:
        """Import labels from a CSV file, refusing row by row with a reason.

        The file needs a ``label`` column and a ``sha256`` or a ``path`` column (both are fine; the files
        :meth:`export_csv` writes qualify). A relative ``path`` is resolved against ``data_root``. Refused:
        images not in ``known`` (a manifest: ``path`` and ``sha256`` columns), classes not in ``classes``, paths
        that leave ``data_root`` (default: the folder holding every image of ``known``), rows whose ``sha256``
        and ``path`` name different images. Accepted rows are written in one transaction.
        """
        csv_path = Path(path)
        if not csv_path.is_file():
            raise DataNotFoundError(f"label CSV {csv_path} not found; write one with LabelStore.export_csv.")
        table = pd.read_csv(csv_path, dtype=str, keep_default_na=False)
        return self.import_table(
            table,
            known=known,
            classes=classes,
            data_root=data_root,
            annotator=annotator,
            round=round,
            source=source,
            origin=str(csv_path),
            model=model,
        )

    def import_table(
        self,
        table: pd.DataFrame,
        *,
        known: pd.DataFrame,
        classes: Sequence[ClassName],
        data_root: PathLike | None = None,
        annotator: str | None = None,
        round: int | None = None,
        source: LabelSource = "import",
        origin: str = "(table)",
        model: str | None = None,
    ) -> ImportReport:
        """:meth:`import_csv` for a table already in memory (same columns, same checks, same report)."""
        table = table.fillna("").astype(str)
        if "label" not in table.columns or not ({"sha256", "path"} & set(table.columns)):
            raise OlkitError(
                f"{origin}: needs a 'label' column and a 'sha256' or 'path' column, has {list(table.columns)}."
            )
        known_paths = [str(Path(p).resolve()) for p in known["path"]]
        by_path = dict(zip(known_paths, known["sha256"]))
        path_of = dict(zip(known["sha256"], known_paths))
        if data_root is not None:
            root = Path(data_root).resolve()
        elif known_paths:
            root = Path(os.path.commonpath([str(Path(p).parent) for p in known_paths]))
        else:
            root = Path.cwd()
        allowed = {str(c) for c in classes}
        accepted: dict[Sha256, tuple[Sha256, ClassName, str]] = {}
        refused: list[Refusal] = []
        for number, rec in enumerate(table.to_dict(orient="records"), start=1):
            label = str(rec.get("label", "")).strip()
            sha = str(rec.get("sha256", "")).strip().lower()
            raw_path = str(rec.get("path", "")).strip()
            named = raw_path or sha
            resolved = ""
            if raw_path:
                candidate = Path(raw_path).expanduser()
                candidate = (candidate if candidate.is_absolute() else root / candidate).resolve()
                if not candidate.is_relative_to(root):
                    refused.append(Refusal(number, named, f"path leaves the data root {root}"))
                    continue
                resolved = str(candidate)
                if resolved not in by_path:
                    refused.append(Refusal(number, named, "unknown image (not in the manifest)"))
                    continue
                if sha and by_path[resolved] != sha:
                    refused.append(
                        Refusal(number, named, f"sha256 {sha[:12]}... is not the hash of this path's image")
                    )
                    continue
                sha = by_path[resolved]
            elif sha not in path_of:
                refused.append(
                    Refusal(number, named or "(empty)", "unknown image (sha256 not in the manifest)")
                )
                continue
            if label not in allowed:
                refused.append(
                    Refusal(number, named, f"unknown class {label!r} (classes: {', '.join(sorted(allowed))})")
                )
                continue
            accepted[sha] = (sha, label, resolved or path_of[sha])  # a later row for the same image wins
        self.add_many(accepted.values(), annotator=annotator, round=round, source=source, model=model)
        return ImportReport(path=origin, imported=len(accepted), refused=tuple(refused))


def annotator_votes(events: pd.DataFrame, *, round: int | None = None) -> pd.DataFrame:
    """Each annotator's current label of each image: their latest event not taken back, that names a label.

    ``events`` is :meth:`LabelStore.events` (ordered by ``id``). Undo events and the events they undo are left
    out (so an undo gives the annotator back their vote before, or none), as are events without a label (a
    cleared label, an unsure answer). ``round`` keeps the events of one round only. One row per (image,
    annotator), the columns of ``events``, in event order.
    """
    undone = set(events["undoes"].dropna().astype(int).tolist())
    keep = events["undoes"].isna() & ~events["id"].isin(undone)
    if round is not None:
        keep &= events["round"] == int(round)
    effective = events[keep.fillna(False).astype(bool)]
    last = effective.drop_duplicates(["sha256", "annotator"], keep="last")
    voted = last["label"].astype(str) != ""
    if "kind" in last.columns:
        voted &= last["kind"].astype(str) != "unsure"
    return last[voted].reset_index(drop=True)


def resolve_votes(
    votes: pd.DataFrame, *, rule: Resolution = "majority", reviewer: str | None = None
) -> pd.DataFrame:
    """One row per image: the vote (an event row of :func:`annotator_votes`) that decides its label under ``rule``.

    ``"latest"``: the most recent vote. ``"majority"``: the label most annotators gave; a tie goes to the tied
    label voted most recently (so one annotator's store resolves as ``"latest"``). ``"reviewer"``: the
    ``reviewer``'s vote where there is one, else the majority. Rows oldest decision first, as
    :meth:`LabelStore.current`.
    """
    if rule not in RESOLUTIONS:
        raise ValueError(f"rule must be one of {RESOLUTIONS}, got {rule!r}")
    if votes.empty:
        return votes.reset_index(drop=True)
    if rule == "latest":
        chosen = votes.drop_duplicates("sha256", keep="last")
    else:
        rest = votes
        picked = []
        if rule == "reviewer":
            if not reviewer:
                raise ValueError("rule='reviewer' needs reviewer=")
            own = votes[votes["annotator"] == reviewer].drop_duplicates("sha256", keep="last")
            picked.append(own)
            rest = votes[~votes["sha256"].isin(own["sha256"])]
        tally = (
            rest.groupby(["sha256", "label"], sort=False)["id"]
            .agg(["size", "max"])
            .reset_index()
            .sort_values(["size", "max"], ascending=False, kind="stable")
            .drop_duplicates("sha256")
        )
        picked.append(rest[rest["id"].isin(tally["max"])])
        chosen = pd.concat(picked, ignore_index=True)
    return chosen.sort_values("id", kind="stable").reset_index(drop=True)


def _new_id(result: sa.CursorResult[Any]) -> int:
    key = result.inserted_primary_key
    if key is None:  # pragma: no cover - every backend olkit supports returns the new id
        raise OlkitError("the database did not return the new event's id")
    return int(key[0])


def _login_name() -> str:
    try:
        return getpass.getuser()
    except Exception:  # no login name in some containers
        return "expert"


# ---------------------------------------------------------------------- headless path over a session
@runtime_checkable
class SessionLike(Protocol):
    """What the label tools and the grid need from :class:`olkit.online.session.OnlineSession`."""

    classes: list[ClassName]
    round: int

    def predictions(self, split: str = "test") -> pd.DataFrame: ...

    def select(
        self,
        *,
        strategy: str = "band",
        threshold: float = 0.05,
        budget: int | None = None,
        seed: int | None = None,
        exclude: Iterable[Sha256] = (),
    ) -> pd.DataFrame: ...

    def retrain(self, labels: Mapping[Sha256, ClassName], **kwargs: Any) -> Any: ...

    def simulated_labels(self, sha256s: Iterable[Sha256]) -> dict[Sha256, ClassName]: ...


def apply_labels(
    session: SessionLike,
    store: LabelStore,
    labels: Mapping[Sha256, ClassName] | pd.DataFrame | PathLike,
    *,
    source: LabelSource = "import",
    annotator: str | None = None,
    split: str = "test",
) -> ImportReport:
    """The grid's headless twin: write decisions from a CSV file, a table or a mapping into ``store``.

    ``labels`` is a CSV path (as :meth:`LabelStore.import_csv` reads), a DataFrame with ``sha256``/``path`` and
    ``label`` columns, or ``{sha256: class}`` (e.g. ``session.simulated_labels(selection.sha256)``, with
    ``source="simulated"``). Images must be in the session's ``split`` and classes in ``session.classes``;
    other rows are refused with a reason. Events carry ``session.round`` and the fingerprint of the classifier
    that chose the images (``session.fingerprint``, where the session has one).
    """
    known = session.predictions(split)
    options: dict[str, Any] = {
        "known": known,
        "classes": session.classes,
        "annotator": annotator,
        "round": session.round,
        "source": source,
        "model": getattr(session, "fingerprint", None),
    }
    if isinstance(labels, Mapping):
        frame = pd.DataFrame({"sha256": list(labels.keys()), "label": [str(v) for v in labels.values()]})
        return store.import_table(frame, origin="(labels)", **options)
    if isinstance(labels, pd.DataFrame):
        return store.import_table(labels, **options)
    return store.import_csv(labels, **options)


def retrain_from_store(
    session: SessionLike,
    store: LabelStore,
    sha256s: Iterable[Sha256] | None = None,
    **kwargs: Any,
) -> Any:
    """Run one retraining round on the store's current labels; return the session's round result.

    ``sha256s`` limits the labels to some images (the round's selection, as the original's ``"original"`` mode
    wants); by default every labeled test image counts, since ``"refit"`` rounds take every label so far. The
    grid's Retrain button and the headless path both call this; extra keywords go to ``session.retrain``.
    Raises :class:`~olkit.errors.OlkitError` when none of the images is labeled yet.
    """
    wanted = list(session.predictions("test")["sha256"]) if sha256s is None else list(sha256s)
    labels = store.labels(wanted)
    if not labels:
        raise OlkitError(
            f"none of the {len(wanted)} images has a label in {store.describe()} yet; label some first "
            "(the grid, apply_labels(..., source='simulated') or a CSV)."
        )
    return session.retrain(labels, **kwargs)


def event_dict(event: LabelEvent) -> dict[str, Any]:
    """A JSON-friendly dict of one event."""
    out = asdict(event)
    out["time"] = event.time.isoformat()
    return out
