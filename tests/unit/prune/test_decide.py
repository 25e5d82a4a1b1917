"""Decision rules over evaluated candidates and the Pareto plot."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from olkit.prune import decide


def table() -> pd.DataFrame:
    return pd.DataFrame(
        {
            "id": ["full", "a", "b", "c", "d"],
            "method": ["full", "mask-threshold", "mask-threshold", "l1", "random"],
            "acc": [0.90, 0.93, 0.89, 0.91, 0.80],
            "f1": [0.90, 0.93, 0.88, 0.91, 0.79],
            "cv_acc": [0.88, 0.90, 0.87, 0.95, 0.70],
            "ms_b32": [100.0, 12.0, 5.0, 12.0, 5.0],
            "params": [1000, 60, 20, 60, 20],
        }
    )


def test_decision_value_is_the_fit() -> None:
    assert decide.decision_value(1.0, 1000, 1000) == pytest.approx(2.02 + 1.04 - 0.79)
    assert decide.decision_value(0.5, 0, 1000) == pytest.approx(2.02 + 0.52)
    scored = decide.add_decision(table())
    assert scored.loc[0, "decision_value"] == pytest.approx(2.02 + 1.04 * 0.90 - 0.79)
    assert decide.best_by_decision(table())["id"] == "a"


def test_choose_applies_each_rule_to_full_and_mask_rows_only() -> None:
    t = table()
    # by cross-validated accuracy: a (0.90) and full (0.88) qualify, b (0.87) does not; l1 (0.95) is a control
    row, why, out = decide.choose(t, retime=False)
    assert row["id"] == "a" and "fastest" in why and "cv_acc" in why and "0.8800" in why
    assert out.equals(t)  # nothing re-timed
    assert decide.choose(t, eps=0.01, retime=False).row["id"] == "b"
    # nothing pruned qualifies: the full model is kept, and the sentence says so
    strict = t.assign(cv_acc=[0.99, 0.90, 0.87, 0.95, 0.70])
    row, why, _ = decide.choose(strict, retime=False)
    assert row["id"] == "full" and "full model is kept" in why
    # a budget: the most accurate within it (by cv_acc), full and controls excluded by time and by method
    row, why, _ = decide.choose(t, rule="best_under_latency", budget_ms=20, retime=False)
    assert row["id"] == "a" and "within 20 ms" in why
    assert decide.choose(t, rule="best_under_latency", budget_ms=6, retime=False).row["id"] == "b"
    with pytest.raises(ValueError, match="budget_ms"):
        decide.choose(t, rule="best_under_latency", retime=False)
    row, why, _ = decide.choose(t, rule="decision", retime=False)
    assert row["id"] == "a" and "decision value" in why
    # the L1 control may be chosen only when asked for
    assert decide.choose(t, methods=["l1"], retime=False).row["id"] == "c"
    with pytest.raises(KeyError, match="full"):
        decide.choose(t[t["method"] != "full"], retime=False)


def test_best_under_latency_and_fastest_within() -> None:
    t = table()
    assert decide.best_under_latency(t, 20)["id"] == "a"
    assert decide.best_under_latency(t, 6)["id"] == "b"
    with pytest.raises(ValueError, match="fastest takes 5"):
        decide.best_under_latency(t, 1)
    assert decide.fastest_within(t, 0.0)["id"] == "a"
    assert decide.fastest_within(t, 0.05)["id"] == "b"
    # "fastest not below the full model": reference = the full model's accuracy
    assert decide.fastest_within(t, 0.0, reference=0.90)["id"] == "a"


def test_pareto_front_and_table() -> None:
    front = decide.pareto_front(table())
    assert list(front["id"]) == ["b", "a"]
    tab = decide.decision_table(table())
    assert tab.loc[tab["id"] == "a", "speedup"].iloc[0] == pytest.approx(100 / 12)
    assert set(tab.loc[tab["pareto"], "id"]) == {"a", "b"}
    assert list(tab["ms_b32"]) == sorted(tab["ms_b32"])


def test_pareto_plot_marks_the_chosen_model(tmp_path) -> None:
    path = tmp_path / "fig" / "pareto.png"
    fig = decide.pareto_plot(table(), path, chosen="a", title="t")
    assert path.stat().st_size > 1000
    ax = fig.axes[0]
    labels = [t.get_text() for t in ax.get_legend().get_texts()]
    assert "chosen: a" in labels and "Pareto front" in labels
    star = next(c for c in ax.collections if c.get_label() == "chosen: a")
    np.testing.assert_allclose(star.get_offsets()[0], [12.0, 0.93])


def test_missing_columns_say_how_to_get_them() -> None:
    with pytest.raises(KeyError, match="evaluate_candidates"):
        decide.best_under_latency(table().drop(columns="ms_b32"), 10)
