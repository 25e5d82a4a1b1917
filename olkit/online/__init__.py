"""Online learning with an expert in the loop (Schlagenhauf et al. 2021).

:mod:`.embed` (cached embeddings), :mod:`.select` (selection strategies, one registry), :mod:`.session`
(:class:`~olkit.online.session.OnlineSession`: the protocol over a run folder), :mod:`.labels` (the durable label
store) and :mod:`.grid` (the relabel widget). The classifier and its metrics live in :mod:`olkit.classify`, which
the pruning evaluation uses too.
"""
