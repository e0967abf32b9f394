"""Agent-based simulations (mesa) of the city: traffic and waste collection, plus the runner."""
