"""Files shipped with the package: the demo checkpoint (``demo/``) with its model card, and the app's reference set
of real NIH ChestX-ray14 test images (``reference/``: see its README.md and manifest.json)."""
