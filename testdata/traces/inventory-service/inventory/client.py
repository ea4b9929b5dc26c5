"""Talks to the stock service."""

import requests

STOCK_URL = "http://127.0.0.1:9/stock"


def fetch_stock(sku):
    response = requests.get(f"{STOCK_URL}/{sku}")
    return response.json()["available"]
