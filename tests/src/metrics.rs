//! Scraping a process's `/metrics` and parsing it with a real Prometheus text parser
//! (`prometheus-parse`), so a test reads what a Prometheus server would.

use anyhow::Context;

use crate::harness::http_get;

/// The samples of one scrape, as `name{labels}` → value.
pub struct Scrape(pub Vec<prometheus_parse::Sample>);

impl Scrape {
    /// Scrapes `addr`'s `/metrics` and parses it.
    pub async fn of(addr: &str) -> anyhow::Result<Self> {
        let (status, body) = http_get(addr, "/metrics").await?;
        anyhow::ensure!(status == 200, "/metrics answered {status}: {body}");
        let lines = body.lines().map(|l| Ok(l.to_string()));
        let scrape = prometheus_parse::Scrape::parse(lines).context("the metrics do not parse as Prometheus text")?;
        Ok(Self(scrape.samples))
    }

    /// The value of the sample `name` whose labels include `labels` (0 if there is none).
    pub fn value(&self, name: &str, labels: &[(&str, &str)]) -> f64 {
        self.0
            .iter()
            .filter(|s| s.metric == name && labels.iter().all(|(k, v)| s.labels.get(k) == Some(*v)))
            .map(|s| match &s.value {
                prometheus_parse::Value::Counter(v) | prometheus_parse::Value::Gauge(v) => *v,
                prometheus_parse::Value::Untyped(v) => *v,
                prometheus_parse::Value::Histogram(buckets) => buckets.iter().map(|b| b.count).fold(0.0, f64::max),
                prometheus_parse::Value::Summary(_) => f64::NAN,
            })
            .sum()
    }
}
