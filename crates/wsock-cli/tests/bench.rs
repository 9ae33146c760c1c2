//! `wsock bench` against real echo servers on 127.0.0.1.

mod common;

use common::*;

#[test]
fn a_run_reports_rates_and_latencies_as_json() {
    let server = EchoServer::start(&[]);
    let out = run(
        "bench",
        &[
            &server.url,
            "-c",
            "3",
            "-p",
            "4",
            "-s",
            "64",
            "-m",
            "300",
            "--json",
        ],
        "",
    );
    assert_eq!(out.code, Some(0), "{}", out.stderr);
    let summary: serde_json::Value = serde_json::from_str(out.stdout.trim()).unwrap();
    assert!(summary["messages"].as_u64().unwrap() >= 300, "{summary}");
    assert_eq!(summary["connections"], 3);
    assert!(summary["messages_per_second"].as_f64().unwrap() > 0.0);
    let latency = &summary["latency_us"];
    let (p50, p99, max) = (
        latency["p50"].as_u64().unwrap(),
        latency["p99"].as_u64().unwrap(),
        latency["max"].as_u64().unwrap(),
    );
    assert!(p50 <= p99 && p99 <= max, "{latency}");
}

#[test]
fn text_with_deflate_runs_and_a_server_without_it_is_an_error() {
    let server = EchoServer::start(&[]);
    let out = run(
        "bench",
        &[&server.url, "-m", "50", "--text", "--deflate", "-s", "2000"],
        "",
    );
    assert_eq!(out.code, Some(0), "{}", out.stderr);
    assert!(out.stdout.contains("messages/s"), "{}", out.stdout);
    let plain = EchoServer::start(&["--no-deflate"]);
    let out = run("bench", &[&plain.url, "-m", "10", "--deflate"], "");
    assert_eq!(out.code, Some(1));
    assert!(
        out.stderr.contains("declined permessage-deflate"),
        "{}",
        out.stderr
    );
}

/// An echo server in this process whose replies are `reply(payload)`, after `delay`.
fn echo_server_in_process(
    runtime: &tokio::runtime::Runtime,
    delay: std::time::Duration,
    reply: fn(Vec<u8>) -> Vec<u8>,
) -> String {
    runtime.block_on(async {
        let server = wsock::Server::bind("127.0.0.1:0").await.unwrap().route(
            "/echo",
            move |mut ws| async move {
                while let Some(message) = ws.recv().await? {
                    tokio::time::sleep(delay).await;
                    let payload = reply(message.payload().to_vec());
                    ws.send(wsock::Message::binary(payload)).await?;
                }
                Ok(())
            },
        );
        let url = format!("ws://{}/echo", server.local_addr().unwrap());
        tokio::spawn(server.serve());
        url
    })
}

#[test]
fn an_echo_that_differs_fails_the_run() {
    let runtime = tokio::runtime::Runtime::new().unwrap();
    let reversed = |mut payload: Vec<u8>| {
        payload.reverse();
        payload
    };
    let url = echo_server_in_process(&runtime, std::time::Duration::ZERO, reversed);
    let out = run("bench", &[&url, "-m", "10", "-s", "32"], "");
    assert_eq!(out.code, Some(1));
    assert!(
        out.stderr.contains("differs from what was sent"),
        "{}",
        out.stderr
    );
}

#[test]
fn a_connection_storm_reports_handshakes_and_holds_every_connection_open() {
    let server = EchoServer::start(&["--max-connections", "100"]);
    let storm = |count: &str| {
        run(
            "bench",
            &[
                &server.url,
                "--connect-only",
                "-c",
                count,
                "--concurrency",
                "16",
                "--json",
            ],
            "",
        )
    };
    let out = storm("90");
    assert_eq!(out.code, Some(0), "{}", out.stderr);
    let summary: serde_json::Value = serde_json::from_str(out.stdout.trim()).unwrap();
    assert_eq!(summary["connections"], 90);
    assert!(summary["handshakes_per_second"].as_f64().unwrap() > 0.0);
    let times = &summary["handshake_us"];
    assert!(times["p50"].as_u64() <= times["p99"].as_u64(), "{times}");
    // All of them open at once: past the server's cap, the storm is refused (503).
    let out = storm("150");
    assert_eq!(out.code, Some(1), "{}", out.stdout);
    assert!(out.stderr.contains("503"), "{}", out.stderr);
}

#[test]
fn a_paced_run_sends_no_faster_than_its_rate() {
    let server = EchoServer::start(&[]);
    let out = run(
        "bench",
        &[
            &server.url,
            "-c",
            "2",
            "-p",
            "64",
            "--rate",
            "400",
            "-d",
            "0.5",
            "--json",
        ],
        "",
    );
    assert_eq!(out.code, Some(0), "{}", out.stderr);
    let summary: serde_json::Value = serde_json::from_str(out.stdout.trim()).unwrap();
    assert_eq!(summary["rate"], 400.0, "{summary}");
    assert_eq!(summary["held_back"], 0, "{summary}");
    // Message k of a connection is due k intervals after it starts, so half a second
    // at 400/s over two connections can send at most 200 + 2 (the first of each).
    let messages = summary["messages"].as_u64().unwrap();
    assert!((100..=202).contains(&messages), "{summary}");
}

#[test]
fn a_paced_run_counts_the_messages_a_full_pipeline_held_back() {
    let runtime = tokio::runtime::Runtime::new().unwrap();
    // Each echo takes 20 ms while a message falls due every 2 ms: with one in flight,
    // every message after the first waits for the reply before it.
    let slow = echo_server_in_process(&runtime, std::time::Duration::from_millis(20), |p| p);
    let out = run(
        "bench",
        &[&slow, "-p", "1", "--rate", "500", "-m", "5", "--json"],
        "",
    );
    assert_eq!(out.code, Some(0), "{}", out.stderr);
    let summary: serde_json::Value = serde_json::from_str(out.stdout.trim()).unwrap();
    assert_eq!(summary["messages"], 5, "{summary}");
    assert_eq!(summary["held_back"], 4, "{summary}");
}

#[test]
fn a_rate_that_is_not_a_positive_number_is_refused_in_words() {
    for rate in ["0", "-5", "fast", "inf"] {
        let out = run(
            "bench",
            &["ws://127.0.0.1:9/", &format!("--rate={rate}")],
            "",
        );
        assert_eq!(out.code, Some(2), "{rate}: {}", out.stderr);
        assert!(
            out.stderr
                .contains("give messages per second as a positive number"),
            "{rate}: {}",
            out.stderr
        );
    }
}
