"""Application services: what the API, the CLI and the maps ask for, built from the stores and
the domain (coverage analyses, dynamic grades, the practitioners registry, imports and feeds,
the demo city, import reports).

They know nothing of HTTP or of the command line: a service takes settings, stores and plain
values and returns domain objects or reports, so the API and the CLI cannot drift apart.
"""
