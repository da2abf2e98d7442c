"""Database access for fitmon: connections, migrations, embedded server, shared SQL."""
