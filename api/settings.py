"""Settings of the API process, read from FITMON_* environment variables."""

from __future__ import annotations

from pathlib import Path

from pydantic import AnyHttpUrl, Field

from db.settings import DatabaseSettings


class ApiSettings(DatabaseSettings):
    """The database (FITMON_ENV, FITMON_DATABASE_URL) and where the API listens."""

    api_host: str = "127.0.0.1"
    api_port: int = Field(default=8000, ge=0, le=65_535)
    # On SIGTERM or SIGINT, how long requests in progress may take before they are cut off.
    api_shutdown_timeout_s: int = Field(default=5, gt=0)
    # A signed-in session lasts this long (a crew's working day, with margin).
    session_hours: float = Field(default=12, gt=0, le=24 * 30)
    # The public address of the scan pages, in every tag's QR as <public_url>/q/<code>
    # (docs/tags.md); unset: the address the request came to, right only without a proxy.
    public_url: AnyHttpUrl | None = None
    # A font file with Chinese glyphs for tags; unset: Debian's fonts-noto-cjk where installed.
    tag_font: Path | None = None
