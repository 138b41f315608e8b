"""Models: the catalogue of timm architectures, building one for a dataset, exporting and using a
trained one."""
