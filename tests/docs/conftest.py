def pytest_terminal_summary(terminalreporter):
    """Say how many documentation snippets ran and which were marked not-run, and why."""
    from tests.docs.test_snippets import not_run_report
    terminalreporter.write_line(not_run_report())
