package main

import (
	"fmt"
	"os"
	"sync"
	"time"

	"example.com/shop/orders"
)

func worker(id int, wg *sync.WaitGroup, ch chan int) {
	defer wg.Done()
	for range ch {
	}
}

func main() {
	var wg sync.WaitGroup
	ch := make(chan int)
	for i := 0; i < 3; i++ {
		wg.Add(1)
		go worker(i, &wg, ch)
	}
	time.Sleep(10 * time.Millisecond)
	mode := "index"
	if len(os.Args) > 1 {
		mode = os.Args[1]
	}
	done := make(chan bool)
	go func() {
		switch mode {
		case "index":
			fmt.Println(orders.First(&orders.Order{}))
		case "nilmap":
			orders.Note(&orders.Order{}, "a")
		case "nil":
			var o *orders.Order
			fmt.Println(orders.First(o))
		}
		done <- true
	}()
	<-done
}
