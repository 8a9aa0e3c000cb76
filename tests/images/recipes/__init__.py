"""The recipes: vendor recipes built until their toolkit, and no drift from upstream's."""
