"""Grafana dashboards for fitmon: reviewed JSON, provisioning files and a provisioning CLI."""
