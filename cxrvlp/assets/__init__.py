"""Files shipped with the package: the demo checkpoint (``demo/``) with its model card."""
