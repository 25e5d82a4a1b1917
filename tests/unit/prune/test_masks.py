"""The mask labeler: the original's threshold/erase/contour workflow, GrabCut, importers, and the widget."""

from __future__ import annotations

import base64
import json

import cv2
import numpy as np
import pytest

from olkit.prune import masks
from olkit.prune.masks import MaskLabeler, MaskLabelerWidget


def scene() -> np.ndarray:
    """Bright surface (200) with a dark crack-like bar, a dark pore and a reddish stain (one channel bright)."""
    img = np.full((40, 60, 3), 200, np.uint8)
    img[5:35, 10:13] = 40  # "crack": every channel dark
    cv2.circle(img, (45, 10), 3, (60, 60, 60), -1)  # "pore"
    img[25:32, 35:45] = (
        180,
        60,
        60,
    )  # red stain: R above 120, G/B below -> not marked (all channels must be)
    return img


def test_threshold_is_the_originals_inverse_binary_on_all_channels() -> None:
    lab = MaskLabeler(scene())
    assert lab.threshold == 120
    assert lab.binary[20, 11] == 255 and lab.binary[10, 45] == 255
    assert lab.binary[28, 40] == 0  # one channel above the threshold -> not marked
    assert lab.binary[0, 0] == 0
    lab.set_threshold(190)
    assert lab.binary[28, 40] == 255  # now every channel (180, 60, 60) is at or below it
    lab.set_threshold(200)
    assert lab.binary[0, 0] == 255  # THRESH_BINARY_INV keeps values <= threshold


def test_original_keys_move_the_threshold() -> None:
    lab = MaskLabeler(scene())
    for key, want in (("=", 121), ("]", 131), ("[", 121), ("-", 120)):
        assert lab.handle_key({"key": key, "type": "keydown"})
        assert lab.threshold == want
    assert not lab.handle_key("x")


def test_erase_contours_and_class_assignment() -> None:
    lab = MaskLabeler(scene(), name="s.jpg")
    assert len(lab.contours()) == 2
    lab.erase(40, 5, 50, 15)  # remove the pore
    assert len(lab.contours()) == 1
    lab.reset_corrections()
    assert len(lab.contours()) == 2
    crack = lab.contour_at(11, 20)
    pore = lab.contour_at(45, 10)
    assert crack is not None and pore is not None and crack != pore
    lab.assign(crack, 1)
    lab.assign(pore, 2)
    assert lab.mask[20, 11] == 1 and lab.mask[10, 45] == 2 and lab.mask[0, 0] == 0
    lab.assign_rest(4)
    assert lab.mask[0, 0] == 4 and lab.mask[20, 11] == 1
    with pytest.raises(ValueError, match="add_class"):
        lab.assign(crack, 9)
    assert lab.name == "s.png"


def test_keys_pick_classes_in_contour_order() -> None:
    lab = MaskLabeler(scene())
    first = lab.contours()[0]
    assert lab.handle_key("3")
    x, y, w, h = cv2.boundingRect(first)
    assert lab.mask[y + h // 2, x + w // 2] == 3 or np.any(lab.mask == 3)
    assert lab.current == 1
    lab.skip()
    assert lab.done


def test_user_classes() -> None:
    lab = MaskLabeler(scene())
    v = lab.add_class("Scratch")
    assert v == 5 and lab.classes[5] == "Scratch"
    assert lab.add_class("Scratch") == 5
    lab.assign(0, v)
    assert np.any(lab.mask == 5)


def test_grabcut_finds_the_dark_object_in_a_rectangle() -> None:
    rng = np.random.default_rng(0)
    img = np.clip(rng.normal(190, 6, (48, 48, 3)), 0, 255).astype(np.uint8)
    img[16:32, 18:30] = np.clip(rng.normal(70, 6, (16, 12, 3)), 0, 255).astype(np.uint8)
    lab = MaskLabeler(img, threshold=0)  # nothing thresholded: GrabCut alone
    fg = lab.grabcut((10, 10, 38, 38), class_value=3)
    truth = np.zeros((48, 48), bool)
    truth[16:32, 18:30] = True
    iou = (fg & truth).sum() / (fg | truth).sum()
    assert iou > 0.8
    assert np.all(lab.mask[fg] == 3)
    assert len(lab.contours()) >= 1


def test_save_writes_images_and_class_valued_masks(tmp_path) -> None:
    lab = MaskLabeler(scene(), name="part.png")
    lab.assign(lab.contour_at(11, 20), 1)
    img_path, seg_path = lab.save(tmp_path)
    assert img_path == tmp_path / "Images" / "part.png" and seg_path == tmp_path / "Segmented" / "part.png"
    back = cv2.imread(str(seg_path), cv2.IMREAD_UNCHANGED)
    assert back.dtype == np.uint8 and back.ndim == 2
    np.testing.assert_array_equal(back, lab.mask)
    np.testing.assert_array_equal(cv2.cvtColor(cv2.imread(str(img_path)), cv2.COLOR_BGR2RGB), scene())
    # the pruning side reads them back as a mask set
    from olkit.prune.score import load_mask_set

    ms = load_mask_set(tmp_path / "Images", tmp_path / "Segmented")
    assert ms.class_masks(1).sum() == (lab.mask == 1).sum()


def test_labelme_polygons_become_class_values(tmp_path) -> None:
    img = np.full((30, 40, 3), 150, np.uint8)
    _ok, buf = cv2.imencode(".png", img)
    doc = {
        "imagePath": "x.jpg",
        "imageData": base64.b64encode(buf.tobytes()).decode(),
        "shapes": [
            {"label": "Pitting", "points": [[5, 5], [15, 5], [15, 15], [5, 15]], "shape_type": "polygon"},
            {"label": "Dirt", "points": [[20, 20], [30, 25]], "shape_type": "rectangle"},
        ],
    }
    path = tmp_path / "x.json"
    path.write_text(json.dumps(doc))
    image, mask = masks.labelme_to_mask(path)
    assert image.shape == (30, 40, 3)
    assert mask[10, 10] == 1 and mask[22, 25] == 3 and mask[0, 0] == 0
    doc["shapes"].append({"label": "Rust", "points": [[0, 0], [2, 0], [2, 2]], "shape_type": "polygon"})
    path.write_text(json.dumps(doc))
    with pytest.raises(ValueError, match="Rust"):
        masks.labelme_to_mask(path)
    _, mask = masks.labelme_to_mask(path, class_map={"Rust": 7})
    assert mask[1, 1] == 7


def test_import_mask_folder_keeps_class_values_and_maps_binary(tmp_path) -> None:
    src = tmp_path / "src"
    for cls in ("0", "1"):
        (src / "data_train" / cls).mkdir(parents=True)
    (src / "masks" / "data_train").mkdir(parents=True)
    img = np.full((24, 24, 3), 120, np.uint8)
    binary = np.zeros((24, 24), np.uint8)
    binary[5:10, 5:10] = 1
    classed = np.full((24, 24), 4, np.uint8)
    classed[2:4, :] = 1
    classed[20, 20] = 2
    cv2.imwrite(str(src / "data_train" / "1" / "a.png"), img)
    cv2.imwrite(str(src / "masks" / "data_train" / "a.png"), binary)
    cv2.imwrite(str(src / "data_train" / "1" / "b.png"), img)
    cv2.imwrite(str(src / "masks" / "data_train" / "b.png"), classed)
    cv2.imwrite(str(src / "data_train" / "0" / "c.png"), img)  # no mask: skipped
    summary = masks.import_mask_folder(src, tmp_path / "out", background_value=4)
    assert (summary.n_images, summary.n_skipped) == (2, 1)
    a = cv2.imread(str(tmp_path / "out" / "Segmented" / "1_a.png"), cv2.IMREAD_UNCHANGED)
    b = cv2.imread(str(tmp_path / "out" / "Segmented" / "1_b.png"), cv2.IMREAD_UNCHANGED)
    assert a[7, 7] == 1 and a[0, 0] == 4
    np.testing.assert_array_equal(b, classed)
    assert (tmp_path / "out" / "Images" / "1_a.png").is_file()


def test_widget_drives_the_labeler_without_a_browser(tmp_path) -> None:
    files = []
    for i in range(2):
        p = tmp_path / f"img{i}.png"
        cv2.imwrite(str(p), cv2.cvtColor(scene(), cv2.COLOR_RGB2BGR))
        files.append(p)
    w = MaskLabelerWidget(files, tmp_path / "labels")
    assert w.labeler.threshold == 120 and w.view.value[:4] == b"\x89PNG"
    w.threshold.value = 100
    assert w.labeler.threshold == 100
    w.on_key({"key": "]", "type": "keydown"})
    assert w.labeler.threshold == 110 and w.threshold.value == 110
    w.rect_x.value, w.rect_y.value = (40, 50), (5, 15)
    w.erase()
    assert len(w.labeler.contours()) == 1
    w.class_picker.value = 1
    w.assign()
    assert np.count_nonzero(w.labeler.mask == 1) > 0
    w.new_class.value = "Scratch"
    w.add_class()
    assert (w.class_picker.value, w.labeler.classes[5]) == (5, "Scratch")
    w.rect_x.value, w.rect_y.value = (0, 59), (0, 39)
    w.class_picker.value = 4
    w.assign_rest()
    _img_path, seg_path = w.save()
    assert seg_path.name == "img0.png" and cv2.imread(str(seg_path), cv2.IMREAD_UNCHANGED)[0, 0] == 4
    assert w.labeler.name == "img1.png" and w.labeler.classes[5] == "Scratch" and w.threshold.value == 120
    assert "img1.png" in w.status.value


def test_mask_set_reads_exif_16bit_and_alpha_masks_right(tmp_path) -> None:
    """The pruning side's masks go through olkit.data.io.load_image: orientation, depth and alpha as the data layer."""
    from PIL import Image

    from olkit.prune.score import load_mask_set

    rgb = np.full((20, 40, 3), 200, np.uint8)
    rgb[:5, :10] = 30  # a dark corner marker and its mask tell every turn apart
    mask = np.zeros((20, 40), np.uint8)
    mask[:5, :10] = 2
    (tmp_path / "Images").mkdir()
    (tmp_path / "Segmented").mkdir()
    # a phone photo tagged "rotate 90 clockwise", its mask written with the same tag and 16 bits per pixel
    for name, arr in (("Images/a.png", rgb), ("Segmented/a.png", mask.astype(np.uint16))):
        im = Image.fromarray(arr)
        exif = im.getexif()
        exif[0x0112] = 6
        im.save(tmp_path / name, exif=exif.tobytes())
    assert cv2.imread(str(tmp_path / "Segmented/a.png"), cv2.IMREAD_UNCHANGED).dtype == np.uint16
    # a mask with an alpha channel, transparent where unlabelled
    up_rgb, up_mask = np.rot90(rgb, -1).copy(), np.rot90(mask, -1).copy()
    cv2.imwrite(str(tmp_path / "Images/b.png"), cv2.cvtColor(up_rgb, cv2.COLOR_RGB2BGR))
    alpha = np.where(up_mask > 0, 255, 0).astype(np.uint8)
    cv2.imwrite(str(tmp_path / "Segmented/b.png"), np.dstack([up_mask, up_mask, up_mask, alpha]))
    ms = load_mask_set(tmp_path / "Images", tmp_path / "Segmented")
    assert ms.names == ("a.png", "b.png")
    a_img, a_mask = ms.images[0], ms.masks[0]
    assert a_img.shape == (40, 20, 3) and a_mask.shape == (40, 20)  # both upright
    np.testing.assert_array_equal(a_mask, up_mask)  # class 2 kept, not scaled to 0 by /257
    assert (a_img[a_mask == 2] == 30).all() and (a_img[a_mask == 0] == 200).all()  # still aligned
    np.testing.assert_array_equal(ms.masks[1], up_mask)  # alpha dropped, not composited onto white
    # resized with nearest neighbour: class values only
    small = load_mask_set(tmp_path / "Images", tmp_path / "Segmented", size=(20, 10))
    assert small.masks.shape == (2, 20, 10) and set(np.unique(small.masks).tolist()) <= {0, 2}


def test_labelme_to_mask_is_the_bsdata_rasteriser(bsdata_dir) -> None:
    """One labelme rasteriser: the labeler's importer and the BSData importer give the same pixels."""
    from olkit.data.bsdata import read_labelme, render_polygon_mask

    path = bsdata_dir / "label" / "01_200908031937_397500_315_crop_1.json"  # three pitting polygons
    image, mask = masks.labelme_to_mask(path)
    want = render_polygon_mask(read_labelme(path), image.shape[:2])
    assert want.sum() > 0
    np.testing.assert_array_equal(mask, want)  # "Pitting" is class value 1
