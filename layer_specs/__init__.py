"""Built-in model specs (YAML), installed as ``sepconv_cli.layer_specs``."""
