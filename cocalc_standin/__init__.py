"""A stand-in CoCalc server for running cocalc-api-tests end to end on any machine.

It answers CoCalc's HTTP bridge (``/api/conat/hub``, ``/api/conat/project``)
for every call the suite makes, keeps its data in PostgreSQL in CoCalc's own
tables, and runs projects as real directories and processes.  It is test
infrastructure (the ``standin`` extra), never a dependency of the suite.

    python -m cocalc_standin serve      # foreground, prints export lines
    python -m cocalc_standin run -v     # whole suite + leaked-row count

From Python, :class:`~cocalc_standin.launch.StandinEnvironment`.
"""
