package com.acme.orders;

import java.util.HashMap;
import java.util.List;

public class Main {
    public static void main(String[] args) {
        if (args.length > 0 && args[0].equals("index")) {
            System.out.println(OrderService.second(List.of(1)));
        }
        OrderService s = new OrderService(new HashMap<>());
        s.place("o-17");
    }
}
