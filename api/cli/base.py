"""The typer apps every CLI module registers its commands on, and the error handling they share."""

from __future__ import annotations

import sys
from collections.abc import Callable
from functools import wraps
from pathlib import Path
from typing import Annotated, Literal, ParamSpec, TypeVar

import typer
from rich.console import Console

from twin.errors import TwinError

P = ParamSpec("P")
R = TypeVar("R")
T = TypeVar("T")

console = Console(stderr=True, soft_wrap=True)

app = typer.Typer(
    name="twin",
    help="Lạng Sơn digital twin: data, layers, simulations, the live service and exports.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
)
data_app = typer.Typer(help="Fetch, inspect and import the data the twin is built on.", no_args_is_help=True)
layers_app = typer.Typer(help="List the city model's layers.", no_args_is_help=True)
cameras_app = typer.Typer(help="The camera registry and coverage planning.", no_args_is_help=True)
simulate_app = typer.Typer(help="Run traffic and waste simulations.", no_args_is_help=True)
scenario_app = typer.Typer(help="Run, sweep and compare planners' scenarios.", no_args_is_help=True)
keys_app = typer.Typer(help="Create and revoke API keys.", no_args_is_help=True)

app.add_typer(data_app, name="data")
app.add_typer(layers_app, name="layers")
app.add_typer(cameras_app, name="cameras")
app.add_typer(simulate_app, name="simulate")
app.add_typer(scenario_app, name="scenario")
app.add_typer(keys_app, name="keys")


#: The data cache option every command that builds the city model takes.
DataDirOption = Annotated[
    Path | None, typer.Option("--data-dir", help="Data cache (default $TWIN_DATA_DIR).")
]
#: Its old name, still accepted (hidden from --help; prints a deprecation line).
OldCacheDirOption = Annotated[Path | None, typer.Option("--cache-dir", hidden=True)]
#: The road network option of the simulations, and the extract it reads for ``osm``.
RoadSourceOption = Annotated[
    Literal["synthetic", "osm"] | None,
    typer.Option(help="Road network: synthetic generator or an OSM extract (default $TWIN_ROAD_SOURCE)."),
]
OsmFileOption = Annotated[Path | None, typer.Option(help="OSM .osm.pbf extract for --road-source osm.")]
#: The event store option of every command that opens the store.
StoreDsnOption = Annotated[
    str | None,
    typer.Option("--store-dsn", help="Event store DSN (default $TWIN_STORE_DSN, else the state folder's)."),
]
#: Its old name, still accepted (hidden from --help; prints a deprecation line).
OldDsnOption = Annotated[str | None, typer.Option("--dsn", hidden=True)]


def renamed(new: T | None, old: T | None, old_name: str, new_name: str) -> T | None:
    """Return the value of an option given under its new or its deprecated old name (new wins)."""
    if old is not None:
        console.print(f"[yellow]warning:[/] {old_name} is deprecated; use {new_name}")
    return new if new is not None else old


def fail(message: str, hint: str | None = None, code: int = 2) -> typer.Exit:
    """Print one readable error line (and what to do) to stderr and return the Exit to raise."""
    console.print(f"[bold red]error:[/] {message}" + (f"\n[dim]→ {hint}[/]" if hint else ""))
    return typer.Exit(code)


def friendly(func: Callable[P, R]) -> Callable[P, R]:
    """Turn `TwinError` (and a few OS errors) into a one-line message and a non-zero exit."""

    @wraps(func)
    def wrapper(*args: P.args, **kwargs: P.kwargs) -> R:
        try:
            return func(*args, **kwargs)
        except TwinError as e:
            raise fail(e.message, e.hint) from None
        except FileNotFoundError as e:
            raise fail(f"file not found: {e.filename}", "check the path") from None
        except PermissionError as e:
            raise fail(f"permission denied: {e.filename}", "choose a writable path") from None
        except KeyboardInterrupt:
            console.print("interrupted")
            sys.exit(130)

    return wrapper
