"""Running the notify service in the test process against the session's database, a real SMTP
server (aiosmtpd, STARTTLS and authentication) and alerts raised by the maintenance code."""

from __future__ import annotations

import datetime as dt
import ipaddress
import ssl
import threading
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from email import message_from_bytes, policy
from email.message import EmailMessage
from pathlib import Path
from typing import Any

import httpx
import psycopg
from aiosmtpd.controller import Controller
from aiosmtpd.smtp import SMTP as SmtpServerSession
from aiosmtpd.smtp import AuthResult, Envelope, LoginPassword, Session
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from db.embedded import free_port
from maintenance.alerts import Alert, Raise, raise_alert
from maintenance.audit import Actor
from notifications.channels.base import Channel, ChannelKind, Target
from notifications.channels.email import EmailChannel, SmtpServer
from notifications.metrics import NotifyMetrics
from notifications.preferences import CrewChannel, add_crew_channel
from notifications.registry import build_channels
from notifications.sealed import Sealer
from notifications.service import NotifyService
from notifications.settings import NotifySettings
from tests.maintenance.support import settings as maintenance_settings

SMTP_USER, SMTP_PASSWORD = "fitmon", "mail-secret"


def notify_settings(database_url: str, **overrides: Any) -> NotifySettings:
    base: dict[str, Any] = {
        "env": "test",
        "database_url": database_url,
        "retry_first_s": 0.2,
        "retry_max_s": 1.0,
        "send_timeout_s": 2.0,
        "group_wait_s": 0.5,
        "metrics_port": 0,
    }
    return NotifySettings(**(base | overrides))


@contextmanager
def running_notify(
    settings: NotifySettings, channels: Mapping[ChannelKind, Channel] | None = None
) -> Iterator[NotifyService]:
    """The notify service on a thread of the test, stopped (and waited for) at the end."""
    with httpx.Client() as http:
        service = NotifyService(
            settings, channels or build_channels(settings, http), NotifyMetrics()
        )
        failed: list[BaseException] = []

        def run() -> None:
            try:
                service.run()
            except BaseException as exc:
                failed.append(exc)
                raise

        thread = threading.Thread(target=run, name="notify", daemon=True)
        thread.start()
        try:
            yield service
        finally:
            service.stop()
            thread.join(30)
            assert not thread.is_alive(), "the notify service did not stop"
        assert not failed, failed


def add_channel(
    conn: psycopg.Connection[Any], crew_id: int, target: Target, name: str, **kw: Any
) -> CrewChannel:
    channel = add_crew_channel(
        conn,
        Sealer(notify_settings("postgresql://unused").secret_key),
        crew_id,
        kind=target.kind,
        name=name,
        url=target.address,
        secret=target.secret,
        **kw,
    )
    conn.commit()
    return channel


def raise_fault(
    conn: psycopg.Connection[Any],
    code: str,
    *,
    fault: str = "STRUCTURE_TILT",
    severity: str = "critical",
    at: datetime | None = None,
) -> Alert:
    """A device's fault raised through the maintenance code (alert, ticket, notices), committed."""
    when = at or datetime.now(UTC)
    seen = Raise(code, "device_fault", severity, when, fault=fault, out_of_service=True)
    with conn.transaction():
        return raise_alert(conn, when, maintenance_settings(), seen, Actor.device(code))


def delivery_rows(
    conn: psycopg.Connection[Any], where: str, *params: object
) -> list[dict[str, Any]]:
    with conn.cursor(row_factory=psycopg.rows.dict_row) as cur:
        rows = cur.execute(
            "SELECT d.*, o.kind AS event, o.alert_id, o.created_at AS queued_at "
            "FROM notification_deliveries d JOIN notification_outbox o ON o.id = d.outbox_id "
            f"WHERE {where} ORDER BY d.id",
            params,
        ).fetchall()
    conn.commit()
    return rows


# -- a real SMTP server ---------------------------------------------------------------------------
@dataclass
class Mailbox:
    messages: list[EmailMessage] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)

    async def handle_DATA(
        self, server: SmtpServerSession, session: Session, envelope: Envelope
    ) -> str:
        content = envelope.original_content or b""
        mail = message_from_bytes(content, policy=policy.default)
        assert isinstance(mail, EmailMessage)
        with self.lock:
            self.messages.append(mail)
        return "250 OK"

    def to(self, address: str) -> list[EmailMessage]:
        with self.lock:
            return [m for m in self.messages if m["To"] == address]


def _authenticate(
    server: SmtpServerSession, session: Session, envelope: Envelope, mechanism: str, data: Any
) -> AuthResult:
    ok = isinstance(data, LoginPassword) and (data.login, data.password) == (
        SMTP_USER.encode(),
        SMTP_PASSWORD.encode(),
    )
    return AuthResult(success=ok)


def self_signed(folder: Path) -> tuple[ssl.SSLContext, ssl.SSLContext]:
    """A certificate for 127.0.0.1: the server's context, and a client's that trusts only it."""
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "fitmon test smtp")])
    now = datetime.now(UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(minutes=5))
        .not_valid_after(now + dt.timedelta(days=1))
        .add_extension(
            x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]),
            critical=False,
        )
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(key, hashes.SHA256())
    )
    cert_file, key_file = folder / "smtp.crt", folder / "smtp.key"
    cert_file.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_file.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    server = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    server.load_cert_chain(cert_file, key_file)
    client = ssl.create_default_context(cafile=str(cert_file))
    return server, client


@contextmanager
def smtp_server(folder: Path) -> Iterator[tuple[Mailbox, EmailChannel]]:
    """aiosmtpd requiring STARTTLS and authentication, and an e-mail channel that uses it."""
    server_tls, client_tls = self_signed(folder)
    mailbox = Mailbox()
    port = free_port()
    controller = Controller(
        mailbox,
        hostname="127.0.0.1",
        port=port,
        tls_context=server_tls,
        require_starttls=True,
        authenticator=_authenticate,
        auth_required=True,
    )
    controller.start()
    try:
        channel = EmailChannel(
            SmtpServer(
                "127.0.0.1",
                port,
                "starttls",
                "fitmon <alerts@fitmon.test>",
                SMTP_USER,
                SMTP_PASSWORD,
                client_tls,
            )
        )
        yield mailbox, channel
    finally:
        controller.stop()
