//! The metrics `healbot rca` reads: a wide CSV with a `time` column (unix seconds) and one
//! `<service>_<metric>` column per series, as fault-injection data sets publish them and as
//! [`crate::rca::labels`] builds from Prometheus. Cells that are empty, `NaN` or not numbers
//! are missing samples, not errors: scrapes fail.

use crate::topology::DependencyGraph;
use regex::Regex;
use std::sync::OnceLock;

/// A wide table of samples: `values[column][row]`, NaN where a sample is missing.
#[derive(Debug, Clone, PartialEq)]
pub struct MetricTable {
    pub times: Vec<f64>,
    pub columns: Vec<String>,
    pub values: Vec<Vec<f64>>,
}

#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum TableError {
    #[error("{file}: line {line}: {message}")]
    Csv {
        file: String,
        line: usize,
        message: String,
    },
}

impl MetricTable {
    /// Parses the CSV; `file` names it in errors. Rows must be in time order.
    pub fn parse_csv(text: &str, file: &str) -> Result<MetricTable, TableError> {
        let err = |line: usize, message: String| TableError::Csv {
            file: file.to_string(),
            line,
            message,
        };
        let mut lines = text
            .lines()
            .enumerate()
            .filter(|(_, l)| !l.trim().is_empty());
        let Some((_, header)) = lines.next() else {
            return Err(err(
                1,
                "empty file: expected a header `time,<service>_<metric>,…`".into(),
            ));
        };
        let header: Vec<String> = header
            .split(',')
            .map(|c| c.trim().trim_matches('"').to_string())
            .collect();
        if !matches!(
            header.first().map(String::as_str),
            Some("time" | "timestamp")
        ) {
            return Err(err(
                1,
                format!("the first column must be `time`, got {:?}", header[0]),
            ));
        }
        if header.len() < 2 {
            return Err(err(1, "no metric columns after `time`".into()));
        }
        let columns = header[1..].to_vec();
        let mut times: Vec<f64> = Vec::new();
        let mut values = vec![Vec::new(); columns.len()];
        for (index, line) in lines {
            let cells: Vec<&str> = line
                .split(',')
                .map(|c| c.trim().trim_matches('"'))
                .collect();
            if cells.len() != header.len() {
                return Err(err(
                    index + 1,
                    format!("{} cells, the header has {}", cells.len(), header.len()),
                ));
            }
            let time: f64 = cells[0]
                .parse()
                .ok()
                .filter(|t: &f64| t.is_finite())
                .ok_or_else(|| err(index + 1, format!("time {:?} is not a number", cells[0])))?;
            if times.last().is_some_and(|&last| time <= last) {
                return Err(err(
                    index + 1,
                    format!("time {time} is not after the row before it"),
                ));
            }
            times.push(time);
            for (column, cell) in values.iter_mut().zip(&cells[1..]) {
                column.push(cell.parse().unwrap_or(f64::NAN));
            }
        }
        if times.is_empty() {
            return Err(err(2, "no samples after the header".into()));
        }
        Ok(MetricTable {
            times,
            columns,
            values,
        })
    }

    #[cfg(test)]
    /// The CSV this table was read from (or would be): what `healbot rca --metrics` reads.
    pub fn to_csv(&self) -> String {
        let mut out = String::from("time");
        for c in &self.columns {
            out.push(',');
            out.push_str(c);
        }
        out.push('\n');
        for (row, t) in self.times.iter().enumerate() {
            out.push_str(&format!("{t}"));
            for column in &self.values {
                match column.get(row) {
                    Some(x) if x.is_finite() => out.push_str(&format!(",{x}")),
                    _ => out.push(','),
                }
            }
            out.push('\n');
        }
        out
    }
}

/// Splits `orders-db_mem` into service and metric. Service names may hold `_`
/// (`postgres_primary_cpu`), so a graph's service names are tried first (the longest that
/// fits), then known metric names, then the first `_`.
pub(crate) fn split_column(column: &str, graph: Option<&DependencyGraph>) -> (String, String) {
    if let Some(graph) = graph {
        let service = graph
            .services()
            .filter(|s| {
                column.len() > s.len() + 1
                    && column.starts_with(s)
                    && column.as_bytes()[s.len()] == b'_'
            })
            .max_by_key(|s| s.len());
        if let Some(s) = service {
            return (s.to_string(), column[s.len() + 1..].to_string());
        }
    }
    static KNOWN: OnceLock<Option<Regex>> = OnceLock::new();
    let known = KNOWN.get_or_init(|| {
        Regex::new(concat!(
            r"^(.+?)_(",
            r"(?:lat|latency)(?:[_-]p?\d+)?(?:_ms)?",
            r"|cpu(?:_utilisation|_usage)?|mem(?:ory)?(?:_utilisation|_usage)?",
            r"|load|workload|error_rate|errors|requests|rps|saturation",
            r"|disk(?:_\w+)?|net(?:work)?_(?:in|out|rx|tx)",
            r")$",
        ))
        .ok()
    });
    if let Some(c) = known.as_ref().and_then(|re| re.captures(column)) {
        return (c[1].to_string(), c[2].to_string());
    }
    match column.split_once('_') {
        Some((service, metric)) => (service.to_string(), metric.to_string()),
        None => (column.to_string(), String::new()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn csv_errors_name_file_and_line() {
        let e = MetricTable::parse_csv("ts,a_cpu\n1,2\n", "m.csv").unwrap_err();
        assert!(
            e.to_string()
                .starts_with("m.csv: line 1: the first column must be `time`"),
            "{e}"
        );
        let e = MetricTable::parse_csv("time,a_cpu\n1,2\n2\n", "m.csv").unwrap_err();
        assert_eq!(e.to_string(), "m.csv: line 3: 1 cells, the header has 2");
        let e = MetricTable::parse_csv("time,a_cpu\nx,2\n", "m.csv").unwrap_err();
        assert!(e.to_string().contains("line 2: time \"x\""), "{e}");
        let e = MetricTable::parse_csv("time,a_cpu\n2,1\n1,2\n", "m.csv").unwrap_err();
        assert!(e.to_string().contains("line 3: time 1 is not after"), "{e}");
    }

    #[test]
    fn missing_cells_are_nan_and_round_trip() {
        let t = MetricTable::parse_csv("time,a_cpu,b_mem\n1,,NaN\n2,0.5,x\n", "m.csv").unwrap();
        assert!(t.values[0][0].is_nan() && t.values[1][0].is_nan() && t.values[1][1].is_nan());
        assert_eq!(t.values[0][1], 0.5);
        let again = MetricTable::parse_csv(&t.to_csv(), "again.csv").unwrap();
        assert_eq!(again.columns, t.columns);
        assert_eq!(again.values[0][1], 0.5);
    }

    #[test]
    fn columns_split_into_service_and_metric() {
        assert_eq!(
            split_column("carts_cpu", None),
            ("carts".into(), "cpu".into())
        );
        assert_eq!(
            split_column("orders-db_mem", None),
            ("orders-db".into(), "mem".into())
        );
        assert_eq!(
            split_column("carts_lat_90", None),
            ("carts".into(), "lat_90".into())
        );
        assert_eq!(
            split_column("postgres_primary_cpu", None),
            ("postgres_primary".into(), "cpu".into())
        );
        let mut g = DependencyGraph::new();
        g.add_service("my_svc", None);
        assert_eq!(
            split_column("my_svc_queue_depth", Some(&g)),
            ("my_svc".into(), "queue_depth".into())
        );
        assert_eq!(split_column("a_b_c", None), ("a".into(), "b_c".into()));
    }
}
