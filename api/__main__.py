"""The API process: `python -m api` or `fitmon api`, settings from FITMON_* variables."""

from __future__ import annotations

import uvicorn

from api.app import create_app
from api.settings import ApiSettings


def main() -> None:
    settings = ApiSettings()
    # uvicorn stops on SIGINT and SIGTERM: it stops accepting, lets requests in progress finish
    # for at most the shutdown timeout, then exits.
    uvicorn.run(
        create_app(settings),
        host=settings.api_host,
        port=settings.api_port,
        timeout_graceful_shutdown=settings.api_shutdown_timeout_s,
        log_level="info",
    )


if __name__ == "__main__":
    main()
