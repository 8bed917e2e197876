def mean(values):
    """The arithmetic mean of a non-empty sequence."""
    values = list(values)
    if not values:
        raise ValueError('mean of nothing')
    return sum(values) / len(values)


def median(values):
    """The middle value (the mean of the two middle ones for an even count)."""
    values = sorted(values)
    if not values:
        raise ValueError('median of nothing')
    mid = len(values) // 2
    return values[mid] if len(values) % 2 else (values[mid - 1] + values[mid]) / 2
