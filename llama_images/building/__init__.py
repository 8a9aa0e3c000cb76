"""From the catalog to images: bases, the plan, the rendered recipes, builds, CI definitions."""
