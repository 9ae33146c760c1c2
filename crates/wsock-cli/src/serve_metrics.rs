//! The `--metrics` flag of the serving commands (`echo`, `broadcast`): Prometheus text
//! at `http://ADDR/metrics`, from the counters the library keeps (see `wsock::metrics`
//! and the README's table).

use std::net::SocketAddr;

use metrics_exporter_prometheus::{Matcher, PrometheusBuilder};

/// Seconds, for the relay's lag histogram: from a millisecond to ten seconds.
const LAG_BUCKETS: &[f64] = &[0.001, 0.005, 0.01, 0.05, 0.1, 0.5, 1.0, 5.0, 10.0];

/// `--metrics ADDR`.
#[derive(clap::Args)]
pub struct ServeMetrics {
    /// Serve Prometheus metrics at http://ADDR/metrics (for example 127.0.0.1:9090;
    /// any path answers). Off by default. Keep it off the public network: it tells
    /// anyone how busy the server is.
    #[arg(long, value_name = "ADDR")]
    metrics: Option<SocketAddr>,
}

impl ServeMetrics {
    /// Starts the exporter if asked; it must run before the first connection, which
    /// binds the library's counters to it.
    pub fn install(&self) -> wsock::Result<()> {
        let Some(addr) = self.metrics else {
            return Ok(());
        };
        PrometheusBuilder::new()
            .with_http_listener(addr)
            .set_buckets_for_metric(Matcher::Full("wsock_relay_lag_seconds".into()), LAG_BUCKETS)
            .and_then(PrometheusBuilder::install)
            .map_err(|error| {
                wsock::Error::Io(std::io::Error::other(format!(
                    "cannot serve metrics at {addr}: {error}"
                )))
            })?;
        tracing::info!(%addr, "serving Prometheus metrics at /metrics");
        Ok(())
    }
}
