//! Joins of many members to one chat room, for docs/performance.md:
//! `chat_join_bench URL MEMBERS` connects MEMBERS clients one after another to
//! `URL&name=mN` (a `wsock broadcast` room such as
//! `ws://127.0.0.1:8080/ws?room=bench`), every one reading all it is sent, and stops
//! once the first member has seen every other join. benches/chat_join.sh runs it
//! against `wsock broadcast` and reads the server's CPU time.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Instant;

use wsock::Client;

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let (Some(url), Some(members)) = (args.first(), args.get(1).and_then(|n| n.parse().ok()))
    else {
        eprintln!("usage: chat_join_bench URL MEMBERS");
        std::process::exit(2);
    };
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("a tokio runtime");
    if let Err(error) = runtime.block_on(run(url, members)) {
        eprintln!("chat_join_bench: {error}");
        std::process::exit(1);
    }
}

async fn run(url: &str, members: usize) -> wsock::Result<()> {
    let joins_seen_by_first = Arc::new(AtomicUsize::new(0));
    let (done, mut all_joined) = tokio::sync::mpsc::channel::<()>(1);
    let started = Instant::now();
    let mut readers = tokio::task::JoinSet::new();
    for i in 0..members {
        let ws = Client::new(format!("{url}&name=m{i}"))
            .no_proxy()
            .connect()
            .await?;
        let (seen, done) = (joins_seen_by_first.clone(), done.clone());
        readers.spawn(async move {
            let (mut incoming, _outgoing) = ws.split();
            while let Some(message) = incoming.recv().await? {
                let is_join = message
                    .as_text()
                    .is_some_and(|t| t.contains(r#""type":"join""#));
                if i == 0 && is_join && seen.fetch_add(1, Ordering::Relaxed) + 2 == members {
                    let _ = done.send(()).await;
                }
            }
            Ok::<_, wsock::Error>(())
        });
    }
    drop(done);
    if members > 1 && all_joined.recv().await.is_none() {
        return Err(wsock::Error::Io(std::io::Error::other(
            "the first member stopped before it saw every join",
        )));
    }
    let seconds = started.elapsed().as_secs_f64();
    println!(
        "{{\"members\": {members}, \"seconds\": {seconds:.3}, \"joins_per_second\": {:.0}}}",
        members as f64 / seconds
    );
    readers.abort_all();
    Ok(())
}
