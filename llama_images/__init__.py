"""Build, verify and release llama-server container images."""
