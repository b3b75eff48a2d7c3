"""sepconv: convolution cost calculator and profiler (standard vs depthwise-separable)."""

__version__ = "0.1.0"
