"""What predictor refuses, field by field: the API answers these with a 400 that names each field."""


class FieldErrors(Exception):
    """A refusal naming what is wrong, by field: {"inputs[3].radius": ["Must be a finite number."]}."""

    def __init__(self, errors: dict[str, list[str]]):
        super().__init__(errors)
        self.errors = errors
