from shop.orders import price
print(price({"sku": "x", "qty": 3}, {}))
