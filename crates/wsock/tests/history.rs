//! Room history and recovery, without sockets: a hub alone (history in memory), and
//! two hubs sharing rooms through an in-process backplane that can drop deliveries,
//! lose contact and lose its history on demand.

mod common;

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use tokio::sync::Notify;

use common::{bounded, next_text};
use wsock::broadcast::{
    Backplane, BoxFuture, HistoryOptions, Hub, HubOptions, Inbound, Position, Received, Replay,
    SlowConsumer, Subscription,
};
use wsock::Message;

async fn texts(member: &mut Subscription, count: usize) -> Vec<String> {
    let mut texts = Vec::new();
    for _ in 0..count {
        texts.push(next_text(member).await);
    }
    texts
}

fn numbered(range: std::ops::Range<usize>) -> Vec<String> {
    range.map(|i| i.to_string()).collect()
}

fn history(max_messages: usize) -> HistoryOptions {
    let mut options = HistoryOptions::default();
    options.max_messages = max_messages;
    options
}

#[tokio::test]
async fn a_returning_member_gets_exactly_what_it_missed_then_the_live_messages() {
    let hub = Hub::builder().history(history(100)).build();
    let mut member = hub.join("room");
    let _stays = hub.join("room"); // keeps the room while `member` is away
    hub.publish("room", Message::text("0"));
    assert_eq!(next_text(&mut member).await, "0");
    let seen = member.position().unwrap();
    assert_eq!(seen.offset, 1);
    drop(member);
    for i in 1..50 {
        hub.publish("room", Message::text(i.to_string()));
    }
    let mut back = hub.join_from("room", seen).await;
    for i in 50..60 {
        hub.publish("room", Message::text(i.to_string()));
    }
    assert_eq!(texts(&mut back, 59).await, numbered(1..60));
    assert_eq!(back.position().unwrap().offset, 60);
    // Nothing more: no duplicate at the seam.
    hub.publish("room", Message::text("last"));
    assert_eq!(next_text(&mut back).await, "last");
}

#[tokio::test]
async fn a_member_whose_position_was_trimmed_is_told_and_then_goes_live() {
    let hub = Hub::builder().history(history(10)).build();
    let mut member = hub.join("room");
    let _stays = hub.join("room");
    hub.publish("room", Message::text("0"));
    next_text(&mut member).await;
    let seen = member.position().unwrap();
    drop(member);
    for i in 1..30 {
        hub.publish("room", Message::text(i.to_string()));
    }
    let mut back = hub.join_from("room", seen).await;
    // Not a partial replay of the 10 kept messages: word of the gap, then live.
    assert_eq!(bounded(back.recv()).await, Received::Gap);
    hub.publish("room", Message::text("live"));
    assert_eq!(next_text(&mut back).await, "live");
}

#[tokio::test]
async fn a_position_from_another_epoch_or_an_emptied_room_is_a_gap() {
    let hub = Hub::builder().history(history(10)).build();
    let elsewhere = Position {
        epoch: 1,
        offset: 3,
    };
    let mut member = hub.join_from("room", elsewhere).await;
    assert_eq!(bounded(member.recv()).await, Received::Gap);
    // Without history, only "nothing missed" can be recovered.
    let plain = Hub::default();
    let mut first = plain.join("room");
    plain.publish("room", Message::text("a"));
    next_text(&mut first).await;
    let seen = first.position().unwrap();
    let mut same = plain.join_from("room", seen).await;
    plain.publish("room", Message::text("b"));
    assert_eq!(next_text(&mut same).await, "b");
    plain.publish("room", Message::text("c"));
    drop(same);
    let mut late = plain.join_from("room", seen).await;
    assert_eq!(bounded(late.recv()).await, Received::Gap);
}

#[tokio::test]
async fn an_emptied_room_keeps_its_history_for_the_member_coming_back() {
    let hub = Hub::builder().history(history(10)).build();
    let mut only = hub.join("room");
    hub.publish("room", Message::text("a"));
    next_text(&mut only).await;
    let seen = only.position().unwrap();
    hub.publish("room", Message::text("b"));
    drop(only);
    assert!(hub.rooms_and_members().is_empty());
    let mut back = hub.join_from("room", seen).await;
    assert_eq!(next_text(&mut back).await, "b");
}

#[tokio::test]
async fn a_skipped_member_is_told_before_its_next_message() {
    let mut options = HubOptions::default();
    options.queue_capacity = 2;
    options.slow_consumer = SlowConsumer::Skip;
    let hub = Hub::new(options);
    let mut slow = hub.join("room");
    for i in 0..5 {
        hub.publish("room", Message::text(i.to_string()));
    }
    assert_eq!(texts(&mut slow, 2).await, ["0", "1"]);
    hub.publish("room", Message::text("5"));
    assert_eq!(bounded(slow.recv()).await, Received::Gap);
    assert_eq!(next_text(&mut slow).await, "5");
}

/// An in-process backplane: numbers each room's messages, keeps them, and hands them
/// to every hub attached, unless told to drop or to be unreachable.
#[derive(Debug, Default)]
struct Broker {
    state: Mutex<BrokerState>,
    /// Told each time a replay is asked for.
    replay_asked: Notify,
    /// Lets held replays answer (see `hold_replays`).
    replay_released: Notify,
}

#[derive(Debug, Default)]
struct BrokerState {
    epoch: u64,
    rooms: HashMap<String, Vec<(Position, Message)>>,
    nodes: Vec<(usize, Inbound)>,
    /// Nodes that stop receiving (their link is down) but can still publish.
    deaf: Vec<usize>,
    unreachable: bool,
    /// Replays read the room when asked but answer only once released, as a slow
    /// network would make them.
    hold_replays: bool,
}

impl Broker {
    fn new() -> Arc<Self> {
        let broker = Arc::new(Self::default());
        broker.state.lock().unwrap().epoch = 7;
        broker
    }

    fn node(self: &Arc<Self>, id: usize) -> Hub {
        self.node_with(id, HubOptions::default())
    }

    fn node_with(self: &Arc<Self>, id: usize, options: HubOptions) -> Hub {
        Hub::builder()
            .options(options)
            .history(HistoryOptions::default())
            .backplane(Node {
                id,
                broker: self.clone(),
            })
            .build()
    }

    fn set_deaf(&self, id: usize, deaf: bool) {
        let mut state = self.state.lock().unwrap();
        state.deaf.retain(|&node| node != id);
        if deaf {
            state.deaf.push(id);
        }
    }

    /// Contact with node `id` is back.
    fn resume(&self, id: usize) {
        self.set_deaf(id, false);
        let inbound = self.inbound(id);
        inbound.resume();
    }

    fn inbound(&self, id: usize) -> Inbound {
        let state = self.state.lock().unwrap();
        state
            .nodes
            .iter()
            .find(|(node, _)| *node == id)
            .unwrap()
            .1
            .clone()
    }

    /// The broker restarts without its data.
    fn lose_history(&self) {
        let mut state = self.state.lock().unwrap();
        state.epoch += 1;
        state.rooms.clear();
    }

    fn trim(&self, room: &str, keep: usize) {
        let mut state = self.state.lock().unwrap();
        let messages = state.rooms.get_mut(room).unwrap();
        let drop = messages.len().saturating_sub(keep);
        messages.drain(..drop);
    }
}

#[derive(Debug)]
struct Node {
    id: usize,
    broker: Arc<Broker>,
}

impl Backplane for Node {
    fn start(&self, inbound: Inbound) {
        self.broker
            .state
            .lock()
            .unwrap()
            .nodes
            .push((self.id, inbound));
    }

    fn publish(&self, room: &str, message: Message) -> Result<(), Message> {
        let mut state = self.broker.state.lock().unwrap();
        if state.unreachable {
            return Err(message);
        }
        let epoch = state.epoch;
        let messages = state.rooms.entry(room.to_owned()).or_default();
        let offset = messages.last().map_or(0, |(p, _)| p.offset) + 1;
        let position = Position { epoch, offset };
        messages.push((position, message.clone()));
        let listening: Vec<Inbound> = state
            .nodes
            .iter()
            .filter(|(id, _)| !state.deaf.contains(id))
            .map(|(_, inbound)| inbound.clone())
            .collect();
        drop(state);
        for inbound in listening {
            inbound.deliver(room, position, message.clone());
        }
        Ok(())
    }

    fn replay(&self, room: &str, since: Position) -> BoxFuture<Replay> {
        let state = self.broker.state.lock().unwrap();
        let messages = state.rooms.get(room).cloned().unwrap_or_default();
        let replay = if since.epoch != state.epoch {
            Replay::Lost("another epoch".into())
        } else {
            let after: Vec<_> = messages
                .into_iter()
                .filter(|(p, _)| p.offset > since.offset)
                .collect();
            match after.first() {
                Some((first, _)) if first.offset != since.offset + 1 => {
                    Replay::Lost("trimmed".into())
                }
                _ => Replay::Messages(after),
            }
        };
        let held = state.hold_replays;
        drop(state);
        self.broker.replay_asked.notify_one();
        let broker = self.broker.clone();
        Box::pin(async move {
            if held {
                broker.replay_released.notified().await;
            }
            replay
        })
    }
}

#[tokio::test]
async fn two_nodes_deliver_a_room_in_the_same_order_with_positions() {
    let broker = Broker::new();
    let (a, b) = (broker.node(1), broker.node(2));
    let mut on_a = a.join("room");
    let mut on_b = b.join("room");
    for i in 0..100 {
        let node = if i % 2 == 0 { &a } else { &b };
        assert!(node.publish("room", Message::text(i.to_string())).relayed);
    }
    assert_eq!(texts(&mut on_a, 100).await, numbered(0..100));
    assert_eq!(texts(&mut on_b, 100).await, numbered(0..100));
    assert_eq!(
        on_b.position(),
        Some(Position {
            epoch: 7,
            offset: 100
        })
    );
}

#[tokio::test]
async fn a_member_back_on_another_node_misses_nothing_and_gets_nothing_twice() {
    let broker = Broker::new();
    let (a, b) = (broker.node(1), broker.node(2));
    let mut member = b.join("room");
    let _stays_on_b = b.join("room");
    a.publish("room", Message::text("0"));
    assert_eq!(next_text(&mut member).await, "0");
    let seen = member.position().unwrap();
    drop(member);
    for i in 1..500 {
        a.publish("room", Message::text(i.to_string()));
    }
    let mut back = a.join_from("room", seen).await;
    for i in 500..510 {
        b.publish("room", Message::text(i.to_string()));
    }
    assert_eq!(texts(&mut back, 509).await, numbered(1..510));
    b.publish("room", Message::text("end"));
    assert_eq!(next_text(&mut back).await, "end");
}

/// A member of node B has seen message 0, leaves, and comes back on B with
/// `join_from` while node A publishes messages 1 to `before` before the replay reads
/// the room and `during` more before it answers.
async fn come_back_during_a_slow_replay(
    options: HubOptions,
    before: usize,
    during: usize,
    message: fn(usize) -> Message,
) -> Subscription {
    let broker = Broker::new();
    let (a, b) = (broker.node(1), broker.node_with(2, options));
    let mut member = b.join("room");
    a.publish("room", Message::text("0"));
    assert_eq!(next_text(&mut member).await, "0");
    let seen = member.position().unwrap();
    drop(member);
    for i in 1..=before {
        a.publish("room", message(i));
    }
    broker.state.lock().unwrap().hold_replays = true;
    let coming_back = tokio::spawn(async move { b.join_from("room", seen).await });
    bounded(broker.replay_asked.notified()).await;
    for i in before + 1..=before + during {
        a.publish("room", message(i));
    }
    broker.replay_released.notify_one();
    bounded(coming_back).await.unwrap()
}

#[tokio::test]
async fn a_member_coming_back_is_not_slow_while_its_replay_is_on_its_way() {
    // Four times the queue's 256 messages arrive live before the replay answers.
    let mut back =
        come_back_during_a_slow_replay(HubOptions::default(), 100, 1024, numbered_text).await;
    assert_eq!(texts(&mut back, 1124).await, numbered(1..1125));
}

#[tokio::test]
async fn what_is_held_during_a_replay_is_bounded_by_the_slow_member_policy() {
    let mut options = HubOptions::default();
    options.queue_capacity = 4;
    options.held_while_replaying = 10;
    // Ten held, then the queue's capacity is not used: the member counts as slow.
    let mut back = come_back_during_a_slow_replay(options.clone(), 5, 11, numbered_text).await;
    assert_eq!(
        bounded(back.recv()).await,
        Received::Disconnected(wsock::CloseCode::TRY_AGAIN_LATER)
    );
    // Ten fit.
    let mut back = come_back_during_a_slow_replay(options.clone(), 5, 10, numbered_text).await;
    assert_eq!(texts(&mut back, 15).await, numbered(1..16));
    // Their bytes count as the queue's: two frames of 1 KiB and a 4-byte header fit
    // in `queue_bytes`, a third does not.
    options.queue_bytes = 2 * 1028;
    let kibibyte = |_| Message::binary(vec![0; 1024]);
    let mut back = come_back_during_a_slow_replay(options.clone(), 0, 2, kibibyte).await;
    for _ in 0..2 {
        assert!(matches!(bounded(back.recv()).await, Received::Message(_)));
    }
    let mut back = come_back_during_a_slow_replay(options, 0, 3, kibibyte).await;
    assert_eq!(
        bounded(back.recv()).await,
        Received::Disconnected(wsock::CloseCode::TRY_AGAIN_LATER)
    );
}

fn numbered_text(i: usize) -> Message {
    Message::text(i.to_string())
}

#[tokio::test]
async fn a_node_that_missed_deliveries_catches_up_from_the_history() {
    let broker = Broker::new();
    let (a, b) = (broker.node(1), broker.node(2));
    let mut on_b = b.join("room");
    a.publish("room", Message::text("0"));
    assert_eq!(next_text(&mut on_b).await, "0");
    broker.set_deaf(2, true);
    for i in 1..20 {
        a.publish("room", Message::text(i.to_string()));
    }
    broker.set_deaf(2, false);
    // The next live message shows the hole; B fills it before delivering it.
    a.publish("room", Message::text("20"));
    assert_eq!(texts(&mut on_b, 20).await, numbered(1..21));
    // Contact lost and back, with nothing newer to show the hole: resuming catches up.
    broker.set_deaf(2, true);
    a.publish("room", Message::text("21"));
    broker.resume(2);
    assert_eq!(next_text(&mut on_b).await, "21");
}

#[tokio::test]
async fn members_are_told_when_the_backplane_lost_its_history() {
    let broker = Broker::new();
    let (a, b) = (broker.node(1), broker.node(2));
    let mut on_b = b.join("room");
    a.publish("room", Message::text("before"));
    assert_eq!(next_text(&mut on_b).await, "before");
    let seen = on_b.position().unwrap();
    broker.set_deaf(2, true);
    a.publish("room", Message::text("lost with the history"));
    broker.lose_history();
    broker.resume(2);
    assert_eq!(bounded(on_b.recv()).await, Received::Gap);
    a.publish("room", Message::text("after"));
    assert_eq!(next_text(&mut on_b).await, "after");
    // And a member coming back from the old epoch is told too.
    let mut back = a.join_from("room", seen).await;
    assert_eq!(bounded(back.recv()).await, Received::Gap);
}

#[tokio::test]
async fn a_trimmed_position_on_a_backplane_is_a_gap_not_a_partial_replay() {
    let broker = Broker::new();
    let a = broker.node(1);
    let mut member = a.join("room");
    let _stays = a.join("room");
    a.publish("room", Message::text("0"));
    next_text(&mut member).await;
    let seen = member.position().unwrap();
    drop(member);
    for i in 1..10 {
        a.publish("room", Message::text(i.to_string()));
    }
    broker.trim("room", 3);
    let mut back = a.join_from("room", seen).await;
    assert_eq!(bounded(back.recv()).await, Received::Gap);
    a.publish("room", Message::text("live"));
    assert_eq!(next_text(&mut back).await, "live");
}

#[tokio::test]
async fn without_the_backplane_local_members_still_hear_each_other() {
    let broker = Broker::new();
    let (a, b) = (broker.node(1), broker.node(2));
    let mut on_a = a.join("room");
    let mut on_b = b.join("room");
    broker.state.lock().unwrap().unreachable = true;
    let published = a.publish("room", Message::text("here only"));
    assert_eq!((published.relayed, published.delivered), (false, 1));
    assert_eq!(next_text(&mut on_a).await, "here only");
    broker.state.lock().unwrap().unreachable = false;
    a.publish("room", Message::text("everywhere"));
    assert_eq!(next_text(&mut on_a).await, "everywhere");
    assert_eq!(next_text(&mut on_b).await, "everywhere");
}

#[tokio::test]
async fn all_rooms_together_keep_at_most_max_total_bytes() {
    let mut options = HistoryOptions::default();
    options.max_total_bytes = 2_000;
    let hub = Hub::builder().history(options).build();
    let hundred = |i: usize| Message::text(format!("{i:0>98}"));
    // Room "a" empties with a history a member may come back for.
    let mut a = hub.join("a");
    hub.publish("a", hundred(0));
    next_text(&mut a).await;
    let in_a = a.position().unwrap();
    hub.publish("a", hundred(1));
    drop(a);
    let mut back = hub.join_from("a", in_a).await;
    assert_eq!(next_text(&mut back).await, format!("{:0>98}", 1));
    drop(back);
    // Room "b" fills past the total: "a" forgets first, then "b" its oldest.
    let mut b = hub.join("b");
    let _stays = hub.join("b");
    hub.publish("b", hundred(0));
    next_text(&mut b).await;
    let first_in_b = b.position().unwrap();
    drop(b);
    for i in 1..40 {
        hub.publish("b", hundred(i));
    }
    let mut back_in_a = hub.join_from("a", in_a).await;
    assert_eq!(bounded(back_in_a.recv()).await, Received::Gap);
    let mut back_in_b = hub.join_from("b", first_in_b).await;
    assert_eq!(bounded(back_in_b.recv()).await, Received::Gap);
    // The newest messages of "b" are still there: 2,000 bytes hold more than 10.
    let recent = Position {
        offset: first_in_b.offset + 30,
        ..first_in_b
    };
    let mut recent_in_b = hub.join_from("b", recent).await;
    assert_eq!(
        texts(&mut recent_in_b, 9).await.last().unwrap(),
        &format!("{:0>98}", 39)
    );
}
