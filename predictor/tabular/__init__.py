"""Users' CSV tables: checked, profiled and loaded typed, as pure functions of their bytes.

profile_csv(stream, limits=...) reads the bytes once, streaming, and returns a Profile (the
rows, each column's type and summary, a typed preview) or raises CSVRefused (a 400) or
CSVTooLarge (a 413) naming what is wrong and, where there is one, the line. load_frame reads
the same bytes again into a pandas DataFrame typed as the profile says. Both go in chunks of
50,000 rows, so memory stays bounded whatever the file's size.

The rules:

- Encoding: UTF-8, with or without a byte order mark (stripped; Profile.encoding says
  "utf-8-sig" then). Anything else is refused with the line and byte of the first byte that
  is not UTF-8: a Latin-1 "café" is refused, never read garbled. UTF-16 text and Excel
  workbooks are told apart by their first bytes and refused as such.
- Lines end in \\n, \\r\\n or \\r. A line over 4 M characters is refused (no CSV at all).
- Delimiter: one of , ; tab |, the one that splits the first 64 KB's records most
  consistently into as many fields as the header has (then: into the most fields); "," when
  none splits the header, i.e. a one-column file. Quotes are '"', doubled inside a quoted
  field; quoted fields may hold delimiters and line breaks. A quote that never closes, text
  after a closing quote, or a field over the csv module's 131,072 characters (an unclosed
  quote, usually) is refused with the line.
- Header: the first record that is not blank. Names are stripped of surrounding whitespace;
  an empty name (naming the column number) or a name used twice (naming both columns) is
  refused. Names that look like numbers are names.
- Rows: every later record. A blank line (or one of whitespace only) is skipped, not a row;
  so, in a one-column file, is an empty cell's line. A record with more or fewer fields than
  the header is refused naming the line it starts on and both counts. No data rows, or no
  record at all ("The file is empty."), is refused.
- Limits: bytes (up front when the stream can tell its size, else while reading), data rows
  and header columns over Limits are refused with CSVTooLarge naming the limit and, when
  known, the actual figure. max_categories bounds counting (below).
- Missing: a cell that, stripped of surrounding whitespace, is empty or one of NA, N/A, NaN,
  null, None, #N/A, ? in any case (so "na", "NULL", "n/a", "nan"...).
- Types, over a column's cells that are not missing: "boolean" when every one is one of
  true/false, yes/no, t/f, y/n in any case (true, yes, t, y are True); else "number" when
  every one parses as a finite float (decimal point, optional exponent; "inf", "1e999",
  "1,5" and "1_000" do not, so such a column is a category; "0"/"1" columns are numbers);
  else "category", holding the stripped text. A column missing on every row is a "number"
  with missing == rows: no type can be read from it, and callers drop it as a feature.

The Profile's columns, one per header column in file order, JSON-ready:
{"name", "type", "missing": count of missing cells,
 "distinct": distinct values present, or None past Limits.max_categories,
 "values": [[value, count], ...] for every distinct value, most frequent first then by value,
           when distinct <= 100, else None; values typed (float, bool or str) and exact,
 "top": the 10 most frequent [value, count] pairs,
 numbers only: "min", "max", "mean" (rounded to 6 significant digits; None when no value),
 "integers" (every value whole; True for a column with no value),
 "histogram": {"edges": 11 floats (rounded as above), "counts": 10 ints, "sampled": bool},
              10 equal-width bins over [min, max] (numpy's [v - 0.5, v + 0.5] for a
              constant column), None when no value}.
Counting stays bounded: a column counts at most max(max_categories, 1000) distinct values
exactly; past that, only the most frequent are kept after each chunk, so "top" is then
approximate (counts are lower bounds). A histogram over more than 10,000 values is binned
from a seeded uniform sample of 10,000 of them, its counts scaled to the number of values
("sampled": true).
"""

from .cells import BOOLEAN, CATEGORY, NUMBER, cell_missing, cell_value
from .loading import load_frame
from .profiling import Profile, profile_csv
from .reading import CSVRefused, CSVTooLarge, Limits
