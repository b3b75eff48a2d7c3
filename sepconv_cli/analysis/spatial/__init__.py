"""Spatially separable kernels: rank, factors, low-rank approximations, cost and timing.

A k1×k2 kernel ``K`` of rank 1 is the outer product of a column ``c`` (k1 values) and a
row ``r`` (k2 values). Correlating an image with ``K`` then equals correlating it with
``c`` down the columns and the result with ``r`` along the rows: k1 + k2 multiplications
per output pixel instead of k1·k2. A kernel of rank r is a sum of r such pairs (its SVD,
which also gives the best rank-r approximation in the Frobenius norm, Eckart–Young):
r·(k1 + k2) multiplications.

Counting convention (per output pixel of one single-channel 2-D correlation): one
multiplication per kernel tap, zero taps included (a generic kernel does not know it has
zeros); adding n products takes n − 1 additions, and a sum of r separable terms r − 1 more.

The modules, in the order the command uses them:

* ``catalogue`` – the built-in kernels as plain data (no NumPy: the help text reads it);
* ``kernels`` – the KERNEL argument → a ``Kernel`` (built-in or file); ``files`` reads
  ``.yaml``/``.csv``/``.npy`` matrices;
* ``rank`` – the SVD analysis: rank, integer factors, best rank-r approximations;
* ``correlate`` – the NumPy correlations and their timing (``execution.timing``'s harness);
* ``model`` – the data they exchange and ``pixel_cost``, the convention above.

Everything but ``catalogue`` needs NumPy, so the ``spatial`` command imports them only when
it runs. None prints or imports Rich or Typer; ``sepconv_cli.output.spatial`` renders.
This ``__init__`` imports nothing, so that importing ``catalogue`` loads no NumPy.
"""
