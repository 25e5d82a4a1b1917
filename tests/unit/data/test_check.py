"""A user's data root: what olkit sees there (``olkit data check``), that olkit never writes into it, the sizes that
follow the data and the names the summary gives it."""

from __future__ import annotations

import hashlib
import json
import shutil
from pathlib import Path

import cv2
import numpy as np
import pytest

from olkit import pipeline
from olkit.cli import main
from olkit.data.prepare import (
    MARKER_FILE,
    budget_count,
    cap_count,
    check_data_root,
    class_balance,
    contact_sheet,
    data_name,
    manifest_sha256,
    owns_data_root,
    prepare_data,
    use_data_root,
)
from olkit.errors import DataNotFoundError, OlkitError, ReadOnlyDataError
from olkit.paths import RunFolder
from olkit.report import summarize


def snapshot(root: Path) -> dict[str, tuple[int, int, str]]:
    """Every path under ``root`` with its size, mtime and SHA-256 (folders: mode and mtime)."""
    out: dict[str, tuple[int, int, str]] = {}
    for p in sorted(root.rglob("*")):
        st = p.stat()
        digest = hashlib.sha256(p.read_bytes()).hexdigest() if p.is_file() else "dir"
        out[str(p.relative_to(root))] = (st.st_size if p.is_file() else st.st_mode, st.st_mtime_ns, digest)
    return out


def _image(rng: np.random.Generator, bright: int) -> np.ndarray:
    img = rng.integers(0, 60, size=(32, 32, 3)).astype(np.uint8) + bright
    return img.astype(np.uint8)


def make_user_root(root: Path, *, classes: dict[str, int], new: dict[str, int], seed: int = 0) -> Path:
    """A data root of someone else's: images per class, masks for class ``b``, a few bad files, one image in both sets."""
    rng = np.random.default_rng(seed)
    for set_name, per_class in (("data_train", classes), ("data_new", new)):
        for cls, n in per_class.items():
            folder = root / set_name / cls
            folder.mkdir(parents=True)
            for i in range(n):
                cv2.imwrite(str(folder / f"{cls}_{set_name}_{i:02d}.png"), _image(rng, 40 * (ord(cls) - 96)))
                if cls == "b":
                    mask = np.zeros((32, 32), np.uint8)
                    mask[8:20, 8:20] = 1
                    (root / "masks" / set_name).mkdir(parents=True, exist_ok=True)
                    cv2.imwrite(str(root / "masks" / set_name / f"{cls}_{set_name}_{i:02d}.png"), mask)
    good = (root / "data_train" / "a" / "a_data_train_00.png").read_bytes()
    (root / "data_train" / "a" / "truncated.png").write_bytes(good[: len(good) // 2])
    (root / "data_train" / "b" / "notes.png").write_text("not an image\n")
    (root / "data_new" / "a" / "README.txt").write_text("my images\n")
    (root / "data_new" / "a" / "copy_of_train.png").write_bytes(good)  # the same image in both sets
    return root


@pytest.fixture
def user_root(tmp_path: Path) -> Path:
    return make_user_root(tmp_path / "my_gears", classes={"a": 6, "b": 5, "c": 4}, new={"a": 4, "b": 4})


def test_check_sees_sets_classes_masks_bad_files_and_duplicates(user_root: Path) -> None:
    before = snapshot(user_root)
    check = check_data_root(user_root)
    assert check.name == "my_gears" and not check.owned
    assert check.classes == ["a", "b", "c"]
    assert check.counts == {"data_train": {"a": 6, "b": 5, "c": 4}, "data_new": {"a": 5, "b": 4}}
    assert check.with_mask == {"data_train": 5, "data_new": 4}
    reasons = {Path(p.path).name: p.reason for p in check.problems}
    assert set(reasons) == {"truncated.png", "notes.png", "README.txt"}
    assert "truncated" in reasons["truncated.png"] and "not an image" in reasons["README.txt"]
    assert [{Path(p).name for p in g} for g in check.cross_set_duplicates] == [
        {"a_data_train_00.png", "copy_of_train.png"}
    ]
    text = str(check)
    assert "yours" in text and "unreadable or skipped files: 3" in text
    assert "in both data_train and data_new" in text
    assert check.image_size == (32, 32)
    assert snapshot(user_root) == before


def test_manifest_hash_follows_the_files_not_the_mount_point(user_root: Path, tmp_path: Path) -> None:
    first = check_data_root(user_root).sha256
    moved = shutil.copytree(user_root, tmp_path / "elsewhere" / "my_gears")
    assert check_data_root(moved).sha256 == first
    shutil.move(
        moved / "data_train" / "c" / "c_data_train_00.png", moved / "data_train" / "a" / "c_moved.png"
    )
    assert check_data_root(moved).sha256 != first
    m = check_data_root(user_root).manifest
    assert manifest_sha256(m.iloc[::-1], user_root) == first  # row order does not matter


def test_not_a_data_root_says_what_is_there(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(DataNotFoundError, match="no such folder"):
        check_data_root(tmp_path / "missing")
    (tmp_path / "photos" / "data_train" / "a").mkdir(parents=True)
    (tmp_path / "photos" / "holiday").mkdir()
    with pytest.raises(DataNotFoundError, match=r"lacks data_new .*found: data_train/, holiday/"):
        check_data_root(tmp_path / "photos")
    (tmp_path / "photos" / "data_new").mkdir()
    with pytest.raises(DataNotFoundError, match="no readable image"):
        check_data_root(tmp_path / "photos")
    assert main(["data", "check", str(tmp_path / "photos")]) == 2
    assert "is not a usable data root" in capsys.readouterr().err


def test_cli_data_check_prints_the_summary(user_root: Path, capsys: pytest.CaptureFixture[str]) -> None:
    before = snapshot(user_root)
    assert main(["data", "check", str(user_root), "--quiet"]) == 0
    out = capsys.readouterr().out
    assert "data_train" in out and "5 with a mask" in out and "truncated.png" in out and "my_gears" in out
    assert snapshot(user_root) == before


def test_olkit_never_writes_into_a_users_root(user_root: Path, tmp_path: Path) -> None:
    before = snapshot(user_root)
    assert not owns_data_root(user_root)
    with pytest.raises(ReadOnlyDataError, match="olkit data check"):
        prepare_data(root=user_root, n_train=8, n_new=4, n_crack=0, bsdata=tmp_path / "none", progress=False)
    assert main(["data", "--root", str(user_root), "--n-train", "8", "--n-new", "4", "--n-crack", "0"]) == 2
    run = RunFolder.create(tmp_path / "run")
    data = use_data_root(run, user_root, train_nr=1000, seed=0)
    assert data.notes == ("train_nr=1000 exceeds the 15 images in data_train: using all 15",)
    assert run.data_manifest.is_file() and run.splits.is_file()
    assert data.metrics()["manifest_sha256"] == check_data_root(user_root).sha256
    sheet = contact_sheet(user_root, name="my_gears", path=run.figures / "sheet.png")
    assert cv2.imread(str(sheet)).shape[0] == 5 * 175  # one row per set and class: a, b, c; a, b
    balance = class_balance(data.check.manifest)
    assert list(balance.columns) == ["a", "b", "c", "share a", "share b", "share c"]
    assert snapshot(user_root) == before


def test_olkit_writes_into_its_own_roots_and_marks_them(tmp_path: Path) -> None:
    root = tmp_path / "olkit_data"
    assert owns_data_root(root)  # missing: olkit may make it
    summary = prepare_data(
        root=root, n_train=16, n_new=8, n_crack=0, bsdata=tmp_path / "none", measure=False, progress=False
    )
    assert (root / MARKER_FILE).is_file() and owns_data_root(root) and owns_data_root(root / "data_train")
    assert data_name(root, check_data_root(root, scan=False).manifest) == "synthetic BSD patches"
    assert summary.contact_sheet is not None and summary.contact_sheet.is_file()
    again = prepare_data(root=root, n_train=16, n_new=8, n_crack=0, bsdata=tmp_path / "none", measure=False)
    assert "kept" in str(again)


@pytest.mark.parametrize(
    ("budget", "test_size", "expected"),
    [
        (0.33, 180, 60),
        (0.33, 30, 10),
        (0.33, 148, 49),
        (1 / 3, 99, 33),
        (60, 180, 60),
        (60, 40, 40),
        (0, 50, 0),
    ],
)
def test_budget_is_a_share_of_the_test_set_or_a_count(budget: float, test_size: int, expected: int) -> None:
    n, note = budget_count(budget, test_size)
    assert n == expected
    assert bool(note) == (budget >= 1 and budget > test_size)


def test_bad_budgets_and_capped_counts() -> None:
    for bad in (-1, 2.5):
        with pytest.raises(ValueError, match="budget"):
            budget_count(bad, 10)
    assert cap_count(3000, 1047, what="train_nr", where="in data_train") == (
        1047,
        "train_nr=3000 exceeds the 1047 images in data_train: using all 1047",
    )
    assert cap_count(0, 12) == (12, "") and cap_count(5, 12) == (5, "")


def test_mine_profile_needs_a_data_root(tmp_path: Path, user_root: Path) -> None:
    mine = pipeline.load_profile("mine")
    declared = {name for nb in pipeline.series() for name in pipeline.notebook_parameters(nb)}
    assert set(mine.parameters) <= declared
    run = RunFolder.create(tmp_path / "run")
    notebooks = pipeline.series()
    with pytest.raises(OlkitError, match="needs -p data_root"):
        pipeline.plan_parameters(notebooks, mine, run)
    plans = pipeline.plan_parameters(notebooks, mine, run, {"data_root": str(user_root)})
    assert plans["01_data"]["data_root"] == str(user_root) and plans["06_relabel"]["budget"] == 0.33
    assert plans["03_pruning"]["prune_data"] == "" and plans["08_real_data"]["second_root"] == ""


def test_summary_names_the_data_and_says_what_was_skipped(tmp_path: Path) -> None:
    run = RunFolder.create(tmp_path / "run")
    run.update_metrics(
        "data",
        {"root": "/data/my_gears", "name": "my_gears", "owned": False, "manifest_sha256": "ab" * 32},
    )
    run.update_metrics(
        "online",
        {"holdout_acc_before": 0.7, "holdout_acc_after": 0.8, "labels_used": 10, "test_size": 30},
    )
    run.update_metrics("prune", {"data_name": "my_gears", "skipped": "no masks for class '1'", "chosen": {}})
    run.update_metrics("second", {"available": False, "skipped": "second_root is empty"})
    text = str(summarize(run))
    assert "my_gears (/data/my_gears, yours, read-only; manifest sha256 abababab" in text
    assert "my_gears (train/holdout/test" in text and "synthetic BSD" not in text
    assert "note: pruning for my_gears: no masks" in text and "second data set: second_root is empty" in text
    html = summarize(run).to_html()
    assert "my_gears" in html and "BSData" not in html
    json.dumps(run.read_metrics())  # stays plain JSON
