"""Support for the image tests and the bench, not used by the product: a tiny model,
a local registry, upstream's recipes built their way."""
