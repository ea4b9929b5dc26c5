//! One fault-injection run, written from the physics of the fault rather than from what a
//! ranking needs: request rates follow a closed-loop load generator, latency adds up along the
//! calls (callers wait on their dependencies), errors propagate through callers that retry or
//! fall back, CPU follows traffic, memory follows the runtime (a JVM heap saws, a database's
//! buffer pool sits flat and steps once), counters are cumulative, scrapes go missing, and
//! unrelated things happen: a batch job on a neighbour, a traffic burst, a pod restart.
//!
//! Frozen before any tuning of the ranking (README, "Root-cause analysis"; the commit that
//! added it has the baseline): change it only to fix a physical mistake, and say so with the
//! figures before and after.

use super::rng::Rng;
use super::topology::{Runtime, Topology};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Fault {
    /// stress-ng CPU workers in the container.
    Cpu,
    /// stress-ng memory or a leak.
    Memory,
    /// tc netem delay on the pod's interface.
    Latency,
    /// Injected exceptions (an abort in the mesh or the code).
    Error,
    /// tc netem packet loss.
    Loss,
}

pub const FAULTS: [Fault; 5] = [
    Fault::Cpu,
    Fault::Memory,
    Fault::Latency,
    Fault::Error,
    Fault::Loss,
];

impl Fault {
    pub fn name(self) -> &'static str {
        match self {
            Fault::Cpu => "cpu",
            Fault::Memory => "memory",
            Fault::Latency => "latency",
            Fault::Error => "error",
            Fault::Loss => "loss",
        }
    }
}

pub struct Case {
    pub seed: u64,
    pub topology: &'static str,
    pub root: String,
    pub fault: Fault,
    /// When the fault was injected (unix seconds).
    pub anomaly_start: f64,
    pub csv: String,
}

/// What a service is like in this run.
struct Params {
    own_ms: f64,
    tail90: f64,
    tail99: f64,
    cpu_idle: f64,
    cpu_per_rps: f64,
    cpu_limit: f64,
    mem_base: f64,
    mem_limit: f64,
    gc_period_s: f64,
    gc_amp: f64,
    gc_phase: f64,
    err0: f64,
    node: usize,
    req_bytes: f64,
    resp_bytes: f64,
    scrape_miss: f64,
    /// A database's buffer-pool step: (row, relative size).
    mem_step: Option<(usize, f64)>,
}

fn params(rng: &mut Rng, runtime: Runtime, nodes: usize, rows: usize) -> Params {
    let (own_ms, mem_mb, gc_amp) = match runtime {
        Runtime::Go => (
            rng.range(1.0, 8.0),
            rng.range(20.0, 90.0),
            rng.range(0.03, 0.10),
        ),
        Runtime::Java | Runtime::Worker => (
            rng.range(4.0, 25.0),
            rng.range(300.0, 900.0),
            rng.range(0.10, 0.35),
        ),
        Runtime::Python => (rng.range(8.0, 40.0), rng.range(60.0, 160.0), 0.0),
        Runtime::Node => (
            rng.range(2.0, 12.0),
            rng.range(60.0, 140.0),
            rng.range(0.04, 0.15),
        ),
        Runtime::DotNet => (
            rng.range(3.0, 15.0),
            rng.range(100.0, 250.0),
            rng.range(0.08, 0.2),
        ),
        Runtime::Database => (rng.range(0.5, 4.0), rng.range(200.0, 1200.0), 0.0),
        Runtime::Cache => (rng.range(0.2, 1.0), rng.range(8.0, 60.0), 0.0),
        Runtime::Queue => (rng.range(0.5, 3.0), rng.range(100.0, 220.0), 0.03),
    };
    let tail90 = rng.range(1.6, 3.5);
    let mem_step = (runtime == Runtime::Database && rng.chance(0.7))
        .then(|| (rng.below(rows), rng.range(0.04, 0.4)));
    Params {
        own_ms,
        tail90,
        tail99: tail90 * rng.range(1.5, 3.0),
        cpu_idle: rng.range(0.003, 0.04),
        // Part of a request's own time is spent on the CPU, the rest waiting on I/O.
        cpu_per_rps: own_ms / 1000.0 * rng.range(0.2, 0.6),
        // Set from the expected usage once the request rate is known.
        cpu_limit: 0.0,
        mem_base: mem_mb * 1024.0 * 1024.0,
        mem_limit: mem_mb * 1024.0 * 1024.0 * rng.range(1.6, 3.0),
        gc_period_s: rng.range(15.0, 120.0),
        gc_amp,
        gc_phase: rng.uniform(),
        err0: if rng.chance(0.5) {
            0.0
        } else {
            rng.range(0.0002, 0.01)
        },
        node: rng.below(nodes),
        req_bytes: rng.range(300.0, 3000.0),
        resp_bytes: rng.range(500.0, 20000.0),
        scrape_miss: rng.range(0.0, 0.02),
        mem_step,
    }
}

/// The fault's own effect on the root, as a function of seconds since injection.
struct Injection {
    fault: Fault,
    sev: f64,
    onset_s: f64,
    ramp_s: f64,
    /// CPU: cores of stress; Memory: bytes added; Latency: ms added; Error: added error rate;
    /// Loss: packet-loss share.
    size: f64,
    /// CPU: the root's own latency multiplier at full effect.
    slow: f64,
    /// Memory: a leak (linear growth) rather than one allocation.
    leak: bool,
}

impl Injection {
    fn active(&self, since_s: f64) -> f64 {
        if since_s < self.onset_s {
            0.0
        } else if self.ramp_s <= 0.0 {
            1.0
        } else {
            ((since_s - self.onset_s) / self.ramp_s).min(1.0)
        }
    }
}

/// A batch job, cron or backup on a service that is not the root.
struct Neighbour {
    service: usize,
    from: usize,
    to: usize,
    cores: f64,
    slow: f64,
}

pub fn generate(seed: u64, topology: &Topology, fault: Fault) -> Case {
    let mut rng = Rng::new(seed.wrapping_mul(0xA24B_AED4_963E_E407));
    let services = &topology.services;
    let n = services.len();
    let rows = topology.rows;
    let step = topology.step;
    // Faults are injected into what can have them: no exceptions in a database.
    let candidates: Vec<usize> = (0..n)
        .filter(|&i| fault != Fault::Error || services[i].runtime.serves_http())
        .filter(|&i| services[i].runtime != Runtime::Worker || fault != Fault::Latency)
        .collect();
    let root = candidates[rng.below(candidates.len())];
    let start = (rows as f64 * rng.range(0.55, 0.72)) as usize;
    let t0 = 1_700_000_000.0 + (seed % 10_000) as f64 * 100_000.0;
    let mut p: Vec<Params> = services
        .iter()
        .map(|s| params(&mut rng, s.runtime, topology.nodes, rows))
        .collect();

    // Calls: how many times each service is visited per entry request, and per edge the share
    // of the dependency's latency the caller waits for (parallel fan-out waits for less), the
    // share of dependency errors it passes on (retries and fallbacks absorb the rest) and the
    // lag before it shows.
    let order = topology.bottom_up();
    let mut visits = vec![0.0; n];
    visits[0] = 1.0;
    for &s in order.iter().rev() {
        if services[s].runtime == Runtime::Worker {
            continue;
        }
        for &(d, calls) in &services[s].deps {
            visits[d] += visits[s] * calls;
        }
    }
    for s in 0..n {
        if services[s].runtime == Runtime::Worker {
            visits[s] = services[s].deps.iter().map(|&(d, _)| visits[d]).sum();
        }
    }
    // Operators size a container's CPU limit at a few times its usual use, in quarter cores.
    for (ps, v) in p.iter_mut().zip(&visits) {
        let usual = ps.cpu_idle + ps.cpu_per_rps * topology.entry_rps * v;
        ps.cpu_limit = ((usual * rng.range(2.5, 6.0)) * 4.0).ceil().max(1.0) / 4.0;
    }
    let sev = rng.range(0.3, 1.0);
    let root_p = &p[root];
    let injection = Injection {
        fault,
        sev,
        onset_s: rng.range(0.0, 10.0),
        ramp_s: match fault {
            Fault::Memory => rng.range(10.0, 60.0),
            _ => rng.range(2.0, 30.0),
        },
        size: match fault {
            Fault::Cpu => root_p.cpu_limit * rng.range(0.5, 1.0) * sev,
            Fault::Memory => root_p.mem_base * rng.range(0.3, 2.0) * sev,
            Fault::Latency => rng.range(40.0, 400.0) * sev,
            Fault::Error => rng.range(0.05, 0.6) * sev,
            Fault::Loss => rng.range(0.05, 0.4) * sev,
        },
        slow: 1.0 + sev * rng.range(0.2, 3.0),
        leak: rng.chance(0.4),
    };
    let neighbour = rng.chance(0.6).then(|| {
        let others: Vec<usize> = (0..n).filter(|&i| i != root).collect();
        let service = others[rng.below(others.len())];
        let from = (rows as f64 * rng.range(0.1, 0.95)) as usize;
        let len = (rng.range(30.0, 240.0) / step) as usize;
        Neighbour {
            service,
            from,
            to: (from + len).min(rows),
            cores: p[service].cpu_limit * rng.range(0.2, 0.8),
            slow: rng.range(1.05, 1.6),
        }
    });
    // A traffic burst from users: everyone's rate and CPU rise together.
    let burst = rng.chance(0.3).then(|| {
        let from = (rows as f64 * rng.range(0.1, 0.95)) as usize;
        let len = (rng.range(30.0, 90.0) / step) as usize;
        (from, (from + len).min(rows), rng.range(0.2, 0.6))
    });
    // A scrape target down for a while (an exporter restart), on any service, the root too.
    let gap = rng.chance(0.3).then(|| {
        let from = (rows as f64 * rng.range(0.05, 0.95)) as usize;
        let len = (rng.range(20.0, 60.0) / step) as usize;
        (rng.below(n), from, (from + len).min(rows))
    });

    struct Edge {
        dep: usize,
        wait: f64,
        pass_errors: f64,
        lag: usize,
    }
    let edges: Vec<Vec<Edge>> = services
        .iter()
        .map(|s| {
            s.deps
                .iter()
                .map(|&(dep, calls)| Edge {
                    dep,
                    wait: calls * rng.range(0.4, 1.0),
                    pass_errors: calls.min(1.0) * rng.range(0.2, 0.9),
                    lag: (rng.range(0.0, 4.0) / step).round() as usize,
                })
                .collect()
        })
        .collect();
    let think_s = rng.range(0.5, 2.0);
    let diurnal_phase = rng.range(0.0, std::f64::consts::TAU);

    // The memory fault may end in an OOM kill: the pod restarts, its counters reset, it is
    // unreachable for a while and its metrics are missing.
    let mut latency = vec![vec![0.0; rows]; n];
    let mut tail_add = vec![vec![0.0; rows]; n];
    let mut errors = vec![vec![0.0; rows]; n];
    let mut down = vec![vec![false; rows]; n];
    let mut mem_fault = vec![0.0; rows];
    let mut restart_at = None;
    let outage = (rng.range(10.0, 30.0) / step).ceil() as usize;
    for t in 0..rows {
        let since = (t as f64 - start as f64) * step;
        let a = if since >= 0.0 {
            injection.active(since)
        } else {
            0.0
        };
        if injection.fault == Fault::Memory && a > 0.0 && restart_at.is_none() {
            let grown = if injection.leak {
                injection.size * ((since - injection.onset_s).max(0.0) / 240.0)
            } else {
                injection.size * a
            };
            mem_fault[t] = grown;
            if root_p.mem_base * (1.0 + root_p.gc_amp) + grown > root_p.mem_limit {
                restart_at = Some(t);
            }
        }
        if let Some(r) = restart_at {
            if t >= r && t < r + outage {
                down[root][t] = true;
            }
            if t >= r {
                mem_fault[t] = 0.0;
            }
        }
        for &s in &order {
            let ps = &p[s];
            let mut own = ps.own_ms * rng.lognormal(0.03);
            let mut own_tail = 0.0;
            let mut own_err = ps.err0;
            if let Some(nb) = &neighbour {
                if nb.service == s && t >= nb.from && t < nb.to {
                    own *= nb.slow;
                }
            }
            if s == root && a > 0.0 {
                match injection.fault {
                    Fault::Cpu => own *= 1.0 + (injection.slow - 1.0) * a,
                    Fault::Memory => {
                        // GC pressure and page reclaim slow a filling container a little.
                        let fill = mem_fault[t] / (ps.mem_limit - ps.mem_base).max(1.0);
                        own *= 1.0 + 0.5 * fill.min(1.0) * injection.sev;
                    }
                    Fault::Latency => own += injection.size * a,
                    Fault::Error => {
                        own_err += injection.size * a;
                        // Failing requests return early.
                        own *= 1.0 - 0.3 * injection.size * a;
                    }
                    Fault::Loss => {
                        // A lost segment costs a retransmission timeout (200 ms minimum) to
                        // the requests that meet it: the tail moves, the median a little.
                        own *= 1.0 + injection.size * a;
                        own_tail += 200.0 * (injection.size * 4.0).min(1.0) * a;
                        own_err += injection.size.powi(3) * a;
                    }
                }
            }
            // A CPU hog slows the pods that share its node.
            if injection.fault == Fault::Cpu && s != root && ps.node == root_p.node && a > 0.0 {
                own *= 1.0 + 0.15 * injection.sev * a;
            }
            let mut lat = own;
            let mut tail = own_tail;
            let mut err = own_err;
            for e in &edges[s] {
                let at = t.saturating_sub(e.lag);
                lat += e.wait * latency[e.dep][at];
                tail += e.wait.min(1.0) * tail_add[e.dep][at];
                let dep_err = if down[e.dep][at] {
                    1.0
                } else {
                    (errors[e.dep][at] - p[e.dep].err0).max(0.0)
                };
                err += e.pass_errors * dep_err;
            }
            latency[s][t] = lat;
            tail_add[s][t] = tail;
            errors[s][t] = err.min(1.0);
        }
    }

    // Closed-loop users: a slower front page means fewer requests per second for everyone.
    let front0 = latency[0][..start].iter().sum::<f64>() / start as f64;
    let entry: Vec<f64> = (0..rows)
        .map(|t| {
            let time = t as f64 * step;
            let diurnal = 1.0 + 0.1 * (std::f64::consts::TAU * time / 3600.0 + diurnal_phase).sin();
            let burst = burst.map_or(0.0, |(a, b, x)| if t >= a && t < b { x } else { 0.0 });
            let waiting = (think_s + front0 / 1000.0) / (think_s + latency[0][t] / 1000.0);
            topology.entry_rps * diurnal * (1.0 + burst) * waiting
        })
        .collect();

    let mut columns: Vec<String> = Vec::new();
    let mut values: Vec<Vec<Option<f64>>> = Vec::new();
    for s in 0..n {
        let ps = &p[s];
        let svc = &services[s];
        let name = svc.name;
        let (mut cpu_total, mut req_total, mut err_total, mut rx_total, mut tx_total) = (
            rng.range(100.0, 5000.0),
            rng.range(1e3, 1e6),
            0.0,
            rng.range(1e6, 1e9),
            rng.range(1e6, 1e9),
        );
        err_total += (req_total * ps.err0).round();
        let mut cols: Vec<(String, Vec<Option<f64>>)> = Vec::new();
        let mut cpu_col = Vec::with_capacity(rows);
        let mut mem_col = Vec::with_capacity(rows);
        let mut p50_col = Vec::with_capacity(rows);
        let mut ptail_col = Vec::with_capacity(rows);
        let mut req_col = Vec::with_capacity(rows);
        let mut err_col = Vec::with_capacity(rows);
        let mut rx_col = Vec::with_capacity(rows);
        let mut tx_col = Vec::with_capacity(rows);
        let mut cache_keys = 0.0;
        for t in 0..rows {
            let time = t as f64 * step;
            let since = (t as f64 - start as f64) * step;
            let a = if since >= 0.0 && s == root {
                injection.active(since)
            } else {
                0.0
            };
            let is_down = down[s][t];
            if s == root && restart_at == Some(t) {
                // The restarted container's counters begin again from zero.
                cpu_total = 0.0;
                req_total = 0.0;
                err_total = 0.0;
                rx_total = 0.0;
                tx_total = 0.0;
            }
            let rps = if is_down { 0.0 } else { entry[t] * visits[s] };
            // CPU follows the work, plus GC, plus whatever else runs in the container.
            let mut cpu =
                (ps.cpu_idle + ps.cpu_per_rps * rps * rng.lognormal(0.05)) * rng.lognormal(0.06);
            let gc_phase = (time / ps.gc_period_s + ps.gc_phase).fract();
            if ps.gc_amp > 0.0 && gc_phase < step / ps.gc_period_s {
                // A collection costs CPU in proportion to the heap it walks (about 0.1-0.3 ms
                // of CPU per MiB), spread over the sample.
                cpu += ps.mem_base / 1_048_576.0 * rng.range(0.1, 0.3) / 1000.0 / step;
            }
            if let Some(nb) = &neighbour {
                if nb.service == s && t >= nb.from && t < nb.to {
                    cpu += nb.cores * rng.lognormal(0.1);
                }
            }
            if a > 0.0 {
                match injection.fault {
                    Fault::Cpu => cpu += injection.size * a * rng.lognormal(0.05),
                    Fault::Memory
                        if matches!(svc.runtime, Runtime::Java | Runtime::DotNet | Runtime::Go) =>
                    {
                        cpu += 0.1 * ps.cpu_limit * injection.sev * a
                    }
                    Fault::Loss => cpu *= 1.0 + 0.1 * a,
                    _ => {}
                }
            }
            let cpu = if is_down { 0.0 } else { cpu.min(ps.cpu_limit) };
            cpu_total += cpu * step;

            // Memory by runtime.
            let sawtooth = (time * (rps / (entry[0] * visits[s]).max(1e-9)).clamp(0.5, 2.0)
                / ps.gc_period_s
                + ps.gc_phase)
                .fract();
            let mut mem = match svc.runtime {
                Runtime::Database => {
                    let stepped = ps
                        .mem_step
                        .map_or(0.0, |(r, x)| if t >= r { x } else { 0.0 });
                    // The buffer pool is sized once: flat to the MiB, until it grows once.
                    (ps.mem_base * (1.0 + stepped) / 1_048_576.0).round() * 1_048_576.0
                }
                Runtime::Cache => {
                    cache_keys += rps * step;
                    ps.mem_base * (1.0 + 0.05 * (1.0 + cache_keys / 1e5).ln())
                }
                Runtime::Python => {
                    ps.mem_base * (1.0 + 0.02 * time / 3600.0) + 4096.0 * rng.below(8) as f64
                }
                Runtime::Queue => ps.mem_base * rng.lognormal(0.02),
                _ => ps.mem_base * (1.0 + ps.gc_amp * sawtooth) * rng.lognormal(0.005),
            };
            if s == root {
                mem += mem_fault[t];
            }
            let mem = (mem / 4096.0).round() * 4096.0;

            // Latency percentiles: fewer requests, noisier percentiles; the tail is heavy.
            let noise = 0.03 + 0.5 / (rps * step).max(1.0).sqrt();
            let p50 = latency[s][t] * rng.lognormal(noise);
            let mut ptail = latency[s][t]
                * if topology.prometheus_names {
                    ps.tail99
                } else {
                    ps.tail90
                }
                * rng.lognormal(2.0 * noise)
                + tail_add[s][t] * rng.lognormal(0.2);
            if rng.chance(0.01) {
                ptail *= rng.pareto(1.5);
            }
            let reqs = rng.poisson(rps * step);
            req_total += reqs;
            err_total += rng.poisson(rps * step * errors[s][t]).min(reqs);
            let retransmit = if a > 0.0 && injection.fault == Fault::Loss {
                1.0 + injection.size * a
            } else {
                1.0
            };
            rx_total += reqs * ps.req_bytes * rng.lognormal(0.1);
            tx_total += reqs * ps.resp_bytes * rng.lognormal(0.1) * retransmit;

            let missing = is_down
                || rng.chance(ps.scrape_miss)
                || gap.is_some_and(|(g, a, b)| g == s && t >= a && t < b);
            let keep = |x: f64| (!missing).then_some(x);
            // Prometheus histograms are in seconds; the shop sets keep milliseconds.
            let unit = if topology.prometheus_names {
                0.001
            } else {
                1.0
            };
            cpu_col.push(keep(if topology.prometheus_names {
                cpu_total
            } else {
                cpu
            }));
            mem_col.push(keep(mem));
            p50_col.push(keep(p50 * unit));
            ptail_col.push(keep(ptail * unit));
            req_col.push(keep(req_total));
            err_col.push(keep(err_total));
            rx_col.push(keep(rx_total.round()));
            tx_col.push(keep(tx_total.round()));
        }
        let prom = topology.prometheus_names;
        cols.push((
            if prom {
                "container_cpu_usage_seconds_total"
            } else {
                "cpu"
            }
            .into(),
            cpu_col,
        ));
        cols.push((
            if prom {
                "container_memory_working_set_bytes"
            } else {
                "mem"
            }
            .into(),
            mem_col,
        ));
        if svc.runtime.serves_http() {
            cols.push((
                if prom {
                    "request_duration_seconds_p50"
                } else {
                    "latency-50"
                }
                .into(),
                p50_col,
            ));
            cols.push((
                if prom {
                    "request_duration_seconds_p99"
                } else {
                    "latency-90"
                }
                .into(),
                ptail_col,
            ));
            cols.push(("requests_total".into(), req_col));
            cols.push((
                if prom {
                    "request_errors_total"
                } else {
                    "errors_total"
                }
                .into(),
                err_col,
            ));
        }
        cols.push((
            if prom {
                "container_network_receive_bytes_total"
            } else {
                "net_rx_bytes_total"
            }
            .into(),
            rx_col,
        ));
        cols.push((
            if prom {
                "container_network_transmit_bytes_total"
            } else {
                "net_tx_bytes_total"
            }
            .into(),
            tx_col,
        ));
        for (metric, col) in cols {
            columns.push(format!("{name}_{metric}"));
            values.push(col);
        }
    }

    let mut csv = String::from("time");
    for c in &columns {
        csv.push(',');
        csv.push_str(c);
    }
    csv.push('\n');
    for t in 0..rows {
        csv.push_str(&format!("{}", t0 + t as f64 * step));
        for col in &values {
            match col[t] {
                Some(x) => csv.push_str(&format!(",{}", format_value(x))),
                // Exporters and CSV writers disagree on how to say "no sample".
                None if t % 2 == 0 => csv.push(','),
                None => csv.push_str(",NaN"),
            }
        }
        csv.push('\n');
    }
    Case {
        seed,
        topology: topology.name,
        root: services[root].name.to_string(),
        fault,
        anomaly_start: t0 + start as f64 * step,
        csv,
    }
}

fn format_value(x: f64) -> String {
    if x.fract() == 0.0 && x.abs() < 1e15 {
        format!("{x:.0}")
    } else {
        format!("{x:.6}")
    }
}
