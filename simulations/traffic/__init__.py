"""Mesoscopic traffic simulation of Lạng Sơn: mixed traffic, link transmission model, dynamic routing.

Entry point: `simulations.traffic.model.run(params, seed, progress=None, *, network, cells, wards)`
returning a `simulations.results.RunResult`; parameters and scenarios in
`simulations.traffic.params` (`TrafficParams`, alias `Scenario`).
"""
