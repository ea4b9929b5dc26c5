from shop.orders import load_order
load_order('{"qty": 2}')
