"""The only modules that talk to the outside: the engine, registries, git, the pinned source."""
