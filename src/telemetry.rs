//! Logging (text or JSON) and the Prometheus metrics registry.

use std::collections::BTreeMap;
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};

use tracing_subscriber::EnvFilter;

use crate::config::{LogFormat, LogSettings};

pub fn init_tracing(log: &LogSettings) {
    let filter = EnvFilter::try_new(&log.level).unwrap_or_else(|_| EnvFilter::new("info"));
    // Colours only for a person at a terminal (and not when NO_COLOR is set): a log file,
    // journald or a pipe gets plain text.
    let ansi = std::io::IsTerminal::is_terminal(&std::io::stderr()) && std::env::var_os("NO_COLOR").is_none_or(|v| v.is_empty());
    let builder = tracing_subscriber::fmt().with_env_filter(filter).with_writer(std::io::stderr).with_ansi(ansi);
    let _ = match log.format {
        LogFormat::Json => builder.json().flatten_event(true).with_current_span(true).try_init(),
        LogFormat::Text => builder.with_target(false).try_init(),
    };
}

/// Bucket bounds in seconds: requests take milliseconds, jobs seconds to minutes (an OCR'd page,
/// a searchable PDF of a thousand pages, a backup).
const HTTP_BUCKETS: &[f64] = &[0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 10.0];
const JOB_BUCKETS: &[f64] = &[0.01, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 120.0, 300.0, 600.0, 1800.0];

struct Histogram {
    bounds: &'static [f64],
    counts: Vec<u64>,
    sum: f64,
    count: u64,
}

impl Histogram {
    fn new(bounds: &'static [f64]) -> Self {
        Histogram { bounds, counts: vec![0; bounds.len()], sum: 0.0, count: 0 }
    }
    fn observe(&mut self, v: f64) {
        for (i, b) in self.bounds.iter().enumerate() {
            if v <= *b {
                self.counts[i] += 1;
            }
        }
        self.sum += v;
        self.count += 1;
    }
}

/// A small, dependency-free metrics registry rendered in the Prometheus text format.
#[derive(Default)]
pub struct Metrics {
    http: Mutex<BTreeMap<(String, String, u16), Histogram>>,
    job_durations: Mutex<BTreeMap<(String, String), Histogram>>,
    pub uploads: AtomicU64,
    pub upload_bytes: AtomicU64,
}

impl std::fmt::Debug for Metrics {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Metrics").finish_non_exhaustive()
    }
}

impl Metrics {
    pub fn observe_http(&self, method: &str, route: &str, status: u16, seconds: f64) {
        let mut m = self.http.lock().unwrap_or_else(|p| p.into_inner());
        m.entry((method.to_string(), route.to_string(), status)).or_insert_with(|| Histogram::new(HTTP_BUCKETS)).observe(seconds);
    }

    pub fn observe_job(&self, kind: &str, outcome: &str, seconds: f64) {
        let mut m = self.job_durations.lock().unwrap_or_else(|p| p.into_inner());
        m.entry((kind.to_string(), outcome.to_string())).or_insert_with(|| Histogram::new(JOB_BUCKETS)).observe(seconds);
    }

    pub fn count_upload(&self, bytes: u64) {
        self.uploads.fetch_add(1, Ordering::Relaxed);
        self.upload_bytes.fetch_add(bytes, Ordering::Relaxed);
    }

    /// Renders process metrics plus the gauges given by the caller (from the database).
    pub fn render(&self, gauges: &[(String, String, f64)]) -> String {
        let mut out = String::new();
        out.push_str("# HELP docmerge_http_request_duration_seconds HTTP request latency by route and status.\n");
        out.push_str("# TYPE docmerge_http_request_duration_seconds histogram\n");
        for ((method, route, status), h) in self.http.lock().unwrap_or_else(|p| p.into_inner()).iter() {
            let labels = format!("method=\"{method}\",route=\"{}\",status=\"{status}\"", escape(route));
            render_histogram(&mut out, "docmerge_http_request_duration_seconds", &labels, h);
        }
        out.push_str("# HELP docmerge_http_requests_total HTTP requests by route and status.\n");
        out.push_str("# TYPE docmerge_http_requests_total counter\n");
        for ((method, route, status), h) in self.http.lock().unwrap_or_else(|p| p.into_inner()).iter() {
            out.push_str(&format!(
                "docmerge_http_requests_total{{method=\"{method}\",route=\"{}\",status=\"{status}\"}} {}\n",
                escape(route),
                h.count
            ));
        }
        out.push_str("# HELP docmerge_job_duration_seconds Job run time by kind and outcome (this process).\n");
        out.push_str("# TYPE docmerge_job_duration_seconds histogram\n");
        for ((kind, outcome), h) in self.job_durations.lock().unwrap_or_else(|p| p.into_inner()).iter() {
            let labels = format!("kind=\"{}\",outcome=\"{}\"", escape(kind), escape(outcome));
            render_histogram(&mut out, "docmerge_job_duration_seconds", &labels, h);
        }
        out.push_str("# HELP docmerge_uploads_total Uploads accepted by this process.\n# TYPE docmerge_uploads_total counter\n");
        out.push_str(&format!("docmerge_uploads_total {}\n", self.uploads.load(Ordering::Relaxed)));
        out.push_str("# HELP docmerge_upload_bytes_total Bytes uploaded to this process.\n# TYPE docmerge_upload_bytes_total counter\n");
        out.push_str(&format!("docmerge_upload_bytes_total {}\n", self.upload_bytes.load(Ordering::Relaxed)));
        let mut last = String::new();
        for (name, labels, value) in gauges {
            if *name != last {
                let kind = if name.ends_with("_total") { "counter" } else { "gauge" };
                out.push_str(&format!("# TYPE {name} {kind}\n"));
                last = name.clone();
            }
            if labels.is_empty() {
                out.push_str(&format!("{name} {value}\n"));
            } else {
                out.push_str(&format!("{name}{{{labels}}} {value}\n"));
            }
        }
        out
    }
}

fn render_histogram(out: &mut String, name: &str, labels: &str, h: &Histogram) {
    for (i, b) in h.bounds.iter().enumerate() {
        out.push_str(&format!("{name}_bucket{{{labels},le=\"{b}\"}} {}\n", h.counts[i]));
    }
    out.push_str(&format!("{name}_bucket{{{labels},le=\"+Inf\"}} {}\n", h.count));
    out.push_str(&format!("{name}_sum{{{labels}}} {}\n", h.sum));
    out.push_str(&format!("{name}_count{{{labels}}} {}\n", h.count));
}

pub fn escape(s: &str) -> String {
    s.replace('\\', "\\\\").replace('"', "\\\"").replace('\n', "\\n")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn jobs_are_measured_in_minutes_and_requests_in_milliseconds() {
        let m = Metrics::default();
        m.observe_job("process_page", "done", 42.0);
        m.observe_http("GET", "/api/v1/documents", 200, 0.003);
        let text = m.render(&[]);
        assert!(text.contains("docmerge_job_duration_seconds_bucket{kind=\"process_page\",outcome=\"done\",le=\"30\"} 0"), "{text}");
        assert!(text.contains("docmerge_job_duration_seconds_bucket{kind=\"process_page\",outcome=\"done\",le=\"60\"} 1"), "{text}");
        assert!(text.contains("docmerge_job_duration_seconds_count{kind=\"process_page\",outcome=\"done\"} 1"), "{text}");
        assert!(text.contains("le=\"0.0025\"} 0") && text.contains("le=\"0.005\"} 1"), "{text}");
    }
}
