package com.acme.orders;

import java.util.List;
import java.util.Map;

public class OrderService {
    private final Map<String, Customer> customers;

    public OrderService(Map<String, Customer> customers) {
        this.customers = customers;
    }

    static class Customer {
        String email;
        Customer(String email) { this.email = email; }
        String getEmail() { return email; }
    }

    String domain(String id) {
        Customer c = customers.get(id);
        return c.getEmail().split("@")[1];
    }

    void place(String id) {
        try {
            notify(id);
        } catch (RuntimeException e) {
            throw new IllegalStateException("cannot place order " + id, e);
        }
    }

    void notify(String id) {
        String d = domain(id);
        System.out.println(d);
    }

    static int second(List<Integer> xs) {
        return xs.get(1);
    }
}
