from rest_framework.exceptions import ParseError
from rest_framework.parsers import BaseParser

# A CSV upload is parsed whole in memory; 10 MB is ~10,000 rows of 30 features with room.
MAX_CSV_BYTES = 10 * 1024 * 1024


class CSVTextParser(BaseParser):
    """text/csv bodies arrive as text; the service reads the rows and names bad lines."""

    media_type = "text/csv"

    def parse(self, stream, media_type=None, parser_context=None):
        data = stream.read(MAX_CSV_BYTES + 1) if stream else b""
        if len(data) > MAX_CSV_BYTES:
            raise ParseError(f"A CSV upload may be at most {MAX_CSV_BYTES // (1024 * 1024)} MB.")
        try:
            return data.decode("utf-8-sig")
        except UnicodeDecodeError as exc:
            raise ParseError(f"CSV must be UTF-8: {exc}") from None
