"""The runtimes sepconv times forms on: NumPy (its own kernels), ONNX Runtime and PyTorch."""
