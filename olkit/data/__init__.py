"""Data: reading images and folders (:mod:`.io`), the real BSData importer (:mod:`.bsdata`), the synthetic
generator (:mod:`.synth`) and making every data set a run needs (:mod:`.prepare`).

:mod:`olkit.data.io` is the one place where image files are read (:func:`olkit.data.io.load_image`).
"""
