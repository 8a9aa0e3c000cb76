"""What the tasks do beyond building: publish, release, inventory, drift, bench."""
