"""Batches as CSV for the pages: rows read from a file or pasted text, with every problem
named by its line and column, and results written back as CSV.

Line numbers are the file's own, as a spreadsheet shows them: line 1 is the header.
"""

import csv
import io
import re

from predictor import csv_cells
from predictor.batch_score import warnings_text
from predictor.tabular import cell_value

# A batch file is read whole: 1,000 rows of 30 features is about 250 KB.
MAX_BATCH_BYTES = 2 * 1024 * 1024
# A refused batch is shown again for correction up to this size.
MAX_ECHO_CHARS = 200_000
# Past this many, the rest of the problems are counted, not listed.
MAX_ERRORS_LISTED = 20


def batch_text(upload, pasted: str) -> tuple[str, str | None]:
    """The CSV text of a chosen file, else of the pasted rows; or a reason it has none."""
    if upload is not None:
        if upload.size > MAX_BATCH_BYTES:
            return "", f"The file is {upload.size:,} bytes; at most {MAX_BATCH_BYTES:,} are read."
        try:
            return upload.read().decode("utf-8-sig"), None
        except UnicodeDecodeError:
            return "", "The file is not UTF-8 text; save it as CSV (UTF-8)."
    if len(pasted) > MAX_BATCH_BYTES:
        return "", f"The rows are {len(pasted):,} characters; at most {MAX_BATCH_BYTES:,} are read."
    if not pasted.strip():
        return "", "Choose a CSV file or paste rows, with a header line of feature names first."
    return pasted, None


def batch_rows(text: str, schema: list[dict], *, max_rows: int) -> tuple[list[dict], list[int], list[str]]:
    """Rows keyed by feature name, each cell typed by the model's feature schema (numbers
    as floats, booleans as bools, categories as text, missing cells as None), and the line
    of each; or the problems found, each naming its place."""
    features = {feature["name"]: feature for feature in schema}
    reader = csv.reader(io.StringIO(text))
    errors: list[str] = []
    header: list[str] | None = None
    rows: list[dict] = []
    lines: list[int] = []
    try:
        for cells in reader:
            if not any(cell.strip() for cell in cells):
                continue  # blank lines are skipped, as spreadsheets write them
            line = reader.line_num
            if header is None:
                header = [cell.strip() for cell in cells]
                errors += _header_errors(header, list(features), line)
                if errors:
                    return [], [], errors
                continue
            if len(rows) == max_rows:
                return [], [], [f"At most {max_rows:,} rows per batch; line {line} is row {max_rows + 1:,}."]
            if len(cells) != len(header):
                errors.append(f"Line {line}: {len(cells)} cells, but the header has {len(header)}.")
                continue
            row = {}
            for name, cell in zip(header, cells, strict=True):
                value, problem = cell_value(features[name], cell)
                if problem:
                    errors.append(f"Line {line}, column {name}: {problem}")
                row[name] = value
            rows.append(row)
            lines.append(line)
    except csv.Error as exc:
        return [], [], [f"Line {reader.line_num}: not readable as CSV ({exc})."]
    if header is None:
        return [], [], ["The CSV is empty; its first line must name the features."]
    if not rows and not errors:
        return [], [], ["The CSV has a header but no rows."]
    if len(errors) > MAX_ERRORS_LISTED:
        errors = [*errors[:MAX_ERRORS_LISTED], f"... and {len(errors) - MAX_ERRORS_LISTED} more problems."]
    return (rows, lines, []) if not errors else ([], [], errors)


def _header_errors(header: list[str], names: list[str], line: int) -> list[str]:
    errors = []
    seen = set()
    for name in header:
        if name in seen:
            errors.append(f"Line {line} (header): column {name} appears twice.")
        seen.add(name)
    unknown = [name for name in header if name not in names]
    missing = [name for name in names if name not in seen]
    if unknown:
        errors.append(f"Line {line} (header): not features of this model: {', '.join(unknown)}.")
    if missing:
        errors.append(f"Line {line} (header): missing features: {', '.join(missing)}.")
    return errors


_ROW_PATH = re.compile(r"^inputs\[(\d+)\](?:\.(.+))?$")


def batch_errors_named(errors: dict[str, list[str]], lines: list[int]) -> list[str]:
    """The submit's own errors (`inputs[3].x`, as the API words them) by line and column,
    `lines` giving each row's line; the rest (`inputs`: too many rows...) as they are."""
    named = []
    for path, messages in errors.items():
        where = "Batch"
        if match := _ROW_PATH.match(path):
            index, column = int(match.group(1)), match.group(2)
            where = f"Line {lines[index] if index < len(lines) else index + 2}"
            where += f", column {column}" if column else ""
        named += [f"{where}: {message}" for message in messages]
    return named


def results_csv(out, inputs: list[dict], outputs: list[dict]) -> None:
    """Each row's features, then its result: `label` and `p_<class>` for a classifier,
    `value` for a regressor; then `warnings` (categories not seen in training) when a row
    has any. Booleans are written true/false, a missing value as an empty cell."""
    writer = csv_cells.writer(out)
    features = list(inputs[0]) if inputs else []
    classes = list((outputs[0] or {}).get("probabilities") or {}) if outputs else []
    result = ["label", *[f"p_{name}" for name in classes]] if classes else ["value"]
    warned = any((output or {}).get("warnings") for output in outputs)
    writer.writerow(["row", *features, *result, *(["warnings"] if warned else [])])
    for number, (row, output) in enumerate(zip(inputs, outputs, strict=True), start=1):
        output = output or {}
        if classes:
            probabilities = output.get("probabilities") or {}
            tail = [output.get("label"), *[probabilities.get(name) for name in classes]]
        else:
            tail = [output.get("value")]
        if warned:
            tail.append(warnings_text(output))
        writer.writerow([number, *[_cell(row[name]) for name in features], *tail])


def _cell(value):
    return ("true" if value else "false") if isinstance(value, bool) else value
