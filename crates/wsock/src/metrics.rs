//! Metrics for operators (feature `metrics`), through the [`metrics`](https://docs.rs/metrics)
//! facade, so that any exporter works: install one (Prometheus, StatsD, …) before the
//! first connection, as `wsock echo --metrics 127.0.0.1:9090` does. Without the feature
//! nothing is counted and nothing costs.
//!
//! | name | kind | labels | what |
//! |---|---|---|---|
//! | `wsock_connections_open` | gauge | `path` | server-side WebSockets open now, by route (`(upgrade)` for hyper and axum upgrades) |
//! | `wsock_connections_opened_total` | counter | `path` | server-side WebSockets opened |
//! | `wsock_handshakes_accepted_total` | counter | | opening handshakes accepted by a server |
//! | `wsock_handshakes_refused_total` | counter | `reason` | refused: `origin`, `version`, `method`, `too_large`, `bad_request`, `not_found`, `application`, `limit` (over the connection cap), `timeout` (head or TLS handshake too slow) |
//! | `wsock_messages_received_total` | counter | `role` | text and binary messages received (`role` is `server` or `client`) |
//! | `wsock_messages_sent_total` | counter | `role` | text and binary messages queued to send |
//! | `wsock_bytes_received_total` | counter | `role` | bytes read from the transport |
//! | `wsock_bytes_sent_total` | counter | `role` | bytes written to the transport |
//! | `wsock_closes_total` | counter | `role`, `code` | connections ended, by the close code the peer sent (`1006` if none: dropped without a closing handshake; `3xxx`, `4xxx` for the registered and private ranges) |
//! | `wsock_slow_consumers_total` | counter | `action` | [`Hub`](crate::broadcast::Hub) members that could not keep up: `skipped` (a message dropped for them) or `disconnected` |
//! | `wsock_budget_bytes` | gauge | `budget` | bytes held now against a [`Server`](crate::Server)'s `write` and `read` budgets |
//! | `wsock_rooms` | gauge | | [`Hub`](crate::broadcast::Hub) rooms with members |
//! | `wsock_room_members` | gauge | | memberships over all rooms |
//!
//! Labels never carry what a peer chooses freely (a room name, a request path that has
//! no route, a close reason), so a peer cannot make the exporter's memory grow. Traffic
//! is counted per connection and added to the shared counters once per read or write
//! rather than once per message.
//!
//! ```no_run
//! # #[cfg(feature = "metrics")]
//! # fn install() {
//! // With any exporter, e.g. metrics-exporter-prometheus:
//! // PrometheusBuilder::new().with_http_listener(([127, 0, 0, 1], 9090)).install()?;
//! # }
//! ```

#[cfg(feature = "metrics")]
pub(crate) use recording::*;

#[cfg(not(feature = "metrics"))]
pub(crate) use silent::*;

/// The labels a close code can have: well-known codes as they are, ranges for the
/// rest.
#[cfg_attr(not(feature = "metrics"), allow(dead_code))]
const CODE_LABELS: [&str; 19] = [
    "1000", "1001", "1002", "1003", "1004", "1005", "1006", "1007", "1008", "1009", "1010", "1011",
    "1012", "1013", "1014", "1015", "3xxx", "4xxx", "other",
];

/// Where a close code's label is in [`CODE_LABELS`] (`None`: no close frame, 1006).
#[cfg_attr(not(feature = "metrics"), allow(dead_code))]
fn code_slot(code: Option<u16>) -> usize {
    match code {
        None => 6,
        Some(code @ 1000..=1015) => usize::from(code - 1000),
        Some(3000..=3999) => 16,
        Some(4000..=4999) => 17,
        Some(_) => 18,
    }
}

#[cfg(feature = "metrics")]
mod recording {
    use std::sync::{Arc, LazyLock, OnceLock};

    use ::metrics::{counter, gauge, Counter, Gauge};
    use wsock_proto::handshake::server::Refusal;
    use wsock_proto::{CloseFrame, Role};

    /// Handles to the unlabelled and per-role counters, looked up once: the first
    /// connection binds them to the recorder installed by then.
    struct Handles {
        traffic: [RoleTraffic; 2],
        accepted: Counter,
    }

    struct RoleTraffic {
        messages_received: Counter,
        messages_sent: Counter,
        bytes_received: Counter,
        bytes_sent: Counter,
    }

    impl RoleTraffic {
        fn new(role: &'static str) -> Self {
            Self {
                messages_received: counter!("wsock_messages_received_total", "role" => role),
                messages_sent: counter!("wsock_messages_sent_total", "role" => role),
                bytes_received: counter!("wsock_bytes_received_total", "role" => role),
                bytes_sent: counter!("wsock_bytes_sent_total", "role" => role),
            }
        }
    }

    static HANDLES: LazyLock<Handles> = LazyLock::new(|| Handles {
        traffic: [RoleTraffic::new("server"), RoleTraffic::new("client")],
        accepted: counter!("wsock_handshakes_accepted_total"),
    });

    fn role_label(role: Role) -> &'static str {
        match role {
            Role::Server => "server",
            Role::Client => "client",
        }
    }

    /// A connection's traffic since its last report. 32-bit counts keep every
    /// connection 16 bytes smaller; a report follows every read and write, long
    /// before they could fill up (and they saturate rather than wrap).
    #[derive(Debug, Default)]
    pub(crate) struct Traffic {
        messages_received: u32,
        messages_sent: u32,
        bytes_received: u32,
        bytes_sent: u32,
    }

    impl Traffic {
        #[inline]
        pub(crate) fn message_received(&mut self) {
            self.messages_received = self.messages_received.saturating_add(1);
        }

        #[inline]
        pub(crate) fn message_sent(&mut self) {
            self.messages_sent = self.messages_sent.saturating_add(1);
        }

        #[inline]
        pub(crate) fn bytes_received(&mut self, n: usize) {
            let n = u32::try_from(n).unwrap_or(u32::MAX);
            self.bytes_received = self.bytes_received.saturating_add(n);
        }

        #[inline]
        pub(crate) fn bytes_sent(&mut self, n: usize) {
            let n = u32::try_from(n).unwrap_or(u32::MAX);
            self.bytes_sent = self.bytes_sent.saturating_add(n);
        }

        /// Adds what was counted to the shared counters, and starts again from zero.
        pub(crate) fn report(&mut self, role: Role) {
            let any = self.messages_received | self.messages_sent;
            if any | self.bytes_received | self.bytes_sent == 0 {
                return;
            }
            let handles = &HANDLES.traffic[usize::from(role == Role::Client)];
            let counts = std::mem::take(self);
            for (count, counter) in [
                (counts.messages_received, &handles.messages_received),
                (counts.messages_sent, &handles.messages_sent),
                (counts.bytes_received, &handles.bytes_received),
                (counts.bytes_sent, &handles.bytes_sent),
            ] {
                if count > 0 {
                    counter.increment(u64::from(count));
                }
            }
        }
    }

    /// A route's connection counters, looked up on its first connection and shared by
    /// the rest, so that a connection costs two atomic adds and no allocation.
    #[derive(Debug, Default)]
    pub(crate) struct RouteMetrics(OnceLock<Arc<RouteHandles>>);

    #[derive(Debug)]
    pub(crate) struct RouteHandles {
        opened: Counter,
        open: Gauge,
    }

    impl RouteMetrics {
        pub(crate) const fn new() -> Self {
            Self(OnceLock::new())
        }

        /// Counts a connection opened on this route, at `path`.
        pub(crate) fn connection_opened(&self, path: &str) -> OpenConnection {
            let handles = self.0.get_or_init(|| {
                Arc::new(RouteHandles {
                    opened: counter!("wsock_connections_opened_total", "path" => path.to_owned()),
                    open: gauge!("wsock_connections_open", "path" => path.to_owned()),
                })
            });
            handles.opened.increment(1);
            handles.open.increment(1.0);
            OpenConnection(Some(handles.clone()))
        }
    }

    /// A server-side WebSocket counted in `wsock_connections_open` until dropped.
    #[derive(Debug, Default)]
    pub(crate) struct OpenConnection(Option<Arc<RouteHandles>>);

    impl Drop for OpenConnection {
        fn drop(&mut self) {
            if let Some(handles) = &self.0 {
                handles.open.decrement(1.0);
            }
        }
    }

    /// `wsock_closes_total` by role and code label, each looked up on its first use
    /// (so that only codes seen are exported) and kept: a connection's end costs no
    /// allocation.
    static CLOSES: [[OnceLock<Counter>; super::CODE_LABELS.len()]; 2] =
        [const { [const { OnceLock::new() }; super::CODE_LABELS.len()] }; 2];

    /// Counts the end of a connection, by the close frame the peer sent (`None` if
    /// it sent none).
    pub(crate) fn connection_ended(role: Role, peer_close: Option<&Option<CloseFrame>>) {
        let code = match peer_close {
            Some(Some(frame)) => Some(frame.code.0),
            Some(None) => Some(1005),
            None => None,
        };
        let slot = super::code_slot(code);
        CLOSES[usize::from(role == Role::Client)][slot]
            .get_or_init(|| {
                let code = super::CODE_LABELS[slot];
                counter!("wsock_closes_total", "role" => role_label(role), "code" => code)
            })
            .increment(1);
    }

    /// Counts a server's decision on an opening handshake.
    pub(crate) fn handshake_decided<T>(decision: &Result<T, Refusal>) {
        match decision {
            Ok(_) => HANDLES.accepted.increment(1),
            Err(refusal) => handshake_refused(refusal.cause()),
        }
    }

    /// `reason` is one of the documented words, never the peer's text.
    pub(crate) fn handshake_refused(reason: &'static str) {
        counter!("wsock_handshakes_refused_total", "reason" => reason).increment(1);
    }

    pub(crate) fn slow_consumers(action: &'static str, count: usize) {
        if count > 0 {
            counter!("wsock_slow_consumers_total", "action" => action).increment(count as u64);
        }
    }

    /// `wsock_rooms` and `wsock_room_members`, looked up on the first change.
    static ROOMS: LazyLock<(Gauge, Gauge)> =
        LazyLock::new(|| (gauge!("wsock_rooms"), gauge!("wsock_room_members")));

    pub(crate) fn rooms_changed(rooms: f64, members: f64) {
        if rooms != 0.0 {
            ROOMS.0.increment(rooms);
        }
        if members != 0.0 {
            ROOMS.1.increment(members);
        }
    }

    /// The gauge a budget named `budget` reports its bytes to.
    pub(crate) fn budget_gauge(budget: &'static str) -> Option<Gauge> {
        Some(gauge!("wsock_budget_bytes", "budget" => budget))
    }

    pub(crate) type BudgetGauge = Option<Gauge>;

    pub(crate) fn budget_moved(gauge: &BudgetGauge, delta: f64) {
        if let Some(gauge) = gauge {
            gauge.increment(delta);
        }
    }
}

/// The same interface, doing nothing, without the `metrics` feature.
#[cfg(not(feature = "metrics"))]
mod silent {
    use wsock_proto::handshake::server::Refusal;
    use wsock_proto::{CloseFrame, Role};

    // Not unit structs, so that both builds construct them with `default()`.
    #[derive(Debug, Default)]
    pub(crate) struct Traffic(());

    impl Traffic {
        #[inline]
        pub(crate) fn message_received(&mut self) {}
        #[inline]
        pub(crate) fn message_sent(&mut self) {}
        #[inline]
        pub(crate) fn bytes_received(&mut self, _: usize) {}
        #[inline]
        pub(crate) fn bytes_sent(&mut self, _: usize) {}
        #[inline]
        pub(crate) fn report(&mut self, _: Role) {}
    }

    #[derive(Debug, Default)]
    pub(crate) struct OpenConnection(());

    #[derive(Debug, Default)]
    pub(crate) struct RouteMetrics(());

    impl RouteMetrics {
        pub(crate) const fn new() -> Self {
            Self(())
        }

        #[inline]
        pub(crate) fn connection_opened(&self, _: &str) -> OpenConnection {
            OpenConnection(())
        }
    }

    #[inline]
    pub(crate) fn connection_ended(_: Role, _: Option<&Option<CloseFrame>>) {}
    #[inline]
    pub(crate) fn handshake_decided<T>(_: &Result<T, Refusal>) {}
    #[inline]
    pub(crate) fn handshake_refused(_: &'static str) {}
    #[inline]
    pub(crate) fn slow_consumers(_: &'static str, _: usize) {}
    #[inline]
    pub(crate) fn rooms_changed(_: f64, _: f64) {}

    pub(crate) type BudgetGauge = ();

    #[inline]
    pub(crate) fn budget_gauge(_: &'static str) -> BudgetGauge {}
    #[inline]
    pub(crate) fn budget_moved(_: &BudgetGauge, _: f64) {}
}

#[cfg(test)]
mod tests {
    #[test]
    fn close_codes_become_a_bounded_set_of_labels() {
        let label = |code| super::CODE_LABELS[super::code_slot(code)];
        assert_eq!(label(Some(1000)), "1000");
        assert_eq!(label(Some(1015)), "1015");
        assert_eq!(label(None), "1006");
        assert_eq!(label(Some(3999)), "3xxx");
        assert_eq!(label(Some(4321)), "4xxx");
        assert_eq!(label(Some(2000)), "other");
        assert_eq!(label(Some(65535)), "other");
    }
}
