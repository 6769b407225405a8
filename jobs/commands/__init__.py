"""Command-line tools around the models and the lake (``emodrift train|eval|score-*``,
``backfill``, ``summary``). The Spark stages the DAG submits stay in ``jobs/`` itself."""
