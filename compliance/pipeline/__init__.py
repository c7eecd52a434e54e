"""Pipelines: catalogue ingest and upload scans."""
