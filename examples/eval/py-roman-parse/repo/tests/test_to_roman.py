import pytest

from roman import to_roman


def test_small_numbers():
    assert to_roman(4) == 'IV'
    assert to_roman(14) == 'XIV'


def test_refuses_zero():
    with pytest.raises(ValueError):
        to_roman(0)
