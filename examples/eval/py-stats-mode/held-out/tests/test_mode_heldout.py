import pytest

from tinystats import mode


def test_heldout_strings_and_ties():
    assert mode(['b', 'a', 'b', 'a', 'c']) == 'a'
    assert mode([7]) == 7


def test_heldout_generator_input():
    assert mode(x % 3 for x in range(10)) == 0


def test_heldout_empty():
    with pytest.raises(ValueError):
        mode(iter([]))
