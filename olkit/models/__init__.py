"""Every conv base both methods use: the compact default, the original's autoencoder recipe and any user model
(:mod:`.conv_base`), the VGG16- and AlexNet-like pruning backbones with shipped weights (:mod:`.zoo`), and the one
parameter and FLOP count (:mod:`.flops`).
"""
