"""E-mail over SMTP: STARTTLS (587) or TLS (465), with authentication when a username is set, a
message of plain text and HTML. A new connection per message: a crew's mail is a few a day."""

from __future__ import annotations

import smtplib
import ssl
from dataclasses import dataclass
from email.message import EmailMessage
from email.utils import make_msgid
from typing import Literal

from notifications.channels.base import Answer, ChannelKind, Message, Target

Security = Literal["starttls", "tls", "none"]


@dataclass(frozen=True, slots=True)
class SmtpServer:
    host: str
    port: int
    security: Security
    sender: str
    username: str | None = None
    password: str | None = None
    ssl_context: ssl.SSLContext | None = None  # None: the system's trusted CAs


class EmailChannel:
    kind: ChannelKind = "email"

    def __init__(self, server: SmtpServer) -> None:
        self.server = server

    def send(self, target: Target, message: Message, *, timeout_s: float) -> Answer:
        mail = self.compose(target.address, message)
        server = self.server
        context = server.ssl_context or ssl.create_default_context()
        try:
            smtp: smtplib.SMTP
            if server.security == "tls":
                smtp = smtplib.SMTP_SSL(
                    server.host, server.port, timeout=timeout_s, context=context
                )
            else:
                smtp = smtplib.SMTP(server.host, server.port, timeout=timeout_s)
            with smtp:
                if server.security == "starttls":
                    smtp.starttls(context=context)
                if server.username:
                    smtp.login(server.username, server.password or "")
                refused = smtp.send_message(mail)
        except smtplib.SMTPAuthenticationError as exc:
            return Answer(False, False, str(exc.smtp_code), _words(exc.smtp_error))
        except smtplib.SMTPRecipientsRefused as exc:
            code, words = next(iter(exc.recipients.values()))
            return Answer(False, 400 <= code < 500, str(code), _words(words))
        except smtplib.SMTPResponseException as exc:
            return Answer(
                False, 400 <= exc.smtp_code < 500, str(exc.smtp_code), _words(exc.smtp_error)
            )
        except smtplib.SMTPNotSupportedError as exc:
            return Answer(False, False, "unsupported", str(exc))
        except TimeoutError as exc:
            return Answer(False, True, "timeout", f"no answer within {timeout_s} s ({exc!r})")
        except ssl.SSLError as exc:
            return Answer(False, False, "tls", f"TLS failed: {exc}")
        except (smtplib.SMTPException, OSError) as exc:
            return Answer(False, True, "connect", f"{server.host}:{server.port}: {exc!r}")
        if refused:
            code, words = next(iter(refused.values()))
            return Answer(False, 400 <= code < 500, str(code), _words(words))
        return Answer(True, False, "250", "accepted")

    def compose(self, to: str, message: Message) -> EmailMessage:
        mail = EmailMessage()
        mail["From"] = self.server.sender
        mail["To"] = to
        mail["Subject"] = message.title
        mail["Message-ID"] = make_msgid(idstring=message.key)
        mail["X-Fitmon-Delivery"] = message.key
        mail.set_content(message.text)
        mail.add_alternative(message.html, subtype="html")
        return mail


def _words(raw: bytes | str) -> str:
    return raw.decode("utf-8", errors="replace") if isinstance(raw, bytes) else raw
