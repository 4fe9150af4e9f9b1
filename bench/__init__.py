"""`make bench` (bench/run.py) and `make fuzz` (bench/fuzz.py)."""
