"""Deployment: one model from a conv base and its classifier, exports (Keras, LiteRT, ONNX), runtimes, predict, card."""
