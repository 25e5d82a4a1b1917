"""Tests of olkit.data.bsdata on the real BSData checkout (skipped with the reason where it is absent)."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import cv2
import numpy as np
import pandas as pd
import pytest

from olkit.data.bsdata import BsdataImport, Polygon, import_bsdata, read_labelme, render_polygon_mask
from olkit.data.io import load_dataset, make_online_splits, read_manifest
from olkit.errors import DataNotFoundError
from olkit.types import MANIFEST_COLUMNS

ONE_POLYGON = "01_200905041126_277500_315_crop_2"
THREE_POLYGONS = "01_200908031937_397500_315_crop_1"


def test_read_labelme_real_file(bsdata_dir: Path) -> None:
    path = bsdata_dir / "label" / f"{THREE_POLYGONS}.json"
    doc = json.loads(path.read_text())
    polygons = read_labelme(path)
    assert len(polygons) == len(doc["shapes"]) == 3
    assert all(isinstance(p, Polygon) and p.label == "Pitting" for p in polygons)
    for p, shape in zip(polygons, doc["shapes"], strict=True):
        assert p.points.shape == (len(shape["points"]), 2)
        assert np.allclose(p.points, shape["points"])
        assert p.area > 0


def test_render_polygon_mask_matches_polygon_area(bsdata_dir: Path) -> None:
    square = Polygon("Pitting", np.array([[10.0, 10.0], [30.0, 10.0], [30.0, 30.0], [10.0, 30.0]]))
    m = render_polygon_mask([square], (40, 50))
    assert m.dtype == np.uint8 and set(np.unique(m)) == {0, 1}
    assert abs(int(m.sum()) - 400) <= 41  # boundary pixels: OpenCV fills edges inclusively
    assert render_polygon_mask([square], (40, 50), labels=["crack"]).sum() == 0
    assert abs(int(render_polygon_mask([square], (80, 100), scale=2.0).sum()) - 1600) <= 81

    doc = json.loads((bsdata_dir / "label" / f"{ONE_POLYGON}.json").read_text())
    (poly,) = read_labelme(bsdata_dir / "label" / f"{ONE_POLYGON}.json")
    mask = render_polygon_mask([poly], (doc["imageHeight"], doc["imageWidth"]))
    perimeter = float(
        np.linalg.norm(np.diff(np.vstack([poly.points, poly.points[:1]]), axis=0), axis=1).sum()
    )
    assert abs(int(mask.sum()) - poly.area) <= perimeter  # at most a one-pixel band along the outline
    ys, xs = np.nonzero(mask)
    assert xs.min() >= np.floor(poly.points[:, 0].min()) and xs.max() <= np.ceil(poly.points[:, 0].max())
    assert ys.min() >= np.floor(poly.points[:, 1].min()) and ys.max() <= np.ceil(poly.points[:, 1].max())


def _centre_mismatch(mask: np.ndarray, points: np.ndarray) -> int:
    """Pixels where ``mask`` disagrees with "the pixel's centre lies inside the polygon" (the exact reference)."""
    from matplotlib.path import Path as MplPath

    x0, y0 = np.maximum(np.floor(points.min(0)).astype(int) - 2, 0)
    x1, y1 = np.ceil(points.max(0)).astype(int) + 3
    yy, xx = np.mgrid[y0:y1, x0:x1]
    inside = MplPath(points).contains_points(np.c_[xx.ravel(), yy.ravel()]).reshape(xx.shape)
    return int((mask[y0:y1, x0:x1].astype(bool) != inside).sum()) + int(mask.sum() - mask[y0:y1, x0:x1].sum())


def test_subpixel_rasteriser_against_rounded_vertices(bsdata_dir: Path) -> None:
    """The one labelme rasteriser (vertices to 1/16 px) against rounding the vertices to whole pixels, as
    olkit.prune.masks did, on real polygons at full size and shrunk as the importer shrinks them: measured with
    pixel-centre inclusion as the reference, the two are as exact as each other (within 1 %); what both get wrong
    is the outline, which cv2.fillPoly fills inclusively (at most a one-pixel band)."""
    sub = rounded = 0
    names = sorted(p.stem for p in (bsdata_dir / "label").glob("*.json"))[::40][:8]
    for name in names:
        doc = json.loads((bsdata_dir / "label" / f"{name}.json").read_text())
        for scale in (1.0, 0.37):
            shape = (round(doc["imageHeight"] * scale), round(doc["imageWidth"] * scale))
            for poly in read_labelme(bsdata_dir / "label" / f"{name}.json"):
                pts = poly.points * scale
                mask = render_polygon_mask([poly], shape, scale=scale)
                miss = _centre_mismatch(mask, pts)
                perimeter = float(np.linalg.norm(np.diff(np.vstack([pts, pts[:1]]), axis=0), axis=1).sum())
                assert miss <= perimeter + 4, (
                    name,
                    scale,
                    miss,
                    perimeter,
                )  # the outline band, nothing inside
                sub += miss
                r = np.zeros(shape, np.uint8)
                cv2.fillPoly(r, [np.round(pts).astype(np.int32)], 1)
                rounded += _centre_mismatch(r, pts)
    assert sub <= 1.05 * rounded, (sub, rounded)


def test_render_polygon_mask_writes_class_values_into_one_mask() -> None:
    a = Polygon("Crack", np.array([[2.0, 2.0], [10.0, 2.0], [10.0, 10.0], [2.0, 10.0]]))
    b = Polygon("Dirt", np.array([[8.0, 8.0], [14.0, 8.0], [14.0, 14.0], [8.0, 14.0]]))
    m = render_polygon_mask([a], (16, 16), value=1)
    render_polygon_mask([b], (16, 16), value=3, out=m)
    assert m[4, 4] == 1 and m[12, 12] == 3 and m[9, 9] == 3 and m[0, 0] == 0  # later polygons on top
    with pytest.raises(ValueError, match="shape"):
        render_polygon_mask([a], (16, 16), out=np.zeros((8, 8), np.uint8))


@pytest.fixture(scope="module")
def small_import(bsdata_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> BsdataImport:
    out = tmp_path_factory.mktemp("bsd") / "bsdata"
    return import_bsdata(bsdata_dir, out, limit=12, workers=2, progress=False)


def test_import_layout_and_attribution(small_import: BsdataImport) -> None:
    out = small_import.out_root
    m = read_manifest(out / "manifest.csv")
    assert list(m.columns) == list(MANIFEST_COLUMNS)
    assert len(m) == len(small_import.manifest) > 0
    assert set(m["split"]) == {"data_train", "data_new"} and set(m["source"]) == {"bsdata"}
    assert small_import.patches["source_image"].nunique() == 12
    for row in m.itertuples():
        path, mask_path = Path(row.path), Path(row.mask_path)
        assert path.parent == out / row.split / row.label
        assert mask_path == out / "masks" / row.split / path.name
    on_disk = sorted(p.as_posix() for p in out.glob("data_*/*/*.png"))
    assert on_disk == sorted(m["path"])
    sample = m.sample(min(25, len(m)), random_state=0)
    for row in sample.itertuples():
        img = cv2.imread(row.path, cv2.IMREAD_UNCHANGED)
        assert img.shape == (150, 150, 3)
    text = (out / "ATTRIBUTION.md").read_text()
    assert "10.1016/j.dib.2021.107643" in text and "CC BY-SA 4.0" in text and "Schlagenhauf" in text
    assert "data_new" in text and "pitting_share" in text


def test_import_labels_follow_mask_area(small_import: BsdataImport) -> None:
    m = small_import.manifest
    fractions = []
    for row in m.itertuples():
        mask = cv2.imread(row.mask_path, cv2.IMREAD_UNCHANGED)
        assert mask.shape == (150, 150) and set(np.unique(mask)) <= {0, 1}
        fractions.append(mask.mean())
    f = np.array(fractions)
    labels = m["label"].to_numpy()
    assert (f[labels == "0"] == 0).all()  # negatives hold no pitting pixel
    assert (f[labels == "1"] >= 0.01).all()  # positives hold at least the threshold
    assert np.allclose(f, small_import.patches["pitting_fraction"].to_numpy(), atol=1e-6)
    counts = small_import.counts()
    for name in ("data_train", "data_new"):
        assert counts.loc[name, "class_0"] > 0 and counts.loc[name, "class_1"] > 0
    assert "pitting share" in small_import.summary()


def test_import_split_by_condition_without_leaks(small_import: BsdataImport) -> None:
    p = small_import.patches
    assert set(p.loc[p["set"] == "data_new", "condition"]) == {"type1_soiled"}
    assert "type1_soiled" not in set(p.loc[p["set"] == "data_train", "condition"])
    assert (p.groupby("group")["set"].nunique() == 1).all()
    assert (p.groupby("source_image")["group"].nunique() == 1).all()
    type2 = p[p["drive_type"] == 2]
    assert type2["group"].str.fullmatch(r"bsdata/type2/\d+_\d+").all()  # the wear sequence, not the photo
    df = load_dataset(small_import.out_root, progress=False)
    pd.testing.assert_series_equal(df["group"], small_import.manifest["group"], check_names=False)
    splits = make_online_splits(df, train_nr=50, seed=0, group_col="group")
    new = splits[splits["split"] != "train"]
    assert (new.groupby("group")["split"].nunique() == 1).all()


def test_import_refuses_to_overwrite(small_import: BsdataImport, bsdata_dir: Path) -> None:
    before = (small_import.out_root / "manifest.csv").read_bytes()
    with pytest.raises(FileExistsError, match="overwrite=True"):
        import_bsdata(bsdata_dir, small_import.out_root, limit=2, progress=False)
    assert (small_import.out_root / "manifest.csv").read_bytes() == before


def test_import_any_checkout_with_embedded_image(bsdata_dir: Path, tmp_path: Path) -> None:
    """A checkout without image_data.json and with one JPEG missing: the labelme imageData stands in."""
    src = tmp_path / "checkout"
    (src / "data").mkdir(parents=True)
    (src / "label").mkdir()
    for stem in (ONE_POLYGON, "KGT2-V-300-A08_crop_0"):
        shutil.copy(bsdata_dir / "label" / f"{stem}.json", src / "label")
    shutil.copy(bsdata_dir / "data" / "KGT2-V-300-A08_crop_0.jpg", src / "data")
    res = import_bsdata(src, tmp_path / "out", workers=1, progress=False)
    assert not res.problems
    assert set(res.patches["source_image"]) == {f"{ONE_POLYGON}.jpg", "KGT2-V-300-A08_crop_0.jpg"}
    assert set(res.patches.groupby("set")["drive_type"].first()) == {1, 2}
    assert set(res.manifest["split"]) == {"data_train", "data_new"}
    again = import_bsdata(
        src, tmp_path / "out", images=[ONE_POLYGON], overwrite=True, workers=1, progress=False
    )
    assert set(again.patches["source_image"]) == {f"{ONE_POLYGON}.jpg"}
    assert not list((tmp_path / "out" / "data_new").rglob("*.png"))  # the earlier import was replaced


def test_import_bad_source(tmp_path: Path) -> None:
    with pytest.raises(DataNotFoundError, match="not a BSData checkout"):
        import_bsdata(tmp_path, tmp_path / "out", progress=False)
