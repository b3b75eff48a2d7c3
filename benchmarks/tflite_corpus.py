"""Make the Keras half of the TFLite corpus: four keras.applications models (weights=None)
converted by TensorFlow's TFLiteConverter in four number formats each (float32, float16
weights, dynamic-range int8 weights, full int8 with a seeded representative set), and
Keras's own count of each model's Conv2D, DepthwiseConv2D and Dense MACs beside them
(``keras_tflite_references.json``), which tests/test_tflite_files.py holds sepconv to.

Runs in a Python with TensorFlow (a separate virtualenv: TensorFlow's pins need not fit
sepconv's); imports nothing from sepconv:

    /path/to/tf-venv/bin/python benchmarks/tflite_corpus.py CORPUS_DIR
    SEPCONV_WILD_CORPUS=CORPUS_DIR pytest tests/test_tflite_files.py
"""

from __future__ import annotations

import json
import sys
from math import prod
from pathlib import Path

MODELS = ("MobileNet", "MobileNetV2", "MobileNetV3Small", "EfficientNetB0")


def keras_macs(model) -> int:  # type: ignore[no-untyped-def]
    """Keras's layers' own dims: each output value of a Conv2D meets kh·kw·Cin weights, of
    a DepthwiseConv2D kh·kw, of a Dense its input width."""
    macs = 0
    for layer in model.layers:
        kind = type(layer).__name__
        if kind not in ("Conv2D", "DepthwiseConv2D", "Dense"):
            continue
        out, kernel = layer.output.shape, layer.kernel.shape
        if kind == "Conv2D":
            macs += prod(out[1:]) * kernel[0] * kernel[1] * kernel[2]
        elif kind == "DepthwiseConv2D":
            macs += prod(out[1:]) * kernel[0] * kernel[1]
        else:
            macs += prod(out[1:]) * kernel[0]
    return macs


def main(folder: Path) -> None:
    import numpy as np
    import tensorflow as tf

    folder.mkdir(parents=True, exist_ok=True)
    references = {}
    for name in MODELS:
        model = getattr(tf.keras.applications, name)(weights=None, input_shape=(224, 224, 3))

        def representative():  # type: ignore[no-untyped-def]
            rng = np.random.default_rng(0)
            for _ in range(4):
                yield [rng.random((1, 224, 224, 3), dtype=np.float32)]

        for kind in ("float32", "float16", "dynamic", "int8"):
            converter = tf.lite.TFLiteConverter.from_keras_model(model)
            if kind != "float32":
                converter.optimizations = [tf.lite.Optimize.DEFAULT]
            if kind == "float16":
                converter.target_spec.supported_types = [tf.float16]
            if kind == "int8":
                converter.representative_dataset = representative
                converter.target_spec.supported_ops = [tf.lite.OpsSet.TFLITE_BUILTINS_INT8]
                converter.inference_input_type = tf.int8
                converter.inference_output_type = tf.int8
            (folder / f"keras-{name}-{kind}.tflite").write_bytes(converter.convert())
        references[name] = {"keras_macs": keras_macs(model), "keras_params": model.count_params()}
        print(name, references[name], flush=True)
    references_path = folder / "keras_tflite_references.json"
    references_path.write_text(json.dumps({**references, "tensorflow": tf.__version__}, indent=1))


if __name__ == "__main__":
    main(Path(sys.argv[1]))
