"""placeholder"""


def clear() -> None:
    pass
