"""Checks of the runtime target, the base layer: the contract every image built on it keeps."""
