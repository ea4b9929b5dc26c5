import json
import logging

log = logging.getLogger("shop.orders")


def parse_order(raw):
    data = json.loads(raw)
    return {"sku": data["sku"], "qty": int(data["qty"])}


def load_order(raw):
    try:
        return parse_order(raw)
    except KeyError as e:
        raise ValueError(f"order is missing {e}") from e


def price(order, prices):
    try:
        return prices[order["sku"]] * order["qty"]
    except KeyError:
        return order["qty"] / len(prices)


def average(totals):
    return sum(totals) / len(totals)
