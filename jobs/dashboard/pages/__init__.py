"""One module per view; each calls ``dash.register_page`` when :func:`jobs.dashboard.app.create_app` imports it."""
