"""The council briefing: live figures, maps, charts and scenario results in a short HTML/PDF report.

`periods.parse_period` names the reporting period (Decree 09/2019/NĐ-CP's cut-off dates);
`collect.collect` gathers the facts of a period from the event store, the city model and stored
scenario runs; `render.write_briefing` draws and writes them (Vietnamese by default, or English).
"""

from __future__ import annotations

from api.briefing.collect import Facts, collect
from api.briefing.periods import Period, parse_period
from api.briefing.render import Briefing, write_briefing

__all__ = ["Briefing", "Facts", "Period", "collect", "parse_period", "write_briefing"]
