"""Waste-collection simulation: bins on the road network, PyVRP routes, trucks in a mesa model."""
