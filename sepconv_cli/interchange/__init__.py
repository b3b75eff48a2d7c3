"""Model files in and out: ONNX graphs read into sepconv's report rows, specs written out as
ONNX graphs, and ONNX graphs written out as YAML specs.

The ``onnx`` package is an optional extra (``pip install 'sepconv[onnx]'``), imported only
when a command is given an ONNX file or asked to write one (:func:`require_onnx`), so the
startup of every other command does not grow.
"""
