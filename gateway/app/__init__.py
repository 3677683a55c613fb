"""The composition root: configuration, and the running gateway assembled from every part."""
