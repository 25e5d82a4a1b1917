"""The online-learning session on a tiny real run: predictions, selection, rounds in both modes, restart."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest

from olkit.classify import Metrics
from olkit.errors import ModelMismatchError, UntrustedFileError
from olkit.online.session import OnlineSession, RoundResult, labels_from_csv, make_tiny_session


@pytest.fixture(scope="module")
def session(tmp_path_factory) -> OnlineSession:
    return make_tiny_session(tmp_path_factory.mktemp("online"), n_train=40, n_new=24, seed=0)


def test_create_writes_the_run_folder(session: OnlineSession) -> None:
    run = session.run
    for path in (
        run.splits,
        run.backbone,
        run.backbone.with_suffix(".json"),
        run.classifier,
        run.root / "session.json",
    ):
        assert path.is_file(), path
    shards = list(run.embeddings.glob("*/shard-*.npz"))
    assert shards
    assert session.classes == ["0", "1"] and session.round == 0
    splits = pd.read_csv(run.splits, dtype=str)
    assert splits["split"].value_counts().to_dict() == {"train": 40, "holdout": 12, "test": 12}


def test_predictions_and_selection(session: OnlineSession) -> None:
    pred = session.predictions("test")
    assert list(pred.columns) == ["path", "sha256", "label", "mask_path", "pred", "confidence", "p_0", "p_1"]
    assert len(pred) == 12 and np.allclose(pred[["p_0", "p_1"]].sum(axis=1), 1.0)
    assert (pred["confidence"] == pred[["p_0", "p_1"]].max(axis=1)).all()
    assert pred["mask_path"].str.endswith(".png").all()
    sel = session.select(strategy="least_confidence", budget=4)
    assert len(sel) == 4 and sel["rank"].tolist() == [1, 2, 3, 4]
    assert sel["score"].is_monotonic_decreasing
    assert np.allclose(sel["score"], 1 - sel["confidence"])
    assert set(sel["sha256"]) <= set(pred["sha256"])
    nov = session.select(strategy="novelty")
    assert nov["score"].is_monotonic_decreasing and len(nov) == 12
    # once labelled, an image is at distance 0 from the labelled set; the others can only come closer to it
    first = nov["sha256"].iloc[0]
    again = session.novelty(nov["sha256"], labelled=[first], k=1)
    assert (
        again[0] == pytest.approx(0.0, abs=1e-5) and (again[1:] <= nov["score"].to_numpy()[1:] + 1e-9).all()
    )
    hyb = session.select(strategy="hybrid", budget=5, exclude=[first])
    assert len(hyb) == 5 and first not in set(hyb["sha256"])
    band = session.select(strategy="band", threshold=0.0)  # t = 0: every image strictly inside (0, 1)
    assert len(band) == int(((pred["p_0"] > 0) & (pred["p_0"] < 1)).sum())
    rest = session.select(strategy="least_confidence", exclude=sel["sha256"])
    assert len(rest) == 8 and not set(rest["sha256"]) & set(sel["sha256"])


def test_simulated_expert_and_csv_labels(session: OnlineSession, tmp_path) -> None:
    pred = session.predictions("test")
    truth = session.simulated_labels(pred["sha256"][:3])
    assert truth == dict(zip(pred["sha256"][:3], pred["label"][:3]))
    with pytest.raises(KeyError):
        session.simulated_labels(["f" * 64])
    csv = tmp_path / "labels.csv"
    pd.DataFrame(
        {"sha256": [pred["sha256"][0], pred["sha256"][1], pred["sha256"][0]], "label": ["1", "0", "0"]}
    ).to_csv(csv, index=False)
    assert labels_from_csv(csv) == {pred["sha256"][0]: "0", pred["sha256"][1]: "0"}  # the last row wins
    by_path = tmp_path / "by_path.csv"
    pd.DataFrame({"path": [pred["path"][2]], "label": ["1"]}).to_csv(by_path, index=False)
    assert labels_from_csv(by_path) == {pred["sha256"][2]: "1"}


def test_bad_labels_are_refused(session: OnlineSession) -> None:
    holdout = session.predictions("holdout")["sha256"][0]
    with pytest.raises(ValueError, match="holdout"):
        session.retrain({holdout: "1"})
    with pytest.raises(KeyError):
        session.retrain({"0" * 64: "1"})
    test_sha = session.predictions("test")["sha256"][0]
    with pytest.raises(ModelMismatchError, match="refit"):
        session.retrain({test_sha: "2"}, mode="original")
    with pytest.raises(ValueError, match="no labels"):
        session.retrain({})


def test_refit_round_history_and_restart(session: OnlineSession) -> None:
    before = session.holdout_metrics()
    picked = session.select(strategy="least_confidence", budget=6)
    labels = session.simulated_labels(picked["sha256"])
    res = session.retrain(labels, mode="refit", new_weight=5.0)
    assert isinstance(res, RoundResult) and res.round == 1 and session.round == 1
    assert res.labels_used == 6 and res.new_weight == 5.0
    assert res.before == before and isinstance(res.after, Metrics)
    assert res.random is not None and res.ceiling is not None and res.random.n == res.after.n == 12
    assert res.seconds > 0 and res.control_seconds > 0
    # refit trains on train ∪ labelled: the labelled images are now classified as the expert said
    now = session.predictions("test").set_index("sha256")
    assert (now.loc[list(labels), "pred"] == pd.Series(labels)).mean() >= 5 / 6
    assert res.train_acc_after >= 0.9
    assert session.holdout_metrics() == res.after
    assert (session.run.models / "classifier-round001.skops").is_file()
    line = json.loads(session.run.history.read_text().splitlines()[-1])
    assert line["round"] == 1 and line["after"]["accuracy"] == res.after.accuracy
    hist = session.history()
    assert hist[["round", "mode", "labels_used"]].values.tolist() == [[1, "refit", 6]]
    assert RoundResult.from_dict(res.to_dict()) == res

    again = OnlineSession.open(session.run.root, progress=False)
    assert again.round == 1 and again.classes == session.classes
    pd.testing.assert_frame_equal(again.predictions("test"), session.predictions("test"))
    assert again.history()["holdout_acc_after"].tolist() == hist["holdout_acc_after"].tolist()


def test_original_mode_is_a_warm_start_on_the_relabeled(session: OnlineSession) -> None:
    picked = session.select(strategy="margin", budget=6)
    labels = session.simulated_labels(picked["sha256"])
    res = session.retrain(labels, mode="original")
    assert res.mode == "original" and res.new_weight is None
    base = session._base_for(session._emb)  # the train-only classifier
    mlp_base, mlp_after = base.named_steps["mlp"], session.classifier.named_steps["mlp"]
    # the scaler is the train set's, the MLP continued from the train-only fit (one more epoch, see classify)
    assert np.allclose(session.classifier.named_steps["scaler"].mean_, base.named_steps["scaler"].mean_)
    assert len(mlp_after.loss_curve_) > len(mlp_base.loss_curve_)
    assert not all(np.allclose(a, b) for a, b in zip(mlp_after.coefs_, mlp_base.coefs_))
    assert 0.0 <= res.train_acc_after <= 1.0
    assert session.history()["mode"].tolist()[-1] == "original"


def _not_trusted(x: np.ndarray) -> np.ndarray:
    return x


def test_untrusted_classifier_file_is_refused_on_open(session: OnlineSession, tmp_path) -> None:
    import shutil

    import skops.io as sio
    from sklearn.preprocessing import FunctionTransformer

    copy = tmp_path / "run"
    shutil.copytree(session.run.root, copy)
    sio.dump(FunctionTransformer(_not_trusted), copy / "models" / "classifier.skops")
    with pytest.raises(UntrustedFileError, match=r"classifier\.skops"):
        OnlineSession.open(copy, progress=False)


@pytest.mark.slow
def test_finetune_round_replaces_the_backbone_and_reembeds(session: OnlineSession) -> None:
    old_fp = session.backbone.fingerprint
    old_cache = session._state["embeddings"]
    old_test = session.embeddings("test").copy()
    picked = session.select(strategy="entropy", budget=6)
    res = session.retrain(session.simulated_labels(picked["sha256"]), finetune=True, new_weight=5.0)
    assert res.finetune and session.backbone.fingerprint != old_fp
    assert session._state["embeddings"] != old_cache
    assert (session.run.embeddings / session._state["embeddings"] / "meta.json").is_file()
    assert not np.allclose(session.embeddings("test"), old_test)
    assert session.embedding_stats["computed"] == 64  # every image embedded again by the new base
    again = OnlineSession.open(session.run.root, progress=False)
    assert again.backbone.fingerprint == session.backbone.fingerprint
    assert again.embedding_stats["computed"] == 0  # all from the new cache
    assert np.allclose(again.embeddings("test"), session.embeddings("test"))
