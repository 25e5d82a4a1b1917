"""Mask-guided (Finicky) filter pruning: scoring, real surgery, candidates, evaluation and controls.

The method of Zarski et al. (2021, doi 10.1111/mice.12755, original code MatZar01/Finicky-Transfer-Learning):
each conv filter is scored by how well its activation maps overlap hand-segmented defect masks, greedily layer by
layer through the conv stack; every layer keeps its top ``k = round((F - 1) * f)`` filters for a leave factor ``f``.

What this package adds to the original
-------------------------------------
* ``method="original"`` reproduces the original's score faithfully: the map is binarised by a plain ``uint8`` cast
  (values below 1 become 0, values above 255 wrap), the mask (``*255`` when stored as small class values, with the
  same ``uint8`` wrap) is resized bilinearly to the map, and the score is the mean over images of
  ``count_nonzero(map & mask) / count_nonzero(map | mask)`` (0 where the union is empty). Its slip: whether a filter
  counts as "on" depends on the absolute scale of its activations, so on a network whose inputs are scaled to
  ``[0, 1]`` most early maps cast to all zeros and the ranking degenerates into ties (broken by filter index).
* ``method="threshold"`` (the default, documented better binarisation): every filter gets its own threshold, the
  ``1 - p`` quantile of its activations over all scoring images, where ``p`` is the fraction of map cells the target
  class covers (network-dissection style, Bau et al. 2017). The masks are reduced to the map with area averaging
  and a cell is positive when any target pixel falls in it. This is invariant to a filter's scale and compares
  every filter at the same coverage as the mask.
* ``method="contrast"`` (an option, no binarisation): a filter's mean activation inside the mask minus outside,
  divided by its standard deviation over every cell of the scoring images (scale-free; dead filters last).
* ``min_filters`` (:class:`CandidateGrid`, :func:`score_filters`): a floor on the filters every layer keeps; the
  original's rule alone (1) leaves VGG16's first layers 3 of 64 filters at ``f = 0.05``.
* The greedy scoring computes each unit's maps from the previous unit's conv input (:class:`.score.GreedyMaps`):
  one pass through the network per leave factor instead of one per conv layer.
* Real surgery (:func:`prune_model`): the dropped channels are removed from the Conv2D, from the BatchNormalization
  and the activation that follow it (BN weights are kept, the original lost them), and from the input of the next
  Conv2D or Dense (also through a Flatten), producing a smaller Keras model saved as ``.keras``. The original only
  zeroed filters (:func:`mask_model` reproduces that for comparison), so it got no speed from the weights.
  :func:`fold_batchnorm` folds Conv -> BN (-> ReLU) into one conv for inference.
* Candidates over leave factors and an optional cut depth (truncate after block ``k``), resumable; evaluation with
  the original's LogisticRegression grid search and an MLP on a held-out part split by source image; timing at
  batch 1 and 32; parameters and FLOPs; L1-norm and random controls at the same sizes; :func:`as_backbone` to hand
  a pruned model to the online-learning session.

Stages, one file each (after Torch-Pruning's layout)
----------------------------------------------------
:mod:`.graph` (the layer chain and conv units), :mod:`.score` (mask sets and filter scores), :mod:`.surgery`
(removal, zeroing, BN folding), :mod:`.measure` (parameters, FLOPs, features and the one timing path),
:mod:`.candidates` (building and evaluating candidates), :mod:`.decide` (the decision functions and the Pareto plot)
and :mod:`.masks` (the mask labeler).
"""
