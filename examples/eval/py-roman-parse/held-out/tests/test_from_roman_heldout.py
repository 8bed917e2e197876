import pytest

from roman import from_roman, to_roman


def test_heldout_round_trip():
    for n in [1, 9, 40, 444, 1999, 3999]:
        assert from_roman(to_roman(n)) == n


def test_heldout_refuses_garbage():
    for text in ['ABC', 'MMMM', 'IC']:
        with pytest.raises(ValueError):
            from_roman(text)
