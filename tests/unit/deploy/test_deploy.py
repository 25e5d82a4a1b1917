"""Deployment on a tiny seeded conv base: the folded head against the two-part pipeline, every export's predictions,
the model card, latency per runtime and ``olkit predict`` on a folder with a corrupt file and a non-image."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import cv2
import numpy as np
import pytest

from olkit.data.io import file_sha256
from olkit.deploy.bundle import Bundle, bundle
from olkit.deploy.card import CARD_FIELDS, wilson_interval
from olkit.deploy.export import read_deploy_info
from olkit.deploy.fold import fold_classifier, from_prune, from_session, head_layers, pipeline_proba
from olkit.deploy.predict import classify, predict_folder
from olkit.deploy.runtime import open_session, time_runtimes
from olkit.errors import ModelMismatchError
from olkit.prune.measure import extract_features

SIZE = 32
N = 96


def _images(n: int, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """Grey textured patches; class "1" has a dark stroke across it."""
    rng = np.random.default_rng(seed)
    out = np.empty((n, SIZE, SIZE, 3), np.uint8)
    labels = np.array([str(i % 2) for i in range(n)])
    for i in range(n):
        img = rng.normal(150, 18, (SIZE, SIZE, 3)).clip(0, 255).astype(np.uint8)
        if labels[i] == "1":
            x0, y0 = (int(v) for v in rng.integers(2, SIZE - 2, 2))
            x1, y1 = (int(v) for v in rng.integers(2, SIZE - 2, 2))
            cv2.line(img, (x0, y0), (x1, y1), (40, 40, 40), 2)
        out[i] = img
    return out, labels


def _base(seed: int = 0):
    """A VGG-like chain: rescaling, two Conv-BN-ReLU-pool blocks (BN statistics set to non-trivial values)."""
    import keras

    keras.utils.set_random_seed(seed)
    model = keras.Sequential(
        [
            keras.Input((SIZE, SIZE, 3)),
            keras.layers.Rescaling(1 / 255.0),
            keras.layers.Conv2D(8, 3, padding="same"),
            keras.layers.BatchNormalization(),
            keras.layers.ReLU(),
            keras.layers.MaxPooling2D(),
            keras.layers.Conv2D(8, 3, padding="same"),
            keras.layers.BatchNormalization(),
            keras.layers.ReLU(),
            keras.layers.MaxPooling2D(),
        ],
        name="tiny_base",
    )
    rng = np.random.default_rng(seed)
    for layer in model.layers:
        if isinstance(layer, keras.layers.BatchNormalization):
            g, b, m, v = layer.get_weights()
            layer.set_weights([g * 1.2, b + 0.05, m + rng.normal(0, 0.05, m.shape), v * 0.8])
    return model


@pytest.fixture(scope="module")
def data():
    images, labels = _images(N)
    train = np.array([i for i in range(N) if i % 4 < 2])
    test = np.array([i for i in range(N) if i % 4 >= 2])
    return images, labels, train, test


@pytest.fixture(scope="module")
def exported(tmp_path_factory, data) -> tuple[Bundle, np.ndarray, object]:
    images, labels, train, test = data
    base = _base()
    dep, clf = from_prune(base, images, labels, train=train)
    ref = pipeline_proba(base, clf, images[test])
    manifest = tmp_path_factory.mktemp("data") / "manifest.csv"
    manifest.write_text("path,label\nx.png,1\n")
    out = bundle(
        dep,
        tmp_path_factory.mktemp("export"),
        eval_images=images[test],
        eval_labels=labels[test],
        reference=ref,
        calibration=images[train],
        manifest=manifest,
        data_note="tiny seeded patches",
    )
    return out, ref, clf


def test_folded_logreg_matches_the_two_part_pipeline(data) -> None:
    images, labels, train, test = data
    base = _base()
    dep, clf = from_prune(base, images, labels, train=train)
    ref = pipeline_proba(base, clf, images[test])
    got = dep.predict_proba(images[test])
    assert dep.classes == ("0", "1")
    assert got.shape == ref.shape == (len(test), 2)
    assert np.abs(got - ref).max() < 1e-5
    assert (got.argmax(1) == ref.argmax(1)).all()
    assert "LogisticRegression" in dep.head
    assert dep.source["n_train"] == len(train)


@pytest.mark.parametrize("n_classes", [2, 3])
def test_folded_mlp_matches_predict_proba(data, n_classes: int) -> None:
    from olkit.classify import fit_classifier, make_classifier

    images, labels, train, test = data
    base = _base()
    y = labels if n_classes == 2 else np.array([str(i % 3) for i in range(N)])
    feats = extract_features(base, images)
    clf = fit_classifier(make_classifier(hidden=(16, 8), seed=0, max_iter=50), feats[train], y[train])
    dep = fold_classifier(base, clf)
    ref = clf.predict_proba(feats[test])
    got = dep.predict_proba(images[test])
    assert dep.classes == tuple(str(c) for c in clf.classes_)
    assert got.shape == (len(test), n_classes)
    assert np.abs(got - ref).max() < 1e-5


def test_multiclass_logreg_and_unfoldable_steps(data) -> None:
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import MinMaxScaler, StandardScaler

    images, _, train, test = data
    base = _base()
    y = np.array(["a", "b", "c"] * (N // 3))
    feats = extract_features(base, images)
    clf = make_pipeline(StandardScaler(), LogisticRegression(max_iter=500)).fit(feats[train], y[train])
    dep = fold_classifier(base, clf)
    assert np.abs(dep.predict_proba(images[test]) - clf.predict_proba(feats[test])).max() < 1e-5
    bad = make_pipeline(MinMaxScaler(), LogisticRegression(max_iter=500)).fit(feats[train], y[train])
    with pytest.raises(ModelMismatchError, match="MinMaxScaler"):
        head_layers(bad)


def test_every_export_predicts_as_the_pipeline(exported, data) -> None:
    out, ref, _ = exported
    images, _, _, test = data
    info = out.info
    assert set(info.files) == {"keras", "litert", "litert-int8", "onnx"}
    for fmt in info.files:
        assert info.path(fmt).is_file()
        assert file_sha256(info.path(fmt)) == info.files[fmt]["sha256"]
    agree = out.agreement.set_index("export")
    for fmt in ("keras", "litert", "onnx"):  # float32: the same classes, probabilities within 1e-4
        assert agree.loc[fmt, "max_abs_diff"] < 1e-4, fmt
        assert agree.loc[fmt, "same_class"] == 1.0, fmt
        # and run here again, independently of the bundle
        p = open_session(info.path(fmt)).run(images[test].astype(np.float32))
        assert np.abs(p - ref).max() < 1e-4
    int8 = open_session(info.path("litert-int8")).run(images[test].astype(np.float32))
    assert int8.shape == ref.shape
    assert np.allclose(int8.sum(axis=1), 1.0, atol=0.02)
    assert np.isfinite(agree.loc["litert-int8", "acc_delta"])


def test_model_card_fields(exported) -> None:
    out, _, _ = exported
    folder = out.folder
    card = json.loads((folder / "model_card.json").read_text())
    assert set(CARD_FIELDS) <= set(card)
    assert card["classes"] == ["0", "1"] and card["defect_class"] == "1"
    acc = card["accuracy"]
    lo, hi = acc["ci95"]
    assert lo <= acc["value"] <= hi and acc["n"] == 48
    assert card["data"]["manifest"]["sha256"] == file_sha256(card["data"]["manifest"]["path"])
    assert card["params"] > 0 and card["gflop"] > 0
    assert card["preprocessing"]["size"] == [SIZE, SIZE]
    assert "acc_delta" in card["exports"]["litert-int8"]
    fragile, kept = card["source"]["fragile_features"]
    assert fragile == 0 and 0 < kept <= 512  # well-conditioned after the variance floor: no warning
    assert "Warning" not in (folder / "model_card.md").read_text()
    md = (folder / "model_card.md").read_text()
    assert "# Model card" in md and "model_int8.tflite" in md and card["data"]["manifest"]["sha256"] in md


def test_fragile_features_are_counted() -> None:
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    from olkit.deploy.fold import fragile_features

    rng = np.random.default_rng(0)
    x = np.column_stack([rng.normal(0, 1, 40), 0.3 + rng.normal(0, 1e-9, 40)])
    clf = make_pipeline(StandardScaler(), LogisticRegression()).fit(x, np.arange(40) % 2)
    assert fragile_features(clf) == (1, 2)


def test_wilson_interval() -> None:
    lo, hi = wilson_interval(45, 50)
    assert 0.78 < lo < 0.80 and 0.95 < hi < 0.97
    assert wilson_interval(0, 0) == (0.0, 1.0)


def test_latency_per_runtime_side_by_side(exported) -> None:
    out, _, _ = exported
    info = out.info
    models = {
        "m": {
            "tensorflow": info.path("keras"),
            "litert": info.path("litert"),
            "onnxruntime": info.path("onnx"),
        }
    }
    table = time_runtimes(models, batches=(1, 4), threads=(1,), repeats=2, rounds=1)
    assert len(table) == 3 * 2
    assert set(table["runtime"]) == {"tensorflow", "litert", "onnxruntime"}
    assert (table["ms"] > 0).all() and set(table["threads"]) == {1}


def _write_folder(folder: Path, images: np.ndarray) -> list[Path]:
    paths = []
    for i, img in enumerate(images):
        p = folder / ("a" if i % 2 else "b") / "deeper" / f"img_{i:03d}.png"
        p.parent.mkdir(parents=True, exist_ok=True)
        cv2.imwrite(str(p), cv2.cvtColor(img, cv2.COLOR_RGB2BGR))
        paths.append(p)
    (folder / "a" / "corrupt.png").write_bytes(b"\x89PNG\r\n\x1a\nnot really a png")
    (folder / "notes.txt").write_text("inspection line 3\n")
    return paths


def test_olkit_predict_on_a_folder(exported, data, tmp_path, capsys) -> None:
    from olkit.cli import main

    out, _, _ = exported
    images, _, _, test = data
    folder = tmp_path / "line"
    paths = _write_folder(folder, images[test][:12])
    csv_path = folder / "predictions.csv"  # inside the folder: never read as an input
    rc = main(["predict", str(out.info.path("onnx")), str(folder), "--out", str(csv_path)])
    assert rc == 0
    printed = capsys.readouterr().out
    assert "corrupt.png" in printed and "notes.txt" in printed and "2 file(s) skipped" in printed
    rows = list(csv.DictReader(csv_path.open()))
    assert len(rows) == 12
    assert set(rows[0]) == {"path", "sha256", "predicted", "p_0", "p_1", "model_fingerprint"}
    assert {r["model_fingerprint"] for r in rows} == {file_sha256(out.info.path("onnx"))}
    by_path = {r["path"]: r for r in rows}
    # the same classes as the Keras model on the same files, read the same way
    keras_p = open_session(out.info.path("keras")).run(images[test][:12].astype(np.float32))
    for p, k in zip(paths, keras_p):
        r = by_path[str(p)]
        assert r["sha256"] == file_sha256(p)
        assert r["predicted"] == ("1" if k[1] > k[0] else "0")
        assert abs(float(r["p_1"]) - k[1]) < 1e-4
    # a threshold of 0 makes everything the defect class (the first run's CSV removed: it would be one more
    # file that is no image)
    csv_path.unlink()
    res = predict_folder(out.folder, folder, tmp_path / "t.csv", threshold=0.0, progress=False)
    assert res.counts == {"1": 12} and len(res.skipped) == 2 and res.runtime == "onnxruntime"


def test_predict_usage_errors(exported, tmp_path) -> None:
    from olkit.cli import main

    out, _, _ = exported
    with pytest.raises(SystemExit) as exc:
        main(["predict"])
    assert exc.value.code != 0
    assert main(["predict", str(tmp_path / "missing.onnx"), str(tmp_path)]) != 0
    assert main(["predict", str(out.folder), str(tmp_path / "no-folder")]) != 0
    assert main(["predict", str(out.folder), str(tmp_path), "--threshold", "1.5"]) != 0


def test_classify_threshold() -> None:
    p = np.array([[0.7, 0.3], [0.2, 0.8], [0.55, 0.45]])
    assert classify(p, ("ok", "defect"), defect_class="defect") == ["ok", "defect", "ok"]
    assert classify(p, ("ok", "defect"), defect_class="defect", threshold=0.4) == ["ok", "defect", "defect"]


def test_deploy_json_round_trip(exported) -> None:
    out, _, _ = exported
    info = read_deploy_info(out.info.path("onnx"))
    assert info.classes == ("0", "1") and info.preprocessing.size == (SIZE, SIZE)
    assert (
        info.doc["head"].startswith("VarianceFloor")
        and "StandardScaler + LogisticRegression" in info.doc["head"]
    )


def test_online_session_model_is_the_one_deployed(tmp_path) -> None:
    from olkit.online.session import make_tiny_session

    session = make_tiny_session(tmp_path, n_train=40, n_new=24, seed=0)
    dep = from_session(session)
    pred = session.predictions("holdout")  # the session's two parts: embeddings, then the classifier
    ref = pred[[f"p_{c}" for c in session.classes]].to_numpy()
    got = dep.predict_proba(session.backbone.prepare(list(pred["path"])))
    assert dep.classes == tuple(session.classes)
    assert np.abs(got - ref).max() < 1e-4
    assert (
        dep.source["kind"] == "online" and dep.source["backbone_fingerprint"] == session.backbone.fingerprint
    )


def test_choose_reads_the_latency_of_the_deployment_runtime(tmp_path) -> None:
    import keras
    import pandas as pd

    from olkit.prune import decide

    full, small = (
        _base(),
        keras.Sequential(
            [keras.Input((SIZE, SIZE, 3)), keras.layers.Conv2D(2, 3, strides=4), keras.layers.ReLU()],
            name="small",
        ),
    )
    rows = []
    for cid, method, model, acc in (
        ("full", "full", full, 0.80),
        ("mask_small", "mask-threshold", small, 0.81),
    ):
        path = tmp_path / f"{cid}.keras"
        model.save(path)
        rows.append({"id": cid, "method": method, "path": str(path), "cv_acc": acc, "acc": acc, "ms_b1": 1.0})
    table = pd.DataFrame(rows)
    for runtime in ("onnxruntime", "litert"):
        choice = decide.choose(table, time_col="ms_b1", batches=(1,), rounds=1, repeats=2, runtime=runtime)
        row, reason, timed = choice
        assert row["id"] in ("full", "mask_small")  # whichever runs faster there
        assert f"on {runtime}" in reason or "full model is kept" in reason
        assert timed.attrs["runtime"] == runtime
        assert (timed["ms_b1"] > 0).all() and (timed["ms_b1"] != 1.0).all()  # re-timed there
    fig = decide.pareto_plot(timed, chosen=row, time_col="ms_b1")
    assert "litert" in fig.axes[0].get_xlabel()


def _fragile_base(seed: int = 0):
    """A conv base five of whose eight filters barely respond (kernel x 1e-6, bias 0.5): their features are 0.5
    up to a few float32 roundings, as in a heavily pruned model."""
    import keras

    keras.utils.set_random_seed(seed)
    model = keras.Sequential(
        [
            keras.Input((SIZE, SIZE, 3)),
            keras.layers.Rescaling(1 / 255.0),
            keras.layers.Conv2D(8, 3, padding="same"),
            keras.layers.ReLU(),
            keras.layers.MaxPooling2D(4),
        ],
        name="fragile_base",
    )
    conv = model.layers[1]
    k, b = conv.get_weights()
    k[..., :5] *= 1e-6
    b[:5] = 0.5
    conv.set_weights([k, b])
    return model


def test_variance_floor_makes_a_near_constant_base_deployable(data, tmp_path) -> None:
    """The pruning evaluation's classifier drops the near-constant features (``make_logreg``'s variance floor), the
    fold drops them too, and every float32 export then gives the pipeline's classes and probabilities."""
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    from olkit.deploy.fold import fragile_features

    images, labels, train, test = data
    base = _fragile_base()
    feats = extract_features(base, images)
    near_constant = feats[train].std(axis=0) < 1e-4
    assert near_constant.sum() == 5 * 64  # five filters x 8 x 8 positions
    # without the floor the scaler divides by a std at float32 rounding
    plain = make_pipeline(StandardScaler(), LogisticRegression(max_iter=2000)).fit(
        feats[train], labels[train]
    )
    assert fragile_features(plain)[0] > 0
    dep, clf = from_prune(base, images, labels, train=train)
    vt = clf.best_estimator_.steps[0][1]
    assert type(vt).__name__ == "VarianceFloor"
    assert (vt.get_support() == ~near_constant).all()
    assert fragile_features(clf) == (0, int((~near_constant).sum()))
    assert "VarianceFloor" in dep.head and f"{(~near_constant).sum()} of 512" in dep.head
    ref = pipeline_proba(base, clf, images[test])
    out = bundle(
        dep,
        tmp_path / "export",
        eval_images=images[test],
        eval_labels=labels[test],
        reference=ref,
        formats=("keras", "litert", "onnx"),
    )
    agree = out.agreement.set_index("export")
    for fmt in ("keras", "litert", "onnx"):
        assert agree.loc[fmt, "max_abs_diff"] < 1e-4, fmt
        assert agree.loc[fmt, "same_class"] == 1.0, fmt


def test_a_dead_base_folds_to_the_priors(data) -> None:
    """Every feature below the floor: the evaluation's classifier learns the priors, and so does the fold."""
    import keras

    images, labels, train, test = data
    base = _fragile_base()
    conv = base.layers[1]
    k, b = conv.get_weights()
    conv.set_weights([k * 1e-6, np.full_like(b, 0.5)])
    keras.utils.set_random_seed(0)
    dep, clf = from_prune(base, images, labels, train=train[: len(train) * 3 // 4])
    assert clf.best_estimator_.steps[0][1].get_support().sum() == 0
    got = dep.predict_proba(images[test])
    ref = pipeline_proba(base, clf, images[test])
    assert np.abs(got - ref).max() < 1e-6 and np.allclose(got, got[0], atol=1e-6)
    assert "0 of 512" in dep.head


def test_selector_before_an_mlp_folds(data) -> None:
    from sklearn.feature_selection import VarianceThreshold
    from sklearn.neural_network import MLPClassifier
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    images, labels, train, test = data
    base = _fragile_base()
    feats = extract_features(base, images)
    clf = make_pipeline(
        VarianceThreshold(1e-8), StandardScaler(), MLPClassifier((16,), max_iter=200, random_state=0)
    ).fit(feats[train], labels[train])
    dep = fold_classifier(base, clf)
    assert np.abs(dep.predict_proba(images[test]) - clf.predict_proba(feats[test])).max() < 1e-5


@pytest.mark.slow
def test_the_model_the_expert_just_retrained_is_the_one_exported(tmp_path) -> None:
    """An online round with the expert's labels (the conv base fine-tuned, the classifier refitted), the session
    reopened from its run folder, folded and exported: every float32 export gives the session's holdout classes
    and probabilities."""
    from olkit.online.session import OnlineSession, make_tiny_session

    session = make_tiny_session(tmp_path, n_train=40, n_new=24, seed=0)
    before = session.backbone.fingerprint
    picked = session.select(strategy="entropy", budget=6)
    session.retrain(session.simulated_labels(picked["sha256"]), finetune=True, new_weight=5.0, controls=False)
    again = OnlineSession.open(session.run.root, progress=False)
    assert again.round == 1 and again.backbone.fingerprint != before
    dep = from_session(again)
    assert dep.source["round"] == 1 and dep.source["backbone_fingerprint"] == again.backbone.fingerprint
    assert "MLPClassifier" in dep.head
    pred = again.predictions("holdout")
    ref = pred[[f"p_{c}" for c in again.classes]].to_numpy()
    x = again.backbone.prepare(list(pred["path"]))
    out = bundle(
        dep,
        tmp_path / "export",
        eval_images=x,
        eval_labels=list(pred["label"]),
        reference=ref,
        calibration=x,
    )
    agree = out.agreement.set_index("export")
    for fmt in ("keras", "litert", "onnx"):
        assert agree.loc[fmt, "max_abs_diff"] < 1e-4, fmt
        assert agree.loc[fmt, "same_class"] == 1.0, fmt
    assert np.isfinite(agree.loc["litert-int8", "acc_delta"])


@pytest.mark.slow
def _pruned_run(tmp_path: Path, images: np.ndarray, labels: np.ndarray):
    """A run folder as the pruning notebook leaves it: ``prune/chosen.keras`` (:func:`_base`) and the data root
    it pruned for (48 ``data_train`` images, 16 ``data_new``)."""
    from olkit.paths import RunFolder

    root = tmp_path / "plant"
    for i, (img, y) in enumerate(zip(images[:64], labels[:64])):
        p = root / ("data_train" if i < 48 else "data_new") / str(y) / f"img_{i:03d}.png"
        p.parent.mkdir(parents=True, exist_ok=True)
        cv2.imwrite(str(p), cv2.cvtColor(img, cv2.COLOR_RGB2BGR))
    run = RunFolder.create(tmp_path / "run")
    _base().save(run.chosen)
    run.update_metrics("prune", {"data_root": str(root)})
    return run, root


def test_a_runs_prune_output_exported_and_predicted_as_the_notebook(data, tmp_path, capsys) -> None:
    """Done when of issue 16: a run's ``prune/chosen.keras`` exported with ``olkit export RUN``, then ``olkit
    predict`` on a folder of the user's images: the same classes as the notebook's two-part pipeline."""
    from olkit.cli import main
    from olkit.data.io import load_images
    from olkit.prune.candidates import evaluation_sample

    images, labels, _, _ = data
    run, root = _pruned_run(tmp_path, images, labels)
    assert main(["export", str(run.root), "--runtimes", "onnx", "--n-eval", "48"]) == 0
    printed = capsys.readouterr().out
    export = run.prune / "export"
    assert f"to {export}" in printed and "images classified" in printed
    assert {"model.keras", "model.onnx", "deploy.json", "model_card.json", "model_card.md"} <= {
        p.name for p in export.iterdir()
    }
    # the notebook's second part, made here independently: the same sample, split and classifier
    from olkit.data.prepare import run_manifest

    ev = evaluation_sample(
        run_manifest(run, root).query("split == 'data_train'"), n_eval=48, size=SIZE, seed=0
    )
    base = _base()
    _, head = from_prune(base, ev.images, ev.labels, train=ev.train)
    heldout = list(csv.DictReader((export / "predictions_heldout.csv").open()))
    assert len(heldout) == len(ev.test)
    # olkit predict on the whole folder: every image classified as the two-part pipeline classifies it
    out_csv = tmp_path / "predictions.csv"
    assert main(["predict", str(export), str(root), "--out", str(out_csv)]) == 0
    rows = list(csv.DictReader(out_csv.open()))
    assert len(rows) == 64
    x, ok, _ = load_images([r["path"] for r in rows], size=(SIZE, SIZE), progress=False)
    assert ok.all()
    want = np.asarray(head.classes_)[pipeline_proba(base, head, x).argmax(1)]
    assert [r["predicted"] for r in rows] == [str(c) for c in want]
    assert main(["export", str(tmp_path / "no-run")]) != 0  # no chosen model: a usage error, said


def test_the_notebooks_export_is_olkit_export(data, tmp_path) -> None:
    """Notebook 3 exports with :func:`export_chosen` on the evaluation sample it holds; ``olkit export RUN``
    (:func:`export_run`) draws the sample again from the run: the same model, checks and held-out predictions."""
    import keras

    from olkit.data.prepare import manifest_file, run_manifest
    from olkit.deploy.bundle import export_chosen, export_run
    from olkit.prune.candidates import evaluation_sample

    images, labels, _, _ = data
    run, root = _pruned_run(tmp_path, images, labels)
    cli, cli_held = export_run(run.root, out_dir=tmp_path / "cli", runtimes="onnx", n_eval=48, progress=False)
    ev = evaluation_sample(run_manifest(run, root).query("split == 'data_train'"), n_eval=48, size=SIZE)
    nb, nb_held = export_chosen(
        run.chosen, ev, tmp_path / "nb", runtimes="onnx", manifest=manifest_file(run, root), progress=False
    )
    assert list(nb.info.files) == list(cli.info.files) == ["keras", "onnx"]
    assert nb.agreement.equals(cli.agreement)
    assert nb.card["source"] == cli.card["source"] and nb.card["source"]["base_sha256"] == file_sha256(
        run.chosen
    )
    for key in ("data", "accuracy", "head", "params", "preprocessing"):
        assert nb.card[key] == cli.card[key], key
    rows = [  # the same images, classes and probabilities (the fingerprint is the bytes of each model.keras)
        [{k: v for k, v in r.items() if k != "model_fingerprint"} for r in csv.DictReader(f.open())]
        for f in (nb.folder / "predictions_heldout.csv", cli.folder / "predictions_heldout.csv")
    ]
    assert rows[0] == rows[1] and {r["path"] for r in rows[0]} == {ev.paths[i] for i in ev.test}
    assert nb_held.n_images == cli_held.n_images == len(ev.test)
    x = images[:8].astype(np.float32)
    a, b = (keras.models.load_model(o.folder / "model.keras", compile=False) for o in (nb, cli))
    np.testing.assert_array_equal(a.predict(x, verbose=0), b.predict(x, verbose=0))
