"""A GPU image built on the cpu core: the core reused as is, and answers as upstream's build."""
