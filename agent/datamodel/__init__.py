"""The data model as data: the line protocol every point is written in, and the tables of
measurements, tags and fields that the probes, the docs and the importer all read."""
