"""esjax's tests, one folder per concept; test_layout.py and test_pinned.py guard the package."""
