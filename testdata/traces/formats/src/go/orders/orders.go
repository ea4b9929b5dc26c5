package orders

type Order struct {
	Items []string
	Notes map[string]string
}

func First(o *Order) string {
	return o.Items[0]
}

func Note(o *Order, k string) {
	o.Notes[k] = "x"
}
