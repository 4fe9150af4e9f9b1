def pytest_terminal_summary(terminalreporter):
    """The fault scenarios' table (tests/chaos/faults.py), once they have all run."""
    from tests.chaos.faults import TABLE, table

    if TABLE:
        terminalreporter.write_sep("=", "fault scenarios: every job accepted, and how it ended")
        terminalreporter.write_line(table())
