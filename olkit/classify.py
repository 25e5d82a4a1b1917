"""The one classifier-and-metrics stack: the online MLP pipeline, the pruning evaluation's classifiers, one metrics.

The online classifier sits on top of the embeddings; :func:`make_logreg` (the original's grid-searched logistic
regression) and :func:`make_mlp` score pruning candidates (:func:`classify_features`). Both report through
:func:`evaluate` (:class:`Metrics`: ``accuracy``, ``balanced_accuracy``, ``f1``, ``roc_auc``, ``brier``).

The pipeline is the original's: ``StandardScaler`` then ``MLPClassifier((64, 32), solver="adam", batch_size=32)``;
sizes and seed are options. Any number of classes (two or more) works from the start; class names are strings.
Files are written with skops and loaded only when every type in them is on olkit's allow-list
(:data:`TRUSTED_TYPES`); anything else raises :class:`olkit.errors.UntrustedFileError`.
"""

from __future__ import annotations

import warnings
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any, Literal

import numpy as np
import numpy.typing as npt

# skops scans sys.modules when it is imported; importing it before TensorFlow is loaded keeps that to ~1 s
# instead of ~10 s, so olkit imports it here, eagerly.
import skops.io as sio
from sklearn.base import clone
from sklearn.exceptions import ConvergenceWarning
from sklearn.feature_selection import VarianceThreshold
from sklearn.neural_network import MLPClassifier
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import StandardScaler

from olkit.errors import ModelMismatchError, UntrustedFileError
from olkit.files import atomic_save
from olkit.types import ClassName, FloatArray, PathLike

__all__ = [
    "TRUSTED_TYPES",
    "Metrics",
    "VarianceFloor",
    "adjust_proba",
    "balanced_weights",
    "classify_features",
    "continue_fit",
    "estimate_priors",
    "evaluate",
    "fit_classifier",
    "load_classifier",
    "make_classifier",
    "make_logreg",
    "make_mlp",
    "save_classifier",
]

TRUSTED_TYPES: frozenset[str] = frozenset(
    {
        "sklearn.neural_network._multilayer_perceptron.MLPClassifier",
        "sklearn.neural_network._stochastic_optimizers.AdamOptimizer",
        "sklearn.neural_network._stochastic_optimizers.SGDOptimizer",
        "sklearn.preprocessing._label.LabelBinarizer",
        "sklearn.preprocessing._data.StandardScaler",
        "sklearn.feature_selection._variance_threshold.VarianceThreshold",
        "olkit.classify.VarianceFloor",
        "sklearn.linear_model._logistic.LogisticRegression",
        "sklearn.pipeline.Pipeline",
        "numpy.dtype",
        "numpy.ndarray",
        "numpy.float64",
        "numpy.int64",
        "numpy.str_",
        "builtins.tuple",
        "builtins.list",
        "builtins.dict",
        "builtins.str",
        "builtins.int",
        "builtins.float",
        "builtins.bool",
        "builtins.NoneType",
    }
)
"""Types a classifier file may hold; :func:`load_classifier` refuses files with any other."""


def make_classifier(
    *,
    hidden: Sequence[int] = (64, 32),
    seed: int = 0,
    max_iter: int = 200,
    batch_size: int = 32,
    learning_rate_init: float = 1e-3,
    alpha: float = 1e-4,
) -> Pipeline:
    """The original's pipeline: ``StandardScaler`` and an ``MLPClassifier`` with Adam and mini-batches of 32."""
    return Pipeline(
        [
            ("scaler", StandardScaler()),
            (
                "mlp",
                MLPClassifier(
                    hidden_layer_sizes=tuple(int(h) for h in hidden),
                    solver="adam",
                    batch_size=batch_size,
                    learning_rate_init=learning_rate_init,
                    alpha=alpha,
                    max_iter=max_iter,
                    random_state=seed,
                ),
            ),
        ]
    )


def fit_classifier(
    pipe: Pipeline, x: FloatArray, y: Sequence[ClassName], *, sample_weight: np.ndarray | None = None
) -> Pipeline:
    """Fit a fresh copy of ``pipe`` (scaler and MLP weighted alike) and return it. Convergence warnings are
    silenced: the original's 200 Adam epochs often end before ``tol`` is reached, which is expected here."""
    est = clone(pipe)
    y_arr = np.asarray([str(v) for v in y])
    if len(np.unique(y_arr)) < 2:
        raise ValueError(
            f"the classifier needs two or more classes in its training labels, got {np.unique(y_arr)}"
        )
    kwargs: dict[str, Any] = {}
    if sample_weight is not None:
        kwargs = {"scaler__sample_weight": sample_weight, "mlp__sample_weight": sample_weight}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        est.fit(np.asarray(x, dtype=np.float32), y_arr, **kwargs)
    return est


def continue_fit(
    pipe: Pipeline,
    x: FloatArray,
    y: Sequence[ClassName],
    *,
    epochs: int | None = None,
    faithful: bool = True,
    sample_weight: np.ndarray | None = None,
) -> Pipeline:
    """Keep the fitted scaler and continue training the MLP on ``(x, y)`` (a warm start).

    With the relabeled images alone as ``(x, y)`` this is the original's retraining.
    As ``MLPClassifier(warm_start=True).fit`` did in the original. scikit-learn keeps the first fit's stopping
    state (its best training loss and its count of epochs without improvement) across a warm start, so when the
    first fit had stopped on ``tol``, the second fit stops after a single epoch: the original's retraining
    barely moved the MLP. ``faithful=True`` reproduces this; ``faithful=False`` resets the stopping state, so the
    MLP trains on the new data until it converges (and shows how much a warm start on the relabeled images alone
    forgets). When ``y`` holds only some of the classes (a warm-started ``fit`` refuses that), the same
    epochs and stopping rule run through ``partial_fit``. Returns a new pipeline; ``pipe`` is not changed.
    ``epochs`` overrides ``max_iter`` for the second fit; ``sample_weight`` weights the rows (olkit's warm
    ``"refit"`` continues on train ∪ relabeled with the new rows weighted, with ``faithful=False``).
    """
    import copy

    est = copy.deepcopy(pipe)
    mlp: MLPClassifier = est.named_steps["mlp"]
    y_arr = np.asarray([str(v) for v in y])
    new = sorted(set(y_arr) - set(map(str, mlp.classes_)))
    if new:
        raise ModelMismatchError(
            f"labels {new} are classes the classifier has never seen; the original's warm start cannot add a "
            "class: retrain with mode='refit'"
        )
    xs = est.named_steps["scaler"].transform(np.asarray(x, dtype=np.float32))
    if not faithful:
        mlp._no_improvement_count = 0
        mlp.best_loss_ = np.inf
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        warnings.filterwarnings("ignore", message=".*batch_size.*clipped")  # fewer new labels than a batch
        max_iter = mlp.max_iter
        if set(y_arr) == set(map(str, mlp.classes_)):
            mlp.set_params(warm_start=True, max_iter=epochs or max_iter)
            mlp.fit(xs, y_arr, sample_weight=sample_weight)
            mlp.set_params(warm_start=False, max_iter=max_iter)
        else:  # the same epochs and the same stopping rule, through partial_fit
            for _ in range(epochs or max_iter):
                mlp.partial_fit(xs, y_arr, sample_weight=sample_weight)
                if mlp._no_improvement_count > mlp.n_iter_no_change:
                    break
    return est


def save_classifier(pipe: Pipeline, path: PathLike) -> Path:
    """Write ``pipe`` with skops (atomically) and return the path."""
    return atomic_save(path, lambda tmp: sio.dump(pipe, tmp))


def load_classifier(path: PathLike, *, trusted: frozenset[str] = TRUSTED_TYPES) -> Pipeline:
    """Load a skops file, refusing any type outside ``trusted``.

    Raises
    ------
    UntrustedFileError
        The file holds other types (listed in the message). Nothing in it has been executed.
    """
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(
            f"{path}: no classifier here (fit one with olkit.online.session.OnlineSession.create)"
        )
    found = set(sio.get_untrusted_types(file=path))
    bad = sorted(found - set(trusted))
    if bad:
        raise UntrustedFileError(
            f"{path}: refused, it holds types olkit does not trust: {', '.join(bad)}. If you made this file and "
            "trust it, inspect it with skops.io.get_untrusted_types and load it yourself with skops.io.load"
            "(path, trusted=[...]); otherwise refit the classifier"
        )
    return sio.load(path, trusted=sorted(found))


@dataclass(frozen=True)
class Metrics:
    """Classification metrics of one evaluation.

    ``report`` is scikit-learn's ``classification_report`` with four digits, as the original printed it;
    ``confusion[i][j]`` counts true ``classes[i]`` predicted as ``classes[j]``; ``f1`` is the F1 of the positive
    (second) class when binary, the macro average otherwise; ``roc_auc`` is for the positive
    (second) class when binary, one-vs-rest macro otherwise (``None`` when a class is absent); ``brier`` is the
    mean squared error of the positive-class probability when binary, the multi-class Brier score (sum over
    classes) otherwise.
    """

    n: int
    classes: tuple[str, ...]
    accuracy: float
    balanced_accuracy: float
    f1: float
    roc_auc: float | None
    brier: float
    confusion: tuple[tuple[int, ...], ...]
    per_class: dict[str, dict[str, float]]
    report: str

    def to_dict(self) -> dict[str, Any]:
        d = asdict(self)
        d["classes"] = list(self.classes)
        d["confusion"] = [list(r) for r in self.confusion]
        return d

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> Metrics:
        return cls(
            n=int(d["n"]),
            classes=tuple(d["classes"]),
            accuracy=float(d["accuracy"]),
            balanced_accuracy=float(d["balanced_accuracy"]),
            f1=float(d.get("f1", float("nan"))),  # rounds saved before olkit reported f1: NaN
            roc_auc=None if d.get("roc_auc") is None else float(d["roc_auc"]),
            brier=float(d["brier"]),
            confusion=tuple(tuple(int(v) for v in r) for r in d["confusion"]),
            per_class={k: dict(v) for k, v in d["per_class"].items()},
            report=str(d["report"]),
        )

    def __str__(self) -> str:
        auc = "n/a" if self.roc_auc is None else f"{self.roc_auc:.4f}"
        return (
            f"accuracy {self.accuracy:.4f}  balanced {self.balanced_accuracy:.4f}  F1 {self.f1:.4f}  ROC-AUC {auc}  "
            f"Brier {self.brier:.4f}  (n={self.n})\n{self.report}"
        )


def evaluate(y_true: Sequence[ClassName], proba: FloatArray, classes: Sequence[ClassName]) -> Metrics:
    """Metrics of probabilities ``proba`` (columns in ``classes`` order) against true class names.

    The one metrics computation of olkit: the online session's holdout figures and the pruning candidates'
    (:func:`classify_features`) both come from here. The prediction is the class of highest probability.
    """
    from sklearn.metrics import (
        accuracy_score,
        balanced_accuracy_score,
        classification_report,
        confusion_matrix,
        f1_score,
        roc_auc_score,
    )

    classes = [str(c) for c in classes]
    y = np.asarray([str(v) for v in y_true])
    p = np.asarray(proba, dtype=np.float64)
    if p.shape != (len(y), len(classes)):
        raise ValueError(
            f"probabilities of shape {p.shape} do not fit {len(y)} labels x {len(classes)} classes"
        )
    if len(y) == 0:
        raise ValueError("nothing to evaluate: no labelled images")
    pred = np.asarray(classes)[p.argmax(axis=1)]
    labels = classes + sorted(set(y.tolist()) - set(classes))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        report = classification_report(y, pred, labels=labels, digits=4, zero_division=0)
        rep_dict = classification_report(y, pred, labels=labels, digits=4, zero_division=0, output_dict=True)
        bal = float(balanced_accuracy_score(y, pred))
        if len(classes) == 2 and set(y.tolist()) <= set(classes):
            f1 = float(f1_score(y, pred, average="binary", pos_label=classes[1], zero_division=0))
        else:
            f1 = float(f1_score(y, pred, labels=labels, average="macro", zero_division=0))
    onehot = (y[:, None] == np.asarray(classes)[None, :]).astype(np.float64)
    present = [c for c in classes if c in set(y.tolist())]
    auc: float | None = None
    if len(classes) == 2:
        brier = float(np.mean((p[:, 1] - onehot[:, 1]) ** 2))
        if len(present) == 2:
            auc = float(roc_auc_score(onehot[:, 1], p[:, 1]))
    else:
        brier = float(np.mean(np.sum((p - onehot) ** 2, axis=1)))
        if len(present) == len(classes) and set(y.tolist()) <= set(classes):
            auc = float(roc_auc_score(y, p / p.sum(axis=1, keepdims=True), labels=classes, multi_class="ovr"))
    per_class = {
        c: {k: float(v) for k, v in rep_dict[c].items()} for c in labels if isinstance(rep_dict.get(c), dict)
    }
    return Metrics(
        n=len(y),
        classes=tuple(labels),
        accuracy=float(accuracy_score(y, pred)),
        balanced_accuracy=bal,
        f1=f1,
        roc_auc=auc,
        brier=brier,
        confusion=tuple(tuple(int(v) for v in row) for row in confusion_matrix(y, pred, labels=labels)),
        per_class=per_class,
        report=report,
    )


# ------------------------------------------------------------------ the original's FTL classifiers
LR_C_GRID: tuple[float, ...] = (1e-3, 1e-2, 1e-1, 1.0, 1e1, 1e2, 1e3, 1e4, 1e5)
"""The original's LogisticRegression grid (``train_models.py``: C from 1e-3 to 1e5, cv = 4)."""


# --------------------------------------------------------------------------------------------------------------
# classifiers and metrics
# --------------------------------------------------------------------------------------------------------------
LR_MIN_STD: float = 1e-4
"""The variance floor of :func:`make_logreg`, relative: a feature whose standard deviation over the training images
is below this times the root mean square of all features is dropped before the scaler (:class:`VarianceFloor`)."""


class VarianceFloor(VarianceThreshold):
    """``VarianceThreshold`` relative to the features' scale, that never leaves the classifier without an input.

    Keeps the features whose standard deviation is at least ``rel_std`` times the root mean square of the whole
    feature matrix (``threshold_`` is that variance), so the floor follows the scale of the conv base's activations
    (float32 rounding is relative to it). When no feature passes, ``transform`` returns one column of zeros: the
    classifier then learns the class priors (a conv base whose features are constant up to rounding carries
    nothing a line computer reproduces). scikit-learn's own ``VarianceThreshold`` (an absolute threshold) raises
    there, which would stop a whole pruning evaluation at one dead candidate.
    """

    def __init__(self, rel_std: float = LR_MIN_STD) -> None:
        super().__init__(threshold=0.0)
        self.rel_std = rel_std

    def fit(self, X: Any, y: Any = None) -> VarianceFloor:
        x = np.asarray(X, dtype=np.float64)
        self.variances_ = np.var(x, axis=0)
        self.n_features_in_ = x.shape[1]
        rms = float(np.sqrt(np.mean(x**2))) if x.size else 0.0
        self.threshold_ = float((self.rel_std * rms) ** 2)
        return self

    def _get_support_mask(self) -> np.ndarray:
        return np.asarray(self.variances_ > max(self.threshold_, 0.0))

    def transform(self, X: Any) -> Any:
        mask = self._get_support_mask()
        x = np.asarray(X)
        if x.ndim != 2 or x.shape[1] != self.n_features_in_:
            raise ValueError(
                f"X has {x.shape[-1]} features, VarianceFloor was fitted on {self.n_features_in_}"
            )
        return x[:, mask] if mask.any() else np.zeros((len(x), 1), dtype=x.dtype)


def make_logreg(*, seed: int = 0, n_jobs: int | None = 1, min_std: float = LR_MIN_STD) -> Any:
    """The original's classifier: LogisticRegression in GridSearchCV over C = 1e-3..1e5, cv = 4.

    ``max_iter`` is 2000 as in the original's ``train_models.py``. Two deviations: the features are standardised
    first (the original fed raw features), so that lbfgs converges and the same C grid means the same thing for
    candidates whose features differ in scale; and before that, features whose standard deviation is below
    ``min_std`` times the features' root mean square are dropped (:class:`VarianceFloor`). A pruned conv base
    can leave flattened features constant up to float32 rounding (the deploy bench's f = 0.05 candidate: all 208,
    std below 5e-6 around means of 0.3 to 1.3; the full model's smallest non-zero std is 2e-3): the scaler would
    divide by that std, so the classifier would read the rounding of whatever computed the features and no other
    runtime (not even another batch size) would reproduce its classes. ``min_std=0`` drops only exactly constant
    features.
    """
    from sklearn.linear_model import LogisticRegression
    from sklearn.model_selection import GridSearchCV, StratifiedKFold
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    pipe = make_pipeline(VarianceFloor(min_std), StandardScaler(), LogisticRegression(max_iter=2000))
    return GridSearchCV(
        pipe,
        {"logisticregression__C": list(LR_C_GRID)},
        cv=StratifiedKFold(4, shuffle=True, random_state=seed),
        n_jobs=n_jobs,
    )


def make_mlp(*, seed: int = 0) -> Any:
    """A small MLP (one hidden layer of 64, early stopping) on standardised features."""
    from sklearn.neural_network import MLPClassifier
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    return make_pipeline(
        StandardScaler(),
        MLPClassifier(
            hidden_layer_sizes=(64,),
            alpha=1e-3,
            max_iter=400,
            early_stopping=True,
            validation_fraction=0.15,
            n_iter_no_change=20,
            random_state=seed,
        ),
    )


def classify_features(
    features: npt.NDArray[Any],
    labels: Sequence[Any] | npt.NDArray[Any],
    train: npt.NDArray[np.int64],
    test: npt.NDArray[np.int64],
    *,
    classifier: Literal["logreg", "mlp"] = "logreg",
    seed: int = 0,
) -> dict[str, float]:
    """Fit on ``train`` and return the :func:`evaluate` metrics on ``test`` under the candidate table's names.

    ``acc``, ``f1`` and ``auc`` are :class:`Metrics`' ``accuracy``, ``f1`` and ``roc_auc`` (NaN where a class is
    absent), ``bal_acc`` its ``balanced_accuracy``: one computation for the online and the pruning figures. The
    grid-searched logistic regression also returns ``cv_acc``, its best cross-validated accuracy on the train
    part: a figure to choose a candidate by without looking at the test part.
    """
    y = np.asarray(labels)
    clf = make_logreg(seed=seed) if classifier == "logreg" else make_mlp(seed=seed)
    clf.fit(features[train], y[train])
    m = evaluate(y[test].tolist(), clf.predict_proba(features[test]), list(clf.classes_))
    out = {
        "acc": m.accuracy,
        "f1": m.f1,
        "auc": float("nan") if m.roc_auc is None else m.roc_auc,
        "bal_acc": m.balanced_accuracy,
    }
    if hasattr(
        clf, "best_score_"
    ):  # the grid search's cross-validated accuracy on the train part: choose by it
        out["cv_acc"] = float(clf.best_score_)
    return out


# --------------------------------------------------------------------------------------------------------------
# Prior shift
# --------------------------------------------------------------------------------------------------------------
def estimate_priors(
    proba: FloatArray, train_priors: Sequence[float] | FloatArray, *, max_iter: int = 1000, tol: float = 1e-6
) -> np.ndarray:
    """The class priors of unlabelled images from a classifier's probabilities on them: the EM of Saerens,
    Latinne and Decaestecker (2002), "Adjusting the outputs of a classifier to new a priori probabilities".

    Each step re-weights every row's probabilities by ``new / train`` priors (renormalised) and takes their mean
    as the new priors, until they move less than ``tol``. Assumes the classifier is calibrated and only the
    priors changed (``p(x | class)`` the same on both sides).

    Parameters
    ----------
    proba
        ``(n, n_classes)`` probabilities of the classifier on the new, unlabelled images.
    train_priors
        The class shares the classifier was trained under, in the same column order.
    """
    p = np.clip(np.asarray(proba, np.float64), 1e-12, None)
    pt = np.asarray(train_priors, np.float64)
    if p.ndim != 2 or p.shape[1] != len(pt):
        raise ValueError(f"proba of shape {p.shape} does not fit {len(pt)} train priors")
    pt = pt / pt.sum()
    q = pt.copy()
    for _ in range(max_iter):
        w = p * (q / pt)
        w /= w.sum(axis=1, keepdims=True)
        q_new = w.mean(axis=0)
        done = float(np.abs(q_new - q).max()) < tol
        q = q_new
        if done:
            break
    return q


def adjust_proba(
    proba: FloatArray, train_priors: Sequence[float] | FloatArray, new_priors: Sequence[float] | FloatArray
) -> np.ndarray:
    """Bayes' rule for new priors: ``p'(c | x) ∝ p(c | x) new_c / train_c`` (rows renormalised)."""
    p = np.asarray(proba, np.float64)
    ratio = np.asarray(new_priors, np.float64) / np.clip(np.asarray(train_priors, np.float64), 1e-12, None)
    w = p * ratio
    return w / np.clip(w.sum(axis=1, keepdims=True), 1e-300, None)


def balanced_weights(labels: Sequence[ClassName]) -> np.ndarray:
    """Per-row weights that give every class the same total weight, with a mean of 1 (``n / (k n_c)``)."""
    y = np.asarray([str(v) for v in labels])
    if len(y) == 0:
        return np.zeros(0)
    names, inverse, counts = np.unique(y, return_inverse=True, return_counts=True)
    return np.asarray(len(y) / (len(names) * counts[inverse]), np.float64)
