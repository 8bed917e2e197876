import pytest

from tinystats import mean, median


def test_mean():
    assert mean([1, 2, 3, 4]) == 2.5


def test_median_even_and_odd():
    assert median([3, 1, 2]) == 2
    assert median([4, 1, 3, 2]) == 2.5


def test_empty_is_an_error():
    with pytest.raises(ValueError):
        mean([])
