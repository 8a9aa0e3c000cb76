"""Publishing to a loopback registry: merges, failures that move nothing, signing, SBOMs."""
