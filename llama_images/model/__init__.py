"""The project's facts: settings, the checkout, the variant catalog, versions, labels, tags."""
