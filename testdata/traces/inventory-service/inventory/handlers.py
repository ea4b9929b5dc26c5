"""HTTP handlers of the inventory service."""

from inventory.client import fetch_stock
from inventory.stats import average_price


def handle_stock(request):
    sku = request["sku"]
    return {"sku": sku, "available": fetch_stock(sku)}


def handle_prices(request):
    prices = [item["price"] for item in request["items"]]
    return {"average": average_price(prices)}
