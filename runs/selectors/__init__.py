"""Reads behind the pages and the API, each scoped to one project: run lists (`runs`),
one run in detail (`detail`), error groups (`errors`), pipeline health (`health`) and
a run's stored events (`events`)."""
