"""Price statistics for the catalog pages."""


def average_price(prices):
    total = sum(prices)
    return total / len(prices)
