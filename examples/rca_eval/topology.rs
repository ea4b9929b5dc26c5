//! The call graphs of the evaluation: Online Boutique and Sock Shop (the shops of the public
//! fault-injection sets) and a Train Ticket-like system of 40 services. Each service has a
//! runtime, because the runtime shapes its memory (a JVM heap saws, a database sits flat) and
//! its latency. Calls per request on each edge are fixed per topology.

use super::rng::Rng;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Runtime {
    Go,
    Java,
    Python,
    Node,
    DotNet,
    /// A database: memory flat (a buffer pool sized at start), no HTTP metrics.
    Database,
    /// A cache (Redis): memory grows with keys, no HTTP metrics.
    Cache,
    /// A message broker: no HTTP metrics.
    Queue,
    /// A background worker: consumes a queue, serves no requests.
    Worker,
}

impl Runtime {
    /// Whether the mesh sees it serve HTTP requests (latency, request and error counters).
    pub fn serves_http(self) -> bool {
        !matches!(
            self,
            Runtime::Database | Runtime::Cache | Runtime::Queue | Runtime::Worker
        )
    }
}

pub struct Service {
    pub name: &'static str,
    pub runtime: Runtime,
    /// `(index of the dependency, calls per request of this service)`.
    pub deps: Vec<(usize, f64)>,
}

pub struct Topology {
    pub name: &'static str,
    pub services: Vec<Service>,
    /// Nodes the pods run on; co-located pods share CPU.
    pub nodes: usize,
    /// Seconds between samples.
    pub step: f64,
    pub rows: usize,
    /// Entry requests per second at the front.
    pub entry_rps: f64,
    /// How the CSV names metrics: the shop sets' short names, or Prometheus names with counters.
    pub prometheus_names: bool,
}

type Spec = (&'static str, Runtime, &'static [&'static str]);

const ONLINE_BOUTIQUE: &[Spec] = &[
    (
        "frontend",
        Runtime::Go,
        &[
            "adservice",
            "cartservice",
            "checkoutservice",
            "currencyservice",
            "productcatalogservice",
            "recommendationservice",
            "shippingservice",
        ],
    ),
    (
        "checkoutservice",
        Runtime::Go,
        &[
            "cartservice",
            "currencyservice",
            "emailservice",
            "paymentservice",
            "productcatalogservice",
            "shippingservice",
        ],
    ),
    (
        "recommendationservice",
        Runtime::Python,
        &["productcatalogservice"],
    ),
    ("cartservice", Runtime::DotNet, &["redis-cart"]),
    ("productcatalogservice", Runtime::Go, &[]),
    ("currencyservice", Runtime::Node, &[]),
    ("paymentservice", Runtime::Node, &[]),
    ("shippingservice", Runtime::Go, &[]),
    ("emailservice", Runtime::Python, &[]),
    ("adservice", Runtime::Java, &[]),
    ("redis-cart", Runtime::Cache, &[]),
];

const SOCK_SHOP: &[Spec] = &[
    (
        "front-end",
        Runtime::Node,
        &["carts", "orders", "catalogue", "user"],
    ),
    (
        "orders",
        Runtime::Java,
        &["carts", "payment", "shipping", "user", "orders-db"],
    ),
    ("carts", Runtime::Java, &["carts-db"]),
    ("catalogue", Runtime::Go, &["catalogue-db"]),
    ("user", Runtime::Go, &["user-db"]),
    ("payment", Runtime::Go, &[]),
    ("shipping", Runtime::Java, &["rabbitmq"]),
    ("queue-master", Runtime::Worker, &["rabbitmq"]),
    ("rabbitmq", Runtime::Queue, &[]),
    ("carts-db", Runtime::Database, &[]),
    ("orders-db", Runtime::Database, &[]),
    ("catalogue-db", Runtime::Database, &[]),
    ("user-db", Runtime::Database, &[]),
];

const TRAIN_TICKET: &[Spec] = &[
    (
        "ts-ui-dashboard",
        Runtime::Node,
        &[
            "ts-auth-service",
            "ts-user-service",
            "ts-travel-service",
            "ts-travel2-service",
            "ts-preserve-service",
            "ts-preserve-other-service",
            "ts-order-service",
            "ts-order-other-service",
            "ts-cancel-service",
            "ts-rebook-service",
            "ts-execute-service",
            "ts-inside-payment-service",
            "ts-consign-service",
            "ts-food-service",
            "ts-contacts-service",
            "ts-travel-plan-service",
            "ts-station-service",
            "ts-admin-order-service",
            "ts-admin-travel-service",
            "ts-verification-code-service",
            "ts-voucher-service",
            "ts-avatar-service",
            "ts-news-service",
        ],
    ),
    (
        "ts-auth-service",
        Runtime::Java,
        &["ts-verification-code-service", "ts-user-mongo"],
    ),
    (
        "ts-user-service",
        Runtime::Java,
        &["ts-auth-service", "ts-user-mongo"],
    ),
    (
        "ts-travel-service",
        Runtime::Java,
        &[
            "ts-ticketinfo-service",
            "ts-train-service",
            "ts-route-service",
            "ts-order-service",
            "ts-seat-service",
            "ts-travel-mongo",
        ],
    ),
    (
        "ts-travel2-service",
        Runtime::Java,
        &[
            "ts-ticketinfo-service",
            "ts-train-service",
            "ts-route-service",
            "ts-order-other-service",
            "ts-seat-service",
            "ts-travel-mongo",
        ],
    ),
    (
        "ts-ticketinfo-service",
        Runtime::Java,
        &["ts-basic-service"],
    ),
    (
        "ts-basic-service",
        Runtime::Java,
        &[
            "ts-station-service",
            "ts-train-service",
            "ts-route-service",
            "ts-price-service",
        ],
    ),
    ("ts-station-service", Runtime::Java, &["ts-travel-mongo"]),
    ("ts-train-service", Runtime::Java, &["ts-travel-mongo"]),
    ("ts-route-service", Runtime::Java, &["ts-travel-mongo"]),
    ("ts-price-service", Runtime::Java, &["ts-travel-mongo"]),
    (
        "ts-seat-service",
        Runtime::Java,
        &[
            "ts-order-service",
            "ts-order-other-service",
            "ts-config-service",
        ],
    ),
    ("ts-config-service", Runtime::Java, &["ts-travel-mongo"]),
    (
        "ts-order-service",
        Runtime::Java,
        &["ts-station-service", "ts-order-mongo"],
    ),
    (
        "ts-order-other-service",
        Runtime::Java,
        &["ts-station-service", "ts-order-mongo"],
    ),
    (
        "ts-preserve-service",
        Runtime::Java,
        &[
            "ts-contacts-service",
            "ts-travel-service",
            "ts-security-service",
            "ts-seat-service",
            "ts-order-service",
            "ts-assurance-service",
            "ts-food-service",
            "ts-consign-service",
            "ts-user-service",
            "ts-notification-service",
            "ts-ticketinfo-service",
        ],
    ),
    (
        "ts-preserve-other-service",
        Runtime::Java,
        &[
            "ts-contacts-service",
            "ts-travel2-service",
            "ts-security-service",
            "ts-seat-service",
            "ts-order-other-service",
            "ts-assurance-service",
            "ts-food-service",
            "ts-consign-service",
            "ts-user-service",
            "ts-notification-service",
            "ts-ticketinfo-service",
        ],
    ),
    (
        "ts-security-service",
        Runtime::Java,
        &["ts-order-service", "ts-order-other-service"],
    ),
    ("ts-contacts-service", Runtime::Java, &["ts-user-mongo"]),
    ("ts-assurance-service", Runtime::Java, &["ts-order-mongo"]),
    (
        "ts-food-service",
        Runtime::Java,
        &[
            "ts-food-map-service",
            "ts-travel-service",
            "ts-station-service",
        ],
    ),
    ("ts-food-map-service", Runtime::Java, &["ts-travel-mongo"]),
    (
        "ts-consign-service",
        Runtime::Java,
        &["ts-consign-price-service", "ts-order-mongo"],
    ),
    (
        "ts-consign-price-service",
        Runtime::Java,
        &["ts-order-mongo"],
    ),
    ("ts-notification-service", Runtime::Java, &["ts-rabbitmq"]),
    (
        "ts-inside-payment-service",
        Runtime::Java,
        &[
            "ts-order-service",
            "ts-order-other-service",
            "ts-payment-service",
        ],
    ),
    ("ts-payment-service", Runtime::Java, &["ts-order-mongo"]),
    (
        "ts-execute-service",
        Runtime::Java,
        &["ts-order-service", "ts-order-other-service"],
    ),
    (
        "ts-cancel-service",
        Runtime::Java,
        &[
            "ts-order-service",
            "ts-order-other-service",
            "ts-inside-payment-service",
            "ts-user-service",
            "ts-notification-service",
        ],
    ),
    (
        "ts-rebook-service",
        Runtime::Java,
        &[
            "ts-order-service",
            "ts-order-other-service",
            "ts-travel-service",
            "ts-travel2-service",
            "ts-inside-payment-service",
            "ts-seat-service",
        ],
    ),
    (
        "ts-travel-plan-service",
        Runtime::Java,
        &[
            "ts-route-plan-service",
            "ts-travel-service",
            "ts-travel2-service",
            "ts-ticketinfo-service",
            "ts-seat-service",
        ],
    ),
    (
        "ts-route-plan-service",
        Runtime::Java,
        &[
            "ts-route-service",
            "ts-travel-service",
            "ts-travel2-service",
        ],
    ),
    (
        "ts-admin-order-service",
        Runtime::Java,
        &["ts-order-service", "ts-order-other-service"],
    ),
    (
        "ts-admin-travel-service",
        Runtime::Java,
        &["ts-travel-service", "ts-travel2-service"],
    ),
    ("ts-verification-code-service", Runtime::Java, &[]),
    ("ts-voucher-service", Runtime::Python, &["ts-order-service"]),
    ("ts-avatar-service", Runtime::Python, &[]),
    ("ts-news-service", Runtime::Go, &[]),
    ("ts-user-mongo", Runtime::Database, &[]),
    ("ts-travel-mongo", Runtime::Database, &[]),
    ("ts-order-mongo", Runtime::Database, &[]),
    ("ts-rabbitmq", Runtime::Queue, &[]),
];

fn build(
    name: &'static str,
    specs: &[Spec],
    nodes: usize,
    step: f64,
    rows: usize,
    entry_rps: f64,
    prometheus_names: bool,
) -> Topology {
    // Calls per request are a property of the application, not of a run: a fixed seed per
    // topology. The front fans out to pages that each user request visits only sometimes.
    let mut rng = Rng::new(
        name.bytes()
            .fold(7u64, |h, b| h.wrapping_mul(31).wrapping_add(u64::from(b))),
    );
    let index = |n: &str| {
        specs
            .iter()
            .position(|(s, _, _)| *s == n)
            .unwrap_or_else(|| panic!("{name}: unknown dependency {n}"))
    };
    let services = specs
        .iter()
        .enumerate()
        .map(|(i, (service, runtime, deps))| Service {
            name: service,
            runtime: *runtime,
            deps: deps
                .iter()
                .map(|d| {
                    let calls = if i == 0 && deps.len() > 5 {
                        rng.range(0.05, 0.5)
                    } else {
                        rng.range(0.5, 1.5)
                    };
                    (index(d), calls)
                })
                .collect(),
        })
        .collect();
    Topology {
        name,
        services,
        nodes,
        step,
        rows,
        entry_rps,
        prometheus_names,
    }
}

pub fn online_boutique() -> Topology {
    build("online-boutique", ONLINE_BOUTIQUE, 3, 1.0, 900, 40.0, false)
}

pub fn sock_shop() -> Topology {
    build("sock-shop", SOCK_SHOP, 3, 1.0, 900, 30.0, false)
}

pub fn train_ticket() -> Topology {
    build("train-ticket", TRAIN_TICKET, 6, 5.0, 360, 20.0, true)
}

impl Topology {
    /// Callers after what they call: a service's latency is known once its dependencies' are.
    pub fn bottom_up(&self) -> Vec<usize> {
        let n = self.services.len();
        let mut order = Vec::with_capacity(n);
        let mut state = vec![0u8; n];
        fn visit(t: &Topology, i: usize, state: &mut [u8], order: &mut Vec<usize>) {
            if state[i] != 0 {
                return;
            }
            state[i] = 1;
            for &(d, _) in &t.services[i].deps {
                visit(t, d, state, order);
            }
            state[i] = 2;
            order.push(i);
        }
        for i in 0..n {
            visit(self, i, &mut state, &mut order);
        }
        order
    }

    /// The catalog `healbot rca --graph` reads: names and `depends_on` only.
    pub fn catalog_yaml(&self) -> String {
        let mut out = String::from("services:\n");
        for s in &self.services {
            let deps: Vec<&str> = s.deps.iter().map(|&(d, _)| self.services[d].name).collect();
            out.push_str(&format!(
                "  - name: {}\n    depends_on: [{}]\n",
                s.name,
                deps.join(", ")
            ));
        }
        out
    }
}
