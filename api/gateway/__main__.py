"""``python -m api.gateway --config FILE``: the same as ``twin gateway --config FILE`` (without the CLI)."""

from __future__ import annotations

import argparse
import asyncio
import logging
import sys
from pathlib import Path

from api.gateway.config import load_config
from api.gateway.runner import Gateway
from twin.errors import TwinError


def main() -> int:
    """Run the gateway; return the exit code."""
    p = argparse.ArgumentParser(prog="python -m api.gateway", description=__doc__)
    p.add_argument("--config", type=Path, required=True, help="the gateway's TOML file")
    args = p.parse_args()
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    try:
        cfg = load_config(args.config)
    except TwinError as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    asyncio.run(Gateway(cfg).run())
    return 0


if __name__ == "__main__":
    sys.exit(main())
