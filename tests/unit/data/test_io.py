"""Tests of olkit.data on tiny seeded images made in a temp folder, bad input included."""

from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path

import cv2
import numpy as np
import pandas as pd
import pytest
from PIL import Image

from olkit.data.io import (
    ScanResult,
    file_sha256,
    load_dataset,
    load_image,
    load_images,
    make_online_splits,
    materialize_original_layout,
    read_manifest,
    scan_image_folder,
    write_manifest,
)
from olkit.errors import DataNotFoundError, ImageReadError
from olkit.types import MANIFEST_COLUMNS


def _rgb(seed: int, h: int = 24, w: int = 32) -> np.ndarray:
    return np.random.default_rng(seed).integers(0, 256, (h, w, 3), dtype=np.uint8)


def _write_png(path: Path, rgb: np.ndarray) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    assert cv2.imwrite(str(path), cv2.cvtColor(rgb, cv2.COLOR_RGB2BGR))
    return path


def _truncated(src: Path, dest: Path, keep: float = 0.5) -> Path:
    data = src.read_bytes()
    dest.write_bytes(data[: int(len(data) * keep)])
    return dest


# ----------------------------------------------------------------------------------------------------------------
# single images
# ----------------------------------------------------------------------------------------------------------------


def test_file_sha256_matches_hashlib(tmp_path: Path) -> None:
    p = tmp_path / "a.bin"
    p.write_bytes(os.urandom(3 * 1024 * 1024 + 7))
    assert file_sha256(p) == hashlib.sha256(p.read_bytes()).hexdigest()


def test_load_image_rgb_order_and_size(tmp_path: Path) -> None:
    rgb = np.zeros((20, 30, 3), np.uint8)
    rgb[..., 0] = 255  # pure red
    p = _write_png(tmp_path / "red.png", rgb)
    out = load_image(p, size=None)
    assert out.shape == (20, 30, 3) and out.dtype == np.uint8
    assert out[0, 0].tolist() == [255, 0, 0]
    small = load_image(p, size=(10, 12))
    assert small.shape == (10, 12, 3)
    big = load_image(p, size=(40, 60))
    assert big.shape == (40, 60, 3)
    assert load_image(p, size=(10, 12), mode="gray").shape == (10, 12)


def test_load_image_grayscale_input(tmp_path: Path) -> None:
    gray = np.arange(24 * 32, dtype=np.uint32).reshape(24, 32).astype(np.uint8)
    p = tmp_path / "g.png"
    cv2.imwrite(str(p), gray)
    out = load_image(p, size=None)
    assert out.shape == (24, 32, 3)
    assert np.array_equal(out[..., 0], gray) and np.array_equal(out[..., 2], gray)
    assert np.array_equal(load_image(p, size=None, mode="gray"), gray)


def test_load_image_16bit_is_scaled_not_clipped(tmp_path: Path) -> None:
    img = np.zeros((4, 4), np.uint16)
    img[0, 0], img[0, 1], img[0, 2] = 65535, 128 * 257, 1000
    p = tmp_path / "deep.png"
    cv2.imwrite(str(p), img)
    assert cv2.imread(str(p), cv2.IMREAD_UNCHANGED).dtype == np.uint16
    out = load_image(p, size=None, mode="gray")
    assert out[0, 0] == 255 and out[0, 1] == 128
    assert out[0, 2] == round(1000 / 257)  # 4: scaled; clipping would give 255
    rgb16 = np.zeros((3, 3, 3), np.uint16)
    rgb16[..., 2] = 65535  # red in BGR order
    p2 = tmp_path / "deep_rgb.png"
    cv2.imwrite(str(p2), rgb16)
    assert load_image(p2, size=None)[0, 0].tolist() == [255, 0, 0]


def test_load_image_alpha_white_or_drop(tmp_path: Path) -> None:
    bgra = np.zeros((4, 4, 4), np.uint8)
    bgra[..., 0] = 255  # blue
    bgra[0, 0, 3] = 0  # fully transparent
    bgra[0, 1, 3] = 255  # opaque
    bgra[0, 2, 3] = 128  # half
    p = tmp_path / "a.png"
    cv2.imwrite(str(p), bgra)
    white = load_image(p, size=None)
    assert white[0, 0].tolist() == [255, 255, 255]
    assert white[0, 1].tolist() == [0, 0, 255]
    assert white[0, 2].tolist() == [127, 127, 255]
    dropped = load_image(p, size=None, alpha="drop")
    assert dropped[0, 0].tolist() == [0, 0, 255]


@pytest.mark.parametrize("orientation", range(1, 9))
def test_load_image_applies_exif_orientation(tmp_path: Path, orientation: int) -> None:
    rgb = np.zeros((20, 40, 3), np.uint8)
    rgb[:5, :10] = 255  # a marker in the top-left corner tells every flip and turn apart
    im = Image.fromarray(rgb)
    exif = im.getexif()
    exif[0x0112] = orientation
    jpg = tmp_path / f"o{orientation}.jpg"
    png = tmp_path / f"o{orientation}.png"
    im.save(jpg, exif=exif.tobytes(), quality=100)
    im.save(png, exif=exif.tobytes())
    # Pillow's exif_transpose is the reference for what a viewer shows
    from PIL import ImageOps

    expected = np.asarray(ImageOps.exif_transpose(Image.open(png)).convert("RGB"))
    got = load_image(png, size=None)
    assert got.shape == expected.shape
    assert np.array_equal(got, expected)
    got_jpg = load_image(jpg, size=None)
    assert got_jpg.shape == expected.shape
    assert np.abs(got_jpg.astype(int) - expected.astype(int)).mean() < 3  # JPEG rounding only
    # OpenCV's own orientation handling (IMREAD_COLOR) agrees on JPEG
    cv_ref = cv2.cvtColor(cv2.imread(str(jpg), cv2.IMREAD_COLOR), cv2.COLOR_BGR2RGB)
    assert np.array_equal(got_jpg, cv_ref)
    stored = load_image(png, size=None, exif=False)
    assert stored.shape == (20, 40, 3)


@pytest.fixture()
def bad_files(tmp_path: Path) -> dict[str, Path]:
    """One file of every broken kind, plus the good ones they were cut from."""
    d = tmp_path / "bad"
    d.mkdir()
    good_png = _write_png(d / "good.png", _rgb(1, 64, 64))
    good_jpg = d / "good.jpg"
    cv2.imwrite(str(good_jpg), _rgb(2, 64, 64))
    files = {
        "zero": d / "zero.png",
        "trunc_png": _truncated(good_png, d / "trunc.png"),
        "trunc_jpg": _truncated(good_jpg, d / "trunc.jpg", keep=0.6),
        "random": d / "random.png",
        "text": d / "notes.txt",
        "text_as_png": d / "text.png",
        "folder": d / "folder.png",
        "dangling": d / "dangling.png",
    }
    files["zero"].write_bytes(b"")
    files["random"].write_bytes(np.random.default_rng(3).integers(0, 256, 4096, dtype=np.uint8).tobytes())
    files["text"].write_text("not an image\n")
    files["text_as_png"].write_text("not an image either\n")
    files["folder"].mkdir()
    files["dangling"].symlink_to(d / "nowhere.png")
    return files


@pytest.mark.parametrize(
    ("kind", "reason"),
    [
        ("zero", "empty file"),
        ("trunc_png", "truncated PNG"),
        ("trunc_jpg", "truncated JPEG"),
        ("random", "not an image"),
        ("text", "not an image"),
        ("text_as_png", "not an image"),
        ("folder", "is a folder"),
        ("dangling", "dangling symbolic link"),
    ],
)
def test_load_image_bad_input_names_path(bad_files: dict[str, Path], kind: str, reason: str) -> None:
    with pytest.raises(ImageReadError) as info:
        load_image(bad_files[kind])
    assert str(bad_files[kind]) in str(info.value)
    assert reason in str(info.value)


def test_load_image_missing_and_unreadable(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    with pytest.raises(ImageReadError, match="does not exist"):
        load_image(tmp_path / "missing.png")
    p = _write_png(tmp_path / "locked.png", _rgb(4))
    os.chmod(p, 0)
    try:
        if os.geteuid() != 0:  # root reads anything: simulate the permission error below instead
            with pytest.raises(ImageReadError, match="cannot be read"):
                load_image(p)
    finally:
        os.chmod(p, 0o644)

    def deny(self: Path) -> bytes:
        raise PermissionError(13, "Permission denied", str(self))

    monkeypatch.setattr(Path, "read_bytes", deny)
    with pytest.raises(ImageReadError, match="Permission denied") as info:
        load_image(p)
    assert str(p) in str(info.value)


# ----------------------------------------------------------------------------------------------------------------
# folders
# ----------------------------------------------------------------------------------------------------------------


def _make_set(root: Path, counts: dict[str, int], seed: int, *, masks: Path | None = None) -> list[Path]:
    paths = []
    for ci, (cls, n) in enumerate(sorted(counts.items())):
        for i in range(n):
            p = _write_png(root / cls / f"{cls}_{seed}_{i:03d}.png", _rgb(seed * 1000 + ci * 100 + i, 16, 16))
            paths.append(p)
            if masks is not None:
                masks.mkdir(parents=True, exist_ok=True)
                cv2.imwrite(str(masks / f"{p.stem}.png"), np.zeros((16, 16), np.uint8))
    return paths


def test_scan_image_folder_counts_problems_and_duplicates(tmp_path: Path, bad_files: dict[str, Path]) -> None:
    root = tmp_path / "data_train"
    masks = tmp_path / "masks" / "data_train"
    good = _make_set(root, {"0": 3, "1": 2, "scratch": 2}, seed=1, masks=masks)
    (root / "1" / "copy.png").write_bytes(good[0].read_bytes())  # duplicate content in another class
    for kind in ("zero", "trunc_png", "trunc_jpg", "random", "text", "dangling"):
        target = root / "0" / bad_files[kind].name
        if kind == "dangling":
            target.symlink_to(tmp_path / "gone.png")
        else:
            target.write_bytes(bad_files[kind].read_bytes())
    (root / "0" / ".DS_Store").write_bytes(b"hidden")  # hidden files are ignored

    scan = scan_image_folder(root, masks_root=masks, progress=False)
    assert isinstance(scan, ScanResult)
    m = scan.manifest
    assert list(m.columns)[: len(MANIFEST_COLUMNS)] == list(MANIFEST_COLUMNS)
    assert scan.class_counts() == {"0": 3, "1": 3, "scratch": 2}
    assert set(m["split"]) == {"data_train"} and set(m["source"]) == {"user"}
    assert m["label"].map(type).eq(str).all()
    assert (m["width"] == 16).all() and (m["height"] == 16).all()
    assert (m["group"] == m["sha256"]).all()
    with_mask = m[m["mask_path"] != ""]
    assert len(with_mask) == 7 and all(Path(p).is_file() for p in with_mask["mask_path"])
    assert m.loc[m["path"].str.endswith("copy.png"), "mask_path"].item() == ""
    reasons = {Path(p.path).name: p.reason for p in scan.problems}
    assert set(reasons) == {"zero.png", "trunc.png", "trunc.jpg", "random.png", "notes.txt", "dangling.png"}
    assert reasons["zero.png"].startswith("empty file")
    assert reasons["notes.txt"].startswith("not an image file")
    assert scan.duplicates == [sorted([good[0].as_posix(), (root / "1" / "copy.png").as_posix()])]
    text = scan.summary()
    assert "14 files, 8 images read" in text and "6 skipped" in text
    assert "duplicates: 1 groups" in text and str(root / "0" / "zero.png") in text


def test_scan_missing_folder_raises(tmp_path: Path) -> None:
    with pytest.raises(DataNotFoundError, match="olkit data") as info:
        scan_image_folder(tmp_path / "nope", progress=False)
    assert str(tmp_path / "nope") in str(info.value)


@pytest.fixture()
def data_root(tmp_path: Path) -> Path:
    root = tmp_path / "data_bsd"
    _make_set(root / "data_train", {"0": 6, "1": 6}, seed=1, masks=root / "masks" / "data_train")
    _make_set(root / "data_new", {"0": 4, "1": 4}, seed=2, masks=root / "masks" / "data_new")
    return root


def test_load_dataset_scans_both_sets(data_root: Path) -> None:
    df = load_dataset(data_root, progress=False)
    assert len(df) == 20
    assert df.groupby("split").size().to_dict() == {"data_new": 8, "data_train": 12}
    assert (df["mask_path"] != "").all()
    assert set(df["source"]) == {"synthetic"}


def test_load_dataset_prefers_consistent_manifest(data_root: Path) -> None:
    df = load_dataset(data_root, progress=False)
    df["group"] = ["seq_a" if i % 2 else "seq_b" for i in range(len(df))]
    write_manifest(df, data_root / "manifest.csv")
    again = load_dataset(data_root, progress=False)
    assert set(again["group"]) == {"seq_a", "seq_b"}  # came from the manifest, a scan cannot know it
    moved = data_root.parent / "moved_data"
    import shutil

    shutil.copytree(data_root, moved)  # a copied data root: its manifest still names the old place
    relocated = load_dataset(moved, progress=False)
    assert set(relocated["group"]) == {"seq_a", "seq_b"}
    assert all(p.startswith(moved.as_posix()) for p in relocated["path"])
    assert all(Path(p).is_file() for p in relocated["mask_path"])
    _write_png(data_root / "data_new" / "1" / "extra.png", _rgb(99, 16, 16))
    with pytest.warns(UserWarning, match="does not match"):
        rescanned = load_dataset(data_root, progress=False)
    assert len(rescanned) == 21 and (rescanned["group"] == rescanned["sha256"]).all()


def test_load_dataset_missing_folders_name_path_and_command(tmp_path: Path, data_root: Path) -> None:
    with pytest.raises(DataNotFoundError) as info:
        load_dataset(tmp_path / "absent")
    assert str(tmp_path / "absent") in str(info.value) and "olkit data" in str(info.value)
    assert "make run" in str(info.value)
    import shutil

    shutil.rmtree(data_root / "data_new")
    with pytest.raises(DataNotFoundError, match="data_new"):
        load_dataset(data_root)


# ----------------------------------------------------------------------------------------------------------------
# manifests
# ----------------------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("suffix", [".csv", ".json"])
def test_manifest_roundtrip_and_no_overwrite(data_root: Path, tmp_path: Path, suffix: str) -> None:
    df = load_dataset(data_root, progress=False)
    target = tmp_path / f"m{suffix}"
    write_manifest(df, target)
    back = read_manifest(target)
    assert back.columns.tolist() == df.columns.tolist()
    assert back["label"].tolist() == df["label"].tolist()  # "0" stays the string "0"
    assert back["width"].dtype == np.int64
    pd.testing.assert_frame_equal(back, df)
    before = target.read_bytes()
    with pytest.raises(FileExistsError, match="overwrite=True"):
        write_manifest(df.head(2), target)
    assert target.read_bytes() == before
    write_manifest(df.head(2), target, overwrite=True)
    assert len(read_manifest(target)) == 2


def test_read_manifest_relative_paths_and_defaults(tmp_path: Path) -> None:
    p = _write_png(tmp_path / "imgs" / "1" / "a.png", _rgb(5))
    (tmp_path / "m.json").write_text(json.dumps({"images": [{"path": "imgs/1/a.png", "label": "1"}]}))
    df = read_manifest(tmp_path / "m.json")
    assert df["path"].item() == p.resolve().as_posix()
    assert df["label"].item() == "1" and df["mask_path"].item() == ""
    with pytest.raises(DataNotFoundError):
        read_manifest(tmp_path / "none.csv")
    (tmp_path / "bad.csv").write_text("file,label\nx.png,0\n")
    with pytest.raises(ValueError, match="'path' column"):
        read_manifest(tmp_path / "bad.csv")


# ----------------------------------------------------------------------------------------------------------------
# splits
# ----------------------------------------------------------------------------------------------------------------


def _fake_manifest(n_train: dict[str, int], n_new: dict[str, int], *, groups_of: int = 1) -> pd.DataFrame:
    rows = []
    for set_name, counts in (("data_train", n_train), ("data_new", n_new)):
        for cls, n in counts.items():
            for i in range(n):
                name = f"/x/{set_name}/{cls}/{i:05d}.png"
                rows.append(
                    {
                        "path": name,
                        "sha256": hashlib.sha256(name.encode()).hexdigest(),
                        "label": cls,
                        "split": set_name,
                        "source": "synthetic",
                        "width": 150,
                        "height": 150,
                        "group": f"{set_name}-{cls}-g{i // groups_of}",
                    }
                )
    return pd.DataFrame(rows)


def test_make_online_splits_mirrors_the_protocol() -> None:
    m = _fake_manifest({"0": 470, "1": 530}, {"0": 170, "1": 190})
    s = make_online_splits(m, train_nr=400, seed=7)
    sizes = s["split"].value_counts().to_dict()
    assert sizes == {"train": 400, "holdout": 180, "test": 180}
    assert set(s.loc[s["split"] == "train", "set"]) == {"data_train"}
    assert set(s.loc[s["split"] != "train", "set"]) == {"data_new"}
    train_share = (s.loc[s["split"] == "train", "label"] == "1").mean()
    assert abs(train_share - 0.53) <= 0.005  # stratified: the class share of data_train is kept
    for part in ("holdout", "test"):
        assert s.loc[s["split"] == part, "label"].value_counts().to_dict() == {"1": 95, "0": 85}
    again = make_online_splits(m, train_nr=400, seed=7)
    pd.testing.assert_frame_equal(s, again)
    other = make_online_splits(m, train_nr=400, seed=8)
    assert set(other.loc[other["split"] == "holdout", "path"]) != set(s.loc[s["split"] == "holdout", "path"])
    everything = make_online_splits(m, train_nr=None)
    assert (everything["split"] == "train").sum() == 1000


def test_make_online_splits_groups_never_straddle() -> None:
    m = _fake_manifest({"0": 50, "1": 50}, {"0": 120, "1": 120}, groups_of=6)
    s = make_online_splits(m, train_nr=20, seed=3, group_col="group")
    new = s[s["split"] != "train"]
    assert (new.groupby("group")["split"].nunique() == 1).all()
    n_hold = (new["split"] == "holdout").sum()
    assert 108 <= n_hold <= 132  # whole groups of 6: near half
    for cls in ("0", "1"):
        assert 48 <= ((new["split"] == "holdout") & (new["label"] == cls)).sum() <= 72


def test_make_online_splits_errors() -> None:
    m = _fake_manifest({"0": 5, "1": 5}, {"0": 4, "1": 4})
    with pytest.raises(ValueError, match="train_nr=11 exceeds the 10 images in data_train"):
        make_online_splits(m, train_nr=11)
    with pytest.raises(ValueError, match="group_col"):
        make_online_splits(m, train_nr=5, group_col="nope")
    done = make_online_splits(m, train_nr=5)
    with pytest.raises(ValueError, match="unsplit manifest"):
        make_online_splits(done, train_nr=5)


def test_materialize_original_layout(data_root: Path, tmp_path: Path) -> None:
    df = load_dataset(data_root, progress=False)
    s = make_online_splits(df, train_nr=8, seed=0)
    out = tmp_path / "orig"
    res = materialize_original_layout(s, out, progress=False)
    for split, folder in (("train", "current_train_dir"), ("holdout", "holdout"), ("test", "test")):
        for cls in ("0", "1"):
            want = ((s["split"] == split) & (s["label"] == cls)).sum()
            assert len(list((out / folder / cls).glob("*.png"))) == want
    first = res.iloc[0]
    assert Path(first["materialized_path"]).read_bytes() == Path(first["path"]).read_bytes()
    assert os.stat(first["materialized_path"]).st_ino == os.stat(first["path"]).st_ino  # hard link
    materialize_original_layout(s, out, progress=False)  # the same split again: nothing to overwrite
    other = make_online_splits(df, train_nr=8, seed=1)
    with pytest.raises(FileExistsError, match="overwrite=True"):
        materialize_original_layout(other, out, progress=False)
    materialize_original_layout(other, out, overwrite=True, progress=False)
    n_files = sum(1 for _ in out.rglob("*.png"))
    assert n_files == len(other)  # no stale file of the first split remains


# ----------------------------------------------------------------------------------------------------------------
# batches
# ----------------------------------------------------------------------------------------------------------------


def test_load_images_skips_and_reports(tmp_path: Path, bad_files: dict[str, Path]) -> None:
    good = [_write_png(tmp_path / f"g{i}.png", _rgb(10 + i, 20, 20)) for i in range(5)]
    paths = [good[0], bad_files["trunc_png"], good[1], bad_files["zero"], *good[2:], bad_files["folder"]]
    images, ok, problems = load_images(paths, size=(8, 10), progress=False)
    assert images.shape == (8, 8, 10, 3) and images.dtype == np.uint8
    assert ok.tolist() == [True, False, True, False, True, True, True, False]
    assert not images[~ok].any()
    assert np.array_equal(images[0], load_image(good[0], size=(8, 10)))
    assert {p.path for p in problems} == {str(bad_files[k]) for k in ("trunc_png", "zero", "folder")}
    gray, ok_gray, _ = load_images(good, size=(8, 10), mode="gray", progress=False)
    assert gray.shape == (5, 8, 10) and ok_gray.all()


# ----------------------------------------------------------------------------------------------------------------
# masks: load_image(mode="mask") and decode_image
# ----------------------------------------------------------------------------------------------------------------


def _class_mask() -> np.ndarray:
    m = np.zeros((20, 40), np.uint8)
    m[:5, :10] = 1  # a corner marker tells every flip and turn apart
    m[10:15, 30:35] = 4
    m[18, 2] = 3
    return m


def test_load_mask_keeps_class_values_of_16bit_masks(tmp_path: Path) -> None:
    m = _class_mask()
    p = tmp_path / "m16.png"
    cv2.imwrite(str(p), m.astype(np.uint16))
    assert cv2.imread(str(p), cv2.IMREAD_UNCHANGED).dtype == np.uint16
    got = load_image(p, size=None, mode="mask")
    assert got.dtype == np.uint8 and got.shape == (20, 40)
    np.testing.assert_array_equal(got, m)  # scaling like an image (/257) would turn every class into 0
    full = tmp_path / "m16_full.png"
    cv2.imwrite(str(full), (m > 0).astype(np.uint16) * 65535)
    np.testing.assert_array_equal(load_image(full, size=None, mode="mask"), (m > 0).astype(np.uint8) * 255)


def test_load_mask_drops_alpha_and_collapses_equal_channels(tmp_path: Path) -> None:
    m = _class_mask()
    bgra = np.dstack([m, m, m, np.where(m > 0, 255, 0).astype(np.uint8)])  # transparent where unlabelled
    p = tmp_path / "rgba.png"
    cv2.imwrite(str(p), bgra)
    got = load_image(p, size=None, mode="mask")
    np.testing.assert_array_equal(got, m)  # compositing onto white would make the unlabelled pixels 255
    three = tmp_path / "three.png"
    cv2.imwrite(str(three), np.dstack([m, m, m]))  # the original labeler wrote three equal channels
    np.testing.assert_array_equal(load_image(three, size=None, mode="mask"), m)
    colour = np.dstack([m, m * 2, m])
    cv2.imwrite(str(tmp_path / "colour.png"), colour)
    with pytest.raises(ImageReadError, match=r"colour\.png.*colour mask"):
        load_image(tmp_path / "colour.png", size=None, mode="mask")


def test_load_mask_reads_palette_indices_and_exif(tmp_path: Path) -> None:
    from PIL import ImageOps

    m = _class_mask()
    im = Image.fromarray(m, mode="L").convert("P")
    im.putpalette([0, 0, 0, 255, 0, 0, 0, 255, 0, 0, 0, 255, 255, 255, 0] + [0] * (3 * 251))
    exif = im.getexif()
    exif[0x0112] = 6  # rotate 90 clockwise
    p = tmp_path / "palette.png"
    im.save(p, exif=exif.tobytes())
    with Image.open(p) as back:
        assert back.mode == "P"
        expected = np.asarray(ImageOps.exif_transpose(back))
    got = load_image(p, size=None, mode="mask")
    assert got.shape == (40, 20)  # turned upright like the photograph it belongs to
    np.testing.assert_array_equal(got, expected)
    np.testing.assert_array_equal(got, np.rot90(m, -1))
    assert load_image(p, size=None, mode="mask", exif=False).shape == (20, 40)


def test_load_mask_resizes_with_nearest_neighbour(tmp_path: Path) -> None:
    m = _class_mask()
    p = tmp_path / "m.png"
    cv2.imwrite(str(p), m)
    got = load_image(p, size=(10, 20), mode="mask")
    assert got.shape == (10, 20)
    assert set(np.unique(got).tolist()) <= {0, 1, 3, 4}  # no blended values between classes


def test_load_mask_names_the_broken_file(tmp_path: Path) -> None:
    p = tmp_path / "cut.png"
    cv2.imwrite(str(p), _class_mask())
    p.write_bytes(p.read_bytes()[:40])
    with pytest.raises(ImageReadError, match=r"cut\.png.*truncated PNG"):
        load_image(p, size=None, mode="mask")
    with pytest.raises(ImageReadError, match=r"missing\.png.*does not exist"):
        load_image(tmp_path / "missing.png", size=None, mode="mask")


def test_decode_image_reads_bytes_like_a_file(tmp_path: Path) -> None:
    from olkit.data.io import decode_image

    rgb = _rgb(3)
    p = _write_png(tmp_path / "a.png", rgb)
    np.testing.assert_array_equal(decode_image(p.read_bytes(), size=None), load_image(p, size=None))
    with pytest.raises(ImageReadError, match=r"doc\.json.*empty"):
        decode_image(b"", name=tmp_path / "doc.json")
    with pytest.raises(ImageReadError, match=r"doc\.json"):
        decode_image(b"not an image at all", name=tmp_path / "doc.json")
