"""Spatially separable kernels (the ``spatial`` command's analysis); see its modules."""
