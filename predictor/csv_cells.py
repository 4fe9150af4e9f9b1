"""Cells of every CSV the platform writes for people to download, safe to open in a spreadsheet.

Excel, LibreOffice Calc and Google Sheets run a cell that starts with `=`, `+`, `-` or `@`
as a formula, so a stored string such as `=HYPERLINK("http://evil","x")` would run on the
machine of whoever opens the export (OWASP, "CSV Injection"). OWASP's fix is used: such a
cell gets a leading `'`, which spreadsheets take as "this is text" and do not show.

Every CSV writer of the platform (the web's downloads in api/, the batch results in
predictor/batch_score.py) goes through `writer()`, so a new download is safe by default.
"""

import csv
import re

# The first characters OWASP "CSV Injection" names as starting a formula.
FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")

# A plain decimal number: `-1.5`, `+3`, `-1e-05`. Stays as it is, or a negative number would
# turn into text in the spreadsheet. Strict on purpose (ASCII digits only, no spaces, no
# `inf`/`nan`): a spreadsheet reads these as numbers, anything else after a `-` is a formula.
_NUMBER = re.compile(r"[+-]?(?:[0-9]+\.?[0-9]*|\.[0-9]+)(?:[eE][+-]?[0-9]+)?")


def cell(value):
    """The value as a spreadsheet should show it: as it is, or as text with a `'` before it
    if it would otherwise be read as a formula. Numbers, None and safe values come back
    unchanged, so the csv module writes them as before."""
    if value is None:
        return value
    text = value if isinstance(value, str) else str(value)
    # Spaces before a formula do not always stop it: an import that trims cells (LibreOffice's
    # "Trim spaces") finds the formula behind them.
    starts = text[:1] in FORMULA_STARTS or text.lstrip()[:1] in FORMULA_STARTS
    if not starts or _NUMBER.fullmatch(text):
        return value
    return "'" + text


class _Writer:
    def __init__(self, out, **options):
        # Every text cell is quoted, numbers are not: quotes keep a separator inside a value
        # (`;`, the list separator of many locales, which the csv module would leave bare)
        # from starting a new cell there with a formula in it, as OWASP "CSV Injection" warns.
        self._writer = csv.writer(out, **{"quoting": csv.QUOTE_NONNUMERIC, **options})

    def writerow(self, row):
        # Returns what `out.write` returns, so a streamed response can yield each line.
        return self._writer.writerow([cell(value) for value in row])

    def writerows(self, rows):
        for row in rows:
            self.writerow(row)


def writer(out, **options) -> _Writer:
    """A csv.writer onto `out` (same `options`) whose rows are made safe, cell by cell."""
    return _Writer(out, **options)
