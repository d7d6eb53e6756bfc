//! Pub/sub between contexts in one process over loopback TCP: message types, queues,
//! multi-hop routing, closing.

mod common;

use std::time::Duration;

use common::{bind_any, link, wait_for};
use yoton::channels::pubsub::Batch;
use yoton::{Channel, Context, Discard, ErrorKind, MessageType, QueueParams, Status, Value};

const T: Option<Duration> = Some(Duration::from_secs(10));

#[test]
fn text_binary_object_and_custom_types_arrive_intact() {
    let (a, b) = (Context::new(), Context::new());
    link(&a, &b);
    let types = [
        MessageType::Text,
        MessageType::Binary,
        MessageType::Object,
        MessageType::Custom("num".into()),
    ];
    for t in types {
        let publ = Channel::publisher(&a, "data", t.clone()).unwrap();
        let sub = Channel::subscriber(&b, "data", t.clone()).unwrap();
        wait_for("nothing", || true);
        match t {
            MessageType::Text => publ.send("héllo 😀".as_bytes()).unwrap(),
            MessageType::Binary => publ.send(&[0, 1, 2, 255]).unwrap(),
            MessageType::Object => publ
                .send_value(&Value::Tuple(vec![
                    Value::Int(-1),
                    Value::Str("x".into()),
                    Value::List(vec![Value::None]),
                ]))
                .unwrap(),
            MessageType::Custom(_) => publ.send(b"3.25").unwrap(),
        }
        let m = sub.recv(T).unwrap();
        match t {
            MessageType::Text => assert_eq!(m.text().unwrap(), "héllo 😀"),
            MessageType::Binary => assert_eq!(m.data(), &[0, 1, 2, 255]),
            MessageType::Object => assert_eq!(m.value().unwrap().repr(), "(-1, 'x', [None])"),
            MessageType::Custom(_) => assert_eq!(m.data(), b"3.25"),
        }
        assert_eq!(m.source_id(), a.id());
    }
}

#[test]
fn different_types_on_the_same_base_do_not_mix() {
    let (a, b) = (Context::new(), Context::new());
    link(&a, &b);
    let text_pub = Channel::publisher(&a, "x", MessageType::Text).unwrap();
    let bin_sub = Channel::subscriber(&b, "x", MessageType::Binary).unwrap();
    let text_sub = Channel::subscriber(&b, "x", MessageType::Text).unwrap();
    text_pub.send(b"only text").unwrap();
    assert_eq!(text_sub.recv(T).unwrap().text().unwrap(), "only text");
    assert_eq!(bin_sub.pending(), 0);
}

#[test]
fn messages_keep_their_order_and_nothing_is_lost() {
    let (a, b) = (Context::new(), Context::new());
    link(&a, &b);
    let publ = Channel::publisher(&a, "seq", MessageType::Binary).unwrap();
    let sub = Channel::subscriber(&b, "seq", MessageType::Binary).unwrap();
    let n = 5000u32;
    for i in 0..n {
        publ.send(&i.to_le_bytes()).unwrap();
    }
    for i in 0..n {
        let m = sub.recv(T).unwrap();
        assert_eq!(m.data(), &i.to_le_bytes());
    }
    assert_eq!(a.discarded() + b.discarded(), 0);
}

#[test]
fn empty_messages_are_skipped_and_invalid_utf8_is_refused() {
    let (a, b) = (Context::new(), Context::new());
    let (_, cc) = link(&a, &b);
    let publ = Channel::publisher(&a, "t", MessageType::Text).unwrap();
    let sub = Channel::subscriber(&b, "t", MessageType::Text).unwrap();
    publ.send(b"").unwrap();
    assert_eq!(
        publ.send(&[0xff, 0xfe]).unwrap_err().kind(),
        ErrorKind::Encoding
    );
    publ.send(b"after").unwrap();
    assert_eq!(sub.recv(T).unwrap().text().unwrap(), "after");
    // The connection survived the empty send (it would read as a close package otherwise).
    assert!(cc.is_connected());
}

#[test]
fn recv_all_and_iteration_take_what_is_pending() {
    let (a, b) = (Context::new(), Context::new());
    link(&a, &b);
    let publ = Channel::publisher(&a, "it", MessageType::Text).unwrap();
    let sub = Channel::subscriber(&b, "it", MessageType::Text).unwrap();
    for i in 0..6 {
        publ.send(format!("{i}").as_bytes()).unwrap();
    }
    wait_for("six pending", || sub.pending() == 6);
    let first: Vec<String> = sub
        .try_iter()
        .take(2)
        .map(|m| m.text().unwrap().to_string())
        .collect();
    assert_eq!(first, ["0", "1"]);
    let rest: Vec<String> = sub
        .recv_all()
        .unwrap()
        .iter()
        .map(|m| m.text().unwrap().to_string())
        .collect();
    assert_eq!(rest, ["2", "3", "4", "5"]);
    assert_eq!(sub.try_iter().count(), 0);
    assert!(publ.recv_all().is_err());
}

/// Two linked contexts in loss-free mode with a tiny queue (100 packages), a BINARY publisher
/// on the first and a subscriber on the second, both on `name`.
fn loss_free_pair(name: &str) -> (Context, Context, Channel, Channel) {
    let (a, b) = (Context::new(), Context::new());
    let block = QueueParams {
        max_packages: 100,
        discard: Discard::Block,
        ..Default::default()
    };
    a.set_queue_params(block).unwrap();
    b.set_queue_params(block).unwrap();
    link(&a, &b);
    let publ = Channel::publisher(&a, name, MessageType::Binary).unwrap();
    let sub = Channel::subscriber(&b, name, MessageType::Binary).unwrap();
    (a, b, publ, sub)
}

/// Body `i` of the batch tests: a varying length (1..=300 bytes) and content.
fn batch_body(i: u32) -> Vec<u8> {
    let len = 1 + (i * 37 % 300) as usize;
    let mut body = i.to_le_bytes().repeat(len / 4 + 1);
    body.truncate(len);
    body
}

/// Split what one `recv_batch` wrote into its bodies.
fn split_batch<'a>(buf: &'a [u8], lens: &[usize]) -> Vec<&'a [u8]> {
    let mut start = 0;
    lens.iter()
        .map(|&len| {
            start += len;
            &buf[start - len..start]
        })
        .collect()
}

#[test]
fn recv_batch_takes_bodies_in_order_and_keeps_what_does_not_fit() {
    let (a, b) = (Context::new(), Context::new());
    link(&a, &b);
    let publ = Channel::publisher(&a, "batch", MessageType::Binary).unwrap();
    let sub = Channel::subscriber(&b, "batch", MessageType::Binary).unwrap();
    let n = 3000u32;
    let big = vec![7u8; 5000];
    for i in 0..n {
        publ.send(&batch_body(i)).unwrap();
        if i == n / 2 {
            publ.send(&big).unwrap();
        }
    }
    let (mut buf, mut lens, mut seqs) = (vec![0u8; 4096], vec![0usize; 64], vec![0u64; 64]);
    let (mut next, mut last_seq, mut big_seen, mut calls) = (0u32, 0u64, false, 0);
    while next < n {
        calls += 1;
        assert!(calls < 10 * n, "no progress");
        match sub
            .recv_batch(T, &mut buf, &mut lens, Some(&mut seqs))
            .unwrap()
        {
            Batch::Taken { count, bytes } => {
                assert!(count >= 1 && bytes <= buf.len());
                assert_eq!(lens[..count].iter().sum::<usize>(), bytes);
                for (k, body) in split_batch(&buf, &lens[..count]).into_iter().enumerate() {
                    assert!(seqs[k] > last_seq, "arrival numbers increase");
                    last_seq = seqs[k];
                    assert_eq!(body, batch_body(next), "message {next}");
                    next += 1;
                }
            }
            Batch::TooSmall { needed } => {
                // The big one is next: it stayed queued, and a buffer of its size takes it.
                assert_eq!((needed, next, big_seen), (big.len(), n / 2 + 1, false));
                let pending = sub.pending();
                let mut room = vec![0u8; needed];
                let got = sub.recv_batch(T, &mut room, &mut lens[..1], None).unwrap();
                assert_eq!(
                    got,
                    Batch::Taken {
                        count: 1,
                        bytes: needed
                    }
                );
                assert_eq!(room, big);
                assert_eq!(sub.pending(), pending - 1);
                big_seen = true;
            }
        }
    }
    assert!(big_seen);
    assert_eq!(a.discarded() + b.discarded(), 0);
    assert_eq!(
        sub.recv_batch(Some(Duration::ZERO), &mut buf, &mut lens, None)
            .unwrap_err()
            .kind(),
        ErrorKind::Timeout
    );
    // Bad arguments: no room for a message, too few sequence numbers, a publisher.
    assert_eq!(
        sub.recv_batch(T, &mut buf, &mut [], None)
            .unwrap_err()
            .kind(),
        ErrorKind::InvalidArgument
    );
    assert_eq!(
        sub.recv_batch(T, &mut buf, &mut lens, Some(&mut seqs[..1]))
            .unwrap_err()
            .kind(),
        ErrorKind::InvalidArgument
    );
    assert_eq!(
        publ.recv_batch(T, &mut buf, &mut lens, None)
            .unwrap_err()
            .kind(),
        ErrorKind::InvalidArgument
    );
}

#[test]
fn recv_batch_from_two_threads_takes_each_message_once() {
    use std::sync::atomic::{AtomicU32, Ordering};
    // Loss-free with a small queue: the readers' takes also resume the paused connection.
    let (a, b, publ, sub) = loss_free_pair("shared");
    let n = 20000u32;
    let taken = std::sync::Arc::new(AtomicU32::new(0));
    let readers: Vec<_> = (0..2)
        .map(|_| {
            let (sub, taken) = (sub.clone(), taken.clone());
            std::thread::spawn(move || {
                let (mut buf, mut lens) = (vec![0u8; 512], vec![0usize; 16]);
                let mut got = Vec::new();
                // Until the channel is closed and empty (closed below once all were taken).
                while let Ok(batch) = sub.recv_batch(T, &mut buf, &mut lens, None) {
                    let Batch::Taken { count, .. } = batch else {
                        panic!("4-byte bodies always fit");
                    };
                    for body in split_batch(&buf, &lens[..count]) {
                        got.push(u32::from_le_bytes(body.try_into().unwrap()));
                    }
                    taken.fetch_add(count as u32, Ordering::Relaxed);
                }
                got
            })
        })
        .collect();
    for i in 0..n {
        publ.send(&i.to_le_bytes()).unwrap();
    }
    wait_for("every message taken", || taken.load(Ordering::Relaxed) >= n);
    sub.close();
    let mut all = Vec::new();
    for reader in readers {
        let got = reader.join().unwrap();
        assert!(
            got.windows(2).all(|w| w[0] < w[1]),
            "each reader sees them in order"
        );
        all.extend(got);
    }
    all.sort_unstable();
    assert_eq!(
        all,
        (0..n).collect::<Vec<_>>(),
        "every message exactly once"
    );
    assert_eq!(a.discarded() + b.discarded(), 0);
}

#[test]
fn sync_mode_throttles_a_publisher_read_one_at_a_time_with_recv_batch() {
    let (a, b) = (Context::new(), Context::new());
    link(&a, &b);
    let publ = Channel::publisher(&a, "flow", MessageType::Text).unwrap();
    let sub = Channel::subscriber(&b, "flow", MessageType::Text).unwrap();
    sub.set_sync_mode(true).unwrap();
    // Start once a's routing has seen the subscriber's "ok" (as in tests/patterns.rs).
    let mark_sub = Channel::subscriber(&a, "flow-mark", MessageType::Text).unwrap();
    Channel::publisher(&b, "flow-mark", MessageType::Text)
        .unwrap()
        .send(b"synced")
        .unwrap();
    assert_eq!(mark_sub.recv(T).unwrap().text().unwrap(), "synced");
    let n = 20000;
    let sender = std::thread::spawn(move || {
        for i in 0..n {
            publ.send(format!("m{i}").as_bytes()).unwrap();
        }
    });
    let (mut buf, mut lens) = (vec![0u8; 64], [0usize; 1]);
    let mut peak = 0;
    for i in 0..n {
        peak = peak.max(sub.pending());
        let got = sub.recv_batch(T, &mut buf, &mut lens, None).unwrap();
        assert_eq!(
            got,
            Batch::Taken {
                count: 1,
                bytes: lens[0]
            }
        );
        assert_eq!(&buf[..lens[0]], format!("m{i}").as_bytes());
        if i % 100 == 0 {
            std::thread::sleep(Duration::from_millis(5)); // a slow subscriber
        }
    }
    sender.join().unwrap();
    assert_eq!(a.discarded() + b.discarded(), 0);
    assert!(
        peak < n / 2,
        "the publisher was not throttled: {peak} messages were pending at once"
    );
    sub.set_sync_mode(false).unwrap();
}

#[test]
fn recv_timeouts_and_closed_channels() {
    let a = Context::new();
    let sub = Channel::subscriber(&a, "none", MessageType::Text).unwrap();
    assert_eq!(
        sub.recv(Some(Duration::ZERO)).unwrap_err().kind(),
        ErrorKind::Timeout
    );
    assert_eq!(
        sub.recv(Some(Duration::from_millis(20)))
            .unwrap_err()
            .kind(),
        ErrorKind::Timeout
    );
    let sub2 = sub.clone();
    let waiter = std::thread::spawn(move || sub2.recv(None).unwrap_err().kind());
    std::thread::sleep(Duration::from_millis(50));
    sub.close();
    assert_eq!(waiter.join().unwrap(), ErrorKind::Closed);
    let publ = Channel::publisher(&a, "none", MessageType::Text).unwrap();
    publ.close();
    assert_eq!(publ.send(b"x").unwrap_err().kind(), ErrorKind::Closed);
    assert_eq!(
        sub.send(b"x").unwrap_err().kind(),
        ErrorKind::InvalidArgument
    );
}

#[test]
fn slot_collisions_are_refused_like_the_original() {
    let a = Context::new();
    let _p = Channel::publisher(&a, "same", MessageType::Text).unwrap();
    let err = Channel::publisher(&a, "SAME", MessageType::Text).unwrap_err();
    assert_eq!(err.kind(), ErrorKind::InvalidArgument);
    assert!(
        err.message().contains("Slot not free: SAME.txt.pub-sub"),
        "{}",
        err.message()
    );
    // A pub and a sub on the same base do not collide.
    let _s = Channel::subscriber(&a, "same", MessageType::Text).unwrap();
    // Once closed (or dropped), the slot is free again.
    _p.close();
    Channel::publisher(&a, "same", MessageType::Text).unwrap();
}

#[test]
fn packages_sent_before_connecting_go_to_the_first_connection() {
    let (a, b) = (Context::new(), Context::new());
    let publ = Channel::publisher(&a, "early", MessageType::Text).unwrap();
    publ.send(b"one").unwrap();
    publ.send(b"two").unwrap();
    assert_eq!(a.startup_queued(), 2);
    let sub = Channel::subscriber(&b, "early", MessageType::Text).unwrap();
    link(&a, &b);
    assert_eq!(sub.recv(T).unwrap().text().unwrap(), "one");
    assert_eq!(sub.recv(T).unwrap().text().unwrap(), "two");
    assert_eq!(a.startup_queued(), 0);
}

#[test]
fn startup_queue_discards_by_policy_and_counts() {
    let a = Context::new();
    a.set_queue_params(QueueParams {
        max_packages: 5,
        discard: Discard::New,
        ..Default::default()
    })
    .unwrap();
    let publ = Channel::publisher(&a, "q", MessageType::Text).unwrap();
    for i in 0..8 {
        publ.send(format!("m{i}").as_bytes()).unwrap();
    }
    assert_eq!(a.startup_queued(), 5);
    assert_eq!(a.discarded(), 3);
    assert!(a
        .set_queue_params(QueueParams {
            max_packages: 0,
            ..Default::default()
        })
        .is_err());
}

#[test]
fn a_router_context_forwards_between_hops_without_duplicates() {
    // a <-> r <-> b, and a ring a <-> r <-> b <-> a: each message arrives exactly once.
    let (a, r, b) = (Context::new(), Context::new(), Context::new());
    link(&r, &a);
    link(&r, &b);
    let publ = Channel::publisher(&a, "hop", MessageType::Text).unwrap();
    let sub = Channel::subscriber(&b, "hop", MessageType::Text).unwrap();
    let own_sub = Channel::subscriber(&a, "hop", MessageType::Text).unwrap();
    publ.send(b"via router").unwrap();
    assert_eq!(sub.recv(T).unwrap().text().unwrap(), "via router");
    link(&b, &a); // close the ring
    for i in 0..50 {
        publ.send(format!("r{i}").as_bytes()).unwrap();
    }
    for i in 0..50 {
        assert_eq!(sub.recv(T).unwrap().text().unwrap(), format!("r{i}"));
    }
    a.flush(Duration::from_secs(5)).unwrap();
    r.flush(Duration::from_secs(5)).unwrap();
    b.flush(Duration::from_secs(5)).unwrap();
    assert_eq!(
        sub.recv(Some(Duration::from_millis(200)))
            .unwrap_err()
            .kind(),
        ErrorKind::Timeout
    );
    // The originator never gets its own packages back round the loop (docs/protocol.md §13 #9).
    assert_eq!(own_sub.pending(), 0);
}

#[test]
fn close_is_seen_by_the_other_side_with_its_reason() {
    let (a, b) = (Context::new(), Context::new());
    let (hc, cc) = link(&a, &b);
    cc.close(Some("bye now"));
    assert_eq!(cc.status(), Status::Closed);
    assert_eq!(cc.close_reason().as_deref(), Some("bye now"));
    wait_for("the host side to close", || hc.status() == Status::Closed);
    assert_eq!(hc.close_reason().as_deref(), Some("Closed from other end."));
    assert_eq!(a.connection_count(), 0);
    // Closing again is a no-op and keeps the first reason.
    cc.close(None);
    assert_eq!(cc.close_reason().as_deref(), Some("bye now"));
}

#[test]
fn context_close_closes_connections_and_channels_and_the_context_stays_usable() {
    let (a, b) = (Context::new(), Context::new());
    let (hc, cc) = link(&a, &b);
    let sub = Channel::subscriber(&a, "c", MessageType::Text).unwrap();
    a.close();
    assert_eq!(hc.close_reason().as_deref(), Some("Closed by the context."));
    assert!(sub.is_closed());
    wait_for("the peer to see the close", || !cc.is_alive());
    link(&a, &b);
    assert_eq!(a.connection_count(), 1);
}

#[test]
fn connection_properties() {
    let (a, b) = (Context::new(), Context::new());
    let (hc, addr) = bind_any(&a);
    assert!(hc.is_waiting() && hc.is_alive() && !hc.is_connected());
    assert_eq!(a.connections_all().len(), 1);
    assert_eq!(a.connection_count(), 0);
    hc.set_name("kernel");
    let cc = b
        .connect(&addr, Duration::from_secs(5), Some("to-a"))
        .unwrap();
    wait_for("hosting", || hc.status() == Status::Hosting);
    assert_eq!(cc.status(), Status::Connected);
    assert_eq!((hc.id1(), hc.id2()), (a.id(), b.id()));
    assert_eq!((cc.id1(), cc.id2()), (b.id(), a.id()));
    assert_eq!(hc.pid2(), std::process::id() as u64);
    assert_eq!(cc.port2(), hc.port1());
    assert_eq!(hc.port2(), cc.port1());
    assert_eq!(hc.hostname1(), "127.0.0.1");
    assert!(a.connection_by_name("kernel").unwrap().same_as(&hc));
    assert!(b.connection_by_name("to-a").unwrap().same_as(&cc));
    assert!(a.connection_by_name("nope").is_none());
    assert_eq!(hc.timeout(), 0.5);
    assert!(hc.set_timeout(0.4).is_err());
    assert!(hc.set_timeout(f64::NAN).is_err());
    hc.set_timeout(2.0).unwrap();
    assert_eq!(hc.timeout(), 2.0);
    hc.flush(Duration::from_secs(5)).unwrap();
    // Heartbeats keep an idle link from timing out.
    std::thread::sleep(Duration::from_millis(800));
    assert!(!cc.is_timedout());
}

#[test]
fn big_messages_pass_through() {
    let (a, b) = (Context::new(), Context::new());
    link(&a, &b);
    let publ = Channel::publisher(&a, "big", MessageType::Binary).unwrap();
    let sub = Channel::subscriber(&b, "big", MessageType::Binary).unwrap();
    let big: Vec<u8> = (0..10 * 1024 * 1024 + 7).map(|i| (i % 251) as u8).collect();
    publ.send(&big).unwrap();
    publ.send(b"x").unwrap();
    assert!(sub.recv(T).unwrap().data() == &big[..]);
    assert_eq!(sub.recv(T).unwrap().data(), b"x");
}

#[test]
fn sends_above_the_maximum_message_size_are_refused() {
    let a = Context::new();
    a.set_max_message_size(1024).unwrap();
    let publ = Channel::publisher(&a, "m", MessageType::Binary).unwrap();
    assert_eq!(
        publ.send(&[0; 1025]).unwrap_err().kind(),
        ErrorKind::TooLarge
    );
    publ.send(&[0; 1024]).unwrap();
    assert!(a.set_max_message_size(0).is_err());
    assert!(
        a.set_max_message_size(1023).is_err(),
        "protocol traffic must always fit"
    );
}

#[test]
fn discard_block_is_loss_free_with_a_tiny_queue_and_a_slow_reader() {
    let (a, b, publ, sub) = loss_free_pair("lossless");
    let n = 20_000u32;
    let sender = std::thread::spawn(move || {
        for i in 0..n {
            publ.send(&i.to_le_bytes()).unwrap();
        }
    });
    let mut peak = 0;
    for i in 0..n {
        peak = peak.max(sub.pending());
        assert_eq!(sub.recv(T).unwrap().data(), &i.to_le_bytes());
        if i % 1000 == 0 {
            std::thread::sleep(Duration::from_millis(20)); // a slow reader
        }
    }
    sender.join().unwrap();
    assert_eq!(a.discarded() + b.discarded(), 0);
    // The queue limit holds, give or take one receive batch.
    assert!(peak < 100 + 5000, "peak {peak}");
}

#[test]
fn discard_block_send_times_out_when_the_peer_never_reads() {
    let a = Context::new();
    a.set_queue_params(QueueParams {
        discard: Discard::Block,
        ..Default::default()
    })
    .unwrap();
    let (conn, addr) = bind_any(&a);
    // A raw client that completes the handshake and then never reads.
    let mut raw = std::net::TcpStream::connect(&addr).unwrap();
    use std::io::{Read, Write};
    raw.write_all(yoton::protocol::handshake::encode_line(42, 1).as_bytes())
        .unwrap();
    let mut line = [0u8; 30];
    raw.read_exact(&mut line[..29]).unwrap();
    wait_for("hosting", || conn.is_connected());
    let publ = Channel::publisher(&a, "stuck", MessageType::Binary).unwrap();
    let chunk = vec![0u8; 1 << 20];
    let mut refused = None;
    for i in 0..200 {
        if let Err(e) = publ.send(&chunk) {
            refused = Some((i, e.kind()));
            break;
        }
    }
    let (after, kind) = refused.expect("sends must eventually be refused");
    assert_eq!(kind, ErrorKind::Timeout);
    assert!(
        after >= 2,
        "the out-queue takes its soft limit (2 MiB) first ({after})"
    );
    assert_eq!(a.discarded(), 0);
}

#[test]
fn zero_copy_sends_arrive_and_release_the_buffer_once_written() {
    let (a, b) = (Context::new(), Context::new());
    link(&a, &b);
    link(&a, &Context::new()); // a second connection shares the same buffer
    let publ = Channel::publisher(&a, "zc", MessageType::Binary).unwrap();
    let sub = Channel::subscriber(&b, "zc", MessageType::Binary).unwrap();
    let big: std::sync::Arc<Vec<u8>> =
        std::sync::Arc::new((0..3_000_000u32).map(|i| (i % 253) as u8).collect());
    publ.send_shared(big.clone()).unwrap();
    assert!(sub.recv(T).unwrap().data() == &big[..]);
    a.flush(Duration::from_secs(5)).unwrap();
    wait_for("yoton to release the buffer", || {
        std::sync::Arc::strong_count(&big) == 1
    });
    // Checked like send: a TEXT channel refuses invalid UTF-8 and releases the buffer at once.
    let text = Channel::publisher(&a, "zt", MessageType::Text).unwrap();
    let bad: std::sync::Arc<Vec<u8>> = std::sync::Arc::new(vec![0xff]);
    assert_eq!(
        text.send_shared(bad.clone()).unwrap_err().kind(),
        ErrorKind::Encoding
    );
    assert_eq!(std::sync::Arc::strong_count(&bad), 1);
}

#[test]
fn route_observer_sees_each_routed_package_once_with_its_header() {
    // a - m - b: m routes a's publications to b; its observer sees each once, after dedupe.
    let (a, m, b) = (Context::new(), Context::new(), Context::new());
    let seen = std::sync::Arc::new(parking_lot::Mutex::new(Vec::new()));
    let sink = seen.clone();
    m.set_route_observer(Some(std::sync::Arc::new(
        move |r: &yoton::RoutedPackage| {
            sink.lock().push(r.clone());
        },
    )));
    link(&m, &a);
    link(&m, &b);
    let publ = Channel::publisher(&a, "watched", MessageType::Text).unwrap();
    let sub = Channel::subscriber(&b, "watched", MessageType::Text).unwrap();
    publ.send(b"one").unwrap();
    publ.send(b"two").unwrap();
    assert_eq!(sub.recv(T).unwrap().text().unwrap(), "one");
    assert_eq!(sub.recv(T).unwrap().text().unwrap(), "two");
    let slot = yoton::protocol::hash::slot_of("watched.txt.pub-sub");
    wait_for("the observer saw both", || {
        seen.lock()
            .iter()
            .filter(|r| r.package.slot() == slot)
            .count()
            >= 2
    });
    let ours: Vec<_> = seen
        .lock()
        .iter()
        .filter(|r| r.package.slot() == slot)
        .cloned()
        .collect();
    assert_eq!(ours.len(), 2, "each package once");
    assert_eq!(ours[0].package.body(), b"one");
    assert_eq!(ours[1].package.body(), b"two");
    for r in &ours {
        assert_eq!(r.package.source_id(), a.id());
        assert_eq!(r.from_peer, a.id());
        assert!(
            r.delivered,
            "a broadcast is delivered (no local channel took it)"
        );
        assert_eq!(r.forwarded_to, 1, "forwarded to b");
    }
    assert!(ours[1].package.source_seq() > ours[0].package.source_seq());
    // Removed: nothing more is recorded.
    m.set_route_observer(None);
    let before = seen.lock().len();
    publ.send(b"three").unwrap();
    assert_eq!(sub.recv(T).unwrap().text().unwrap(), "three");
    assert_eq!(seen.lock().len(), before);
}
