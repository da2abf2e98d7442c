"""`fitmon people add`: create a person from the command line, so a city can make its first
admin (and the demo its demo people) before anyone can sign in to the API."""

from __future__ import annotations

import sys
from datetime import UTC, datetime

import click
import psycopg

from cli.settings import settings_from
from db.settings import DatabaseSettings
from maintenance.audit import Actor
from maintenance.people import ROLES, PeopleError, create_person


@click.group()
def people() -> None:
    """People who sign in: admins, managers (by district) and crew members."""


@people.command("add")
@click.option("--login", required=True, help="2-64 of a-z, 0-9, '.', '_', '-'")
@click.option("--name", required=True)
@click.option("--role", required=True, type=click.Choice(ROLES))
@click.option("--district", "districts", multiple=True, help="a manager's district (repeatable)")
@click.option("--password-stdin", is_flag=True, help="read the password from standard input")
@click.option("--no-password", is_flag=True, help="API tokens only: no signing in")
@click.option(
    "--database-url",
    help="PostgreSQL URL (default: $FITMON_DATABASE_URL, else the development database).",
)
def add(
    login: str,
    name: str,
    role: str,
    districts: tuple[str, ...],
    password_stdin: bool,
    no_password: bool,
    database_url: str | None,
) -> None:
    """Create a person; without --password-stdin or --no-password, the password is prompted."""
    password: str | None
    if no_password:
        password = None
    elif password_stdin:
        password = sys.stdin.readline().rstrip("\r\n")
    else:
        password = click.prompt("Password", hide_input=True, confirmation_prompt=True)
    url = settings_from(DatabaseSettings, database_url=database_url).database_url
    with psycopg.connect(url.get_secret_value()) as conn:
        try:
            person = create_person(
                conn,
                datetime.now(UTC),
                login=login,
                name=name,
                role=role,  # type: ignore[arg-type]  # click.Choice(ROLES) took only a Role
                actor=Actor.rule("cli"),
                password=password,
                districts=districts,
            )
        except PeopleError as exc:
            raise click.ClickException(str(exc)) from None
        conn.commit()
    click.echo(f"person {person.id} added: {person.login} ({person.role})")
